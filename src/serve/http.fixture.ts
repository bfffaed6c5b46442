/** One HTTP call to a running service, as the service tests make it: the status, the body as text and as JSON (null when not JSON). */
export interface CallResult {
  status: number;
  /** The body parsed as JSON; null when it is not JSON (metrics, plain text). */
  json: any;
  text: string;
  headers: Headers;
  /** The content type ('' when none). */
  type: string;
}

export interface CallOptions {
  /** A value sent as JSON. */
  body?: unknown;
  /** A body sent as it is (no content type added), for malformed-input tests. */
  raw?: string;
  /** A bearer token (an authorization header in `headers` wins). */
  key?: string | null;
  headers?: Record<string, string>;
}

/**
 * `method url` with `o`; a kept-alive connection the server closed as it was reused (its idle timeout)
 * is retried once on a new one, so a slow test does not fail on a stale socket.
 * @example const r = await httpCall(`${server.url}/v1/items`, 'GET', { key: 'k' }); r.status // 200
 */
export async function httpCall(url: string, method: string, o: CallOptions = {}): Promise<CallResult> {
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  const has = (name: string) => Object.keys(headers).some((h) => h.toLowerCase() === name);
  if (o.key && !has('authorization')) headers.authorization = `Bearer ${o.key}`;
  const payload = o.body !== undefined ? JSON.stringify(o.body) : o.raw;
  if (o.body !== undefined && !has('content-type')) headers['content-type'] = 'application/json';
  const send = () => fetch(url, { method, headers, body: payload });
  let res: Response;
  try {
    res = await send();
  } catch (err) {
    if ((err as { cause?: { code?: string } }).cause?.code !== 'UND_ERR_SOCKET') throw err;
    res = await send();
  }
  const text = await res.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, json, text, headers: res.headers, type: res.headers.get('content-type') ?? '' };
}
