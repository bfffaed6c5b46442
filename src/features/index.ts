// Public surface of the features layer; filled in as the layer grows.
export {};
