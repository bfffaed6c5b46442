// Public surface of the vectors layer; filled in as the layer grows.
export {};
