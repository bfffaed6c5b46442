// Public surface of the serve layer; filled in as the layer grows.
export {};
