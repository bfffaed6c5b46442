// Public surface of the evaluation layer; filled in as the layer grows.
export {};
