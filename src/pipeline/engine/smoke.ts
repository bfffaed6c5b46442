/**
 * The smoke check: a few real requests through an Engine before it serves (a known user, a new user,
 * an anonymous user with a recent item, similar items), refusing a model whose answers are not finite.
 * A model directory can pass every checksum and still be wrong (trained on bad data, or a stage that
 * divides by zero on some input); this is what the service runs before it swaps a model in, and again
 * when stages start failing, to say whether the model can answer (`/readyz`).
 */
import type { Engine, RecommendResult } from './engine.ts';

/** The check's requests, by a stable name. */
export type SmokeRequest = 'known user' | 'new user' | 'anonymous user' | 'similar items';

export interface SmokeResult {
  ok: boolean;
  /** What went wrong, one line per request (`known user '42': item 3 scored NaN`). */
  problems: string[];
  /** Requests run. */
  requests: number;
  /** Items each request answered (0 for one that failed). */
  answered: Partial<Record<SmokeRequest, number>>;
}

/** The id the check asks for as its new user (never a real one: nothing is stored for it). */
export const SMOKE_NEW_USER = '\u0000tandem-smoke-check';

/**
 * Runs the check. `mustAnswer`: requests for which no items is a problem too (readiness: those that
 * answered when the model was loaded must still answer; a model may by design have nothing for some,
 * say a new user without fallbacks).
 * @example const r = smokeCheck(engine); if (!r.ok) throw new Error(r.problems.join('; '))
 */
export function smokeCheck(engine: Engine, opts: { mustAnswer?: ReadonlySet<SmokeRequest> } = {}): SmokeResult {
  const problems: string[] = [];
  const answered: SmokeResult['answered'] = {};
  let requests = 0;
  const run = (name: SmokeRequest, what: string, call: () => RecommendResult): void => {
    requests++;
    answered[name] = 0;
    let r: RecommendResult;
    try {
      r = call();
    } catch (err) {
      problems.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    answered[name] = r.items.length;
    if (opts.mustAnswer?.has(name) && r.items.length === 0) problems.push(`${what}: no items (it had some when the model was loaded)`);
    r.items.forEach((it, i) => {
      if (!Number.isFinite(it.score)) problems.push(`${what}: item ${i} ('${it.id}') scored ${it.score}`);
    });
  };
  const [user] = engine.activeUsers(1);
  const [item] = engine.popularItems(1).map((p) => p.id);
  if (user !== undefined) run('known user', `known user '${user}'`, () => engine.recommend({ user, k: 10 }));
  const features = user !== undefined ? engine.userFeatures(user) : null;
  run('new user', 'a new user', () => engine.recommend({ user: SMOKE_NEW_USER, features, k: 10 }));
  if (item !== undefined) {
    run('anonymous user', `an anonymous user with item '${item}'`, () => engine.recommend({ recent: [item], features, k: 10 }));
    run('similar items', `items similar to '${item}'`, () => engine.similarItems(item, { k: 10 }));
  }
  return { ok: problems.length === 0, problems, requests, answered };
}
