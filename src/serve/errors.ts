/**
 * Errors of the HTTP service: each class carries its HTTP status and a stable code, and one error
 * handler (app.ts) turns any of them into `{"error": {"code", "message", "field"?}}`.
 */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The request field at fault (`events[3].item`, `k`, `body`), when there is one. */
    readonly field?: string,
  ) {
    super(message);
  }

  toJSON(): { error: { code: string; message: string; field?: string } } {
    return { error: { code: this.code, message: this.message, ...(this.field !== undefined ? { field: this.field } : {}) } };
  }
}

/** 400: the request is malformed or a field is invalid. */
export class BadRequestError extends HttpError {
  constructor(message: string, field?: string) {
    super(400, 'bad_request', message, field);
  }
}

/** 401: a write or admin route without the right API key. */
export class UnauthorizedError extends HttpError {
  constructor() {
    super(401, 'unauthorized', 'this route needs the API key (header "Authorization: Bearer KEY" or "x-api-key: KEY")');
  }
}

/** 404: no such route, user or item. */
export class NotFoundError extends HttpError {
  constructor(message: string) {
    super(404, 'not_found', message);
  }
}

/** 409: a reload is already running. */
export class ConflictError extends HttpError {
  constructor(message: string) {
    super(409, 'conflict', message);
  }
}

/** 422: a model directory that cannot be served (the old model keeps serving). */
export class UnprocessableError extends HttpError {
  constructor(message: string) {
    super(422, 'model_refused', message);
  }
}

/** 503: no model is loaded yet. */
export class UnavailableError extends HttpError {
  constructor(message: string) {
    super(503, 'unavailable', message);
  }
}
