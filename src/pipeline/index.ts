// Public surface of the pipeline layer; filled in as the layer grows.
export {};
export * from './engine/index.ts';
