/**
 * Backend options: one schema per backend (src/schema), given in code, in the URL's query, or both
 * (code wins). A mistake is a StoreError naming the option, as `opts.pollMs` in code or as the URL
 * parameter, never quoting the URL itself (it may carry a password).
 */
import { safeCheck, unknownMessage, type Infer, type Schema } from '../schema/index.ts';
import { StoreError } from './types.ts';

/**
 * Checks `opts` (code) and `params` (text from a URL's query) against `sc`; returns the options with
 * defaults filled in, the code's values taking precedence over the URL's.
 * @example backendOptions(PG_OPTIONS, { pollMs: 100 }, { schema: 'shop' }, 'a postgres URL')
 */
export function backendOptions<S extends Schema>(sc: S, opts: object | undefined, params: Record<string, string>, urlWhat: string): Infer<S> {
  const given: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(opts ?? {})) if (v !== undefined) given[k] = v;
  const fromCode = safeCheck(sc, given);
  if (!fromCode.ok) {
    const p = fromCode.problems[0];
    throw new StoreError('invalid', p.message, `opts.${p.path}`);
  }
  const fromUrl = safeCheck(sc, params, { coerce: true });
  if (!fromUrl.ok) {
    const p = fromUrl.problems[0];
    throw new StoreError('url', `${urlWhat}: parameter '${p.path}': ${p.message}`, 'url');
  }
  const out = { ...fromUrl.value } as Record<string, unknown>;
  for (const k of Object.keys(given)) out[k] = (fromCode.value as Record<string, unknown>)[k];
  return out as Infer<S>;
}

/** The query parameters of `url` that `sc` does not define and `passThrough` does not list: refused, named. */
export function refuseUnknownParams(url: URL, sc: Schema, passThrough: readonly string[], urlWhat: string): void {
  const known = [...Object.keys(sc), ...passThrough];
  for (const k of url.searchParams.keys()) {
    if (!known.includes(k)) throw new StoreError('url', `${urlWhat}: parameter '${k}': ${unknownMessage(k, known)}`, 'url');
  }
}

/**
 * A URL as errors and logs may show it: scheme, user, host, port and path, never the password or the query.
 * @example redactUrl(new URL('postgres://app:s3cret@db:5432/shop?sslmode=require')) // 'postgres://app@db:5432/shop'
 */
export function redactUrl(url: URL): string {
  const user = url.username ? `${decodeURIComponent(url.username)}@` : '';
  const port = url.port ? `:${url.port}` : '';
  return `${url.protocol}//${user}${url.hostname}${port}${url.pathname}`;
}
