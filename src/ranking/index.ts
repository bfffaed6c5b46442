// Public surface of the ranking layer; filled in as the layer grows.
export {};
