/** Errors the online Recommender raises for bad requests; the serve layer maps them to HTTP statuses. */

/** A request field that is wrong: `field` is its path (`events[3].item`, `features.age`, `k`). */
export class EngineInputError extends Error {
  override name = 'EngineInputError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** A user or item id the model does not have (or an item that was deleted). */
export class UnknownEntityError extends Error {
  override name = 'UnknownEntityError';
  constructor(
    readonly entity: 'item' | 'user',
    readonly id: string,
  ) {
    super(`unknown ${entity} '${id}'`);
  }
}
