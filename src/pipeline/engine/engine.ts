/**
 * The one engine: a fitted or loaded model answering requests. `tandem evaluate` scores exactly this
 * request path, `tandem serve` and `tandem recommend` run it, the dashboard reads it, and the ranker's
 * training rows come from it. A request:
 *
 *   history (the model's + live events) ─► query (latest maxHistory items the stages know) + exclusions
 *     ─► every source's candidates ─► one merge (RRF; each candidate keeps every source's score and rank)
 *     ─► ranker features + ranker model (when the user has a history) ─► business rules (filters, value,
 *     boosts, diversity) ─► top k, then fallback stages (segments, content, popularity) when short.
 *
 * Single-threaded by design (Node's event loop): each call runs to completion synchronously, so the
 * scratch buffers are never shared by two requests. An Engine owns its Model: live upserts grow the
 * model's item vocabulary, so never give one Model to two Engines.
 */
import { MAX_TIMESTAMP, type Dataset, type UserQuery } from '../../data/index.ts';
import { checkFeatureRow, copyBlock, tableRow, UnknownEntityError, type CandidateBlock, type FeatureRow, type ItemCatalog } from '../../features/index.ts';
import { BUSINESS_PARAMS, BusinessLayer, type Adjustment, type Contribution, type Ranker } from '../../ranking/index.ts';
import { CandidateMerger, type CandidateSource, type SegmentsSource } from '../../retrieval/index.ts';
import { check, InputError } from '../../schema/index.ts';
import type { LogEntry } from '../../store/index.ts';
import type { EngineConfig } from './config.ts';
import type { ModelManifest } from './model-dir.ts';

/** A model in memory: what `fitEngine` and `readModelDir` give, and `writeModelDir` takes. */
export interface Model {
  manifest: ModelManifest;
  /** The tables and the training interactions (the users' histories). */
  dataset: Dataset;
  catalog: ItemCatalog;
  /** One per stage: the config's sources, then its fallbacks. */
  stages: CandidateSource[];
  ranker: Ranker | null;
}

/** One event as the live state holds it (item and type by name). */
export interface LiveEventInput {
  item: string;
  type: string;
  value: number;
  timestamp: number;
}

/** What the live state knows of a user since the model was trained (the store's LiveUser has this shape). */
export interface LiveUserInput {
  /** Oldest first. */
  events: readonly LiveEventInput[];
  features: Record<string, unknown> | null;
}

export interface RecommendRequest {
  /** External user id: known to the model or not. */
  user?: string;
  /** An anonymous request's recent items, oldest first (each must exist). */
  recent?: readonly string[];
  /** Feature row of the request (checked against the user schema); overrides the user's stored features. */
  features?: FeatureRow | null;
  /** The user's live events and features (from the live state). */
  live?: LiveUserInput | null;
  /** How many items (1..maxK, default 10). */
  k?: number;
  /** External item ids never to return. */
  exclude?: readonly string[];
  /** Only items whose category feature holds this value. */
  category?: string | null;
  /** false: the fused L1 order (the dashboard's L1 view); business rules still apply. Default true. */
  ranker?: boolean;
  /** false: skip building explanations (the evaluation's bulk scoring). Default true. */
  explain?: boolean;
}

/** Why an item was recommended, as data (the text is made from it). */
export interface Explanation {
  /** The sources that retrieved it and their 1-based ranks, best first. */
  foundBy: { source: string; rank: number }[];
  /** The ranker features that raised its score most. */
  rankedUpBy: Contribution[];
  /** Business rules that changed its score (boosts, value blend). */
  adjustments: Adjustment[];
  /** Set when a fallback stage supplied it: why. */
  fallback: string | null;
  text: string;
}

export interface RecommendedItem {
  id: string;
  score: number;
  /** The stage that ranked the item best, or the fallback that supplied it. */
  source: string;
  explanation: Explanation;
}

export type Strategy = 'personal' | 'features' | 'popularity' | 'similar' | 'content';

export interface RecommendResult {
  strategy: Strategy;
  items: RecommendedItem[];
}

/** An event as a client sends it; type, timestamp (seconds) and value are optional. */
export interface EventInput {
  user: string;
  item: string;
  type?: string;
  timestamp?: number;
  value?: number;
}

/** An event checked against the model, ready for the log. */
export interface CheckedEvent {
  user: string;
  item: string;
  itemIndex: number;
  type: string;
  typeIndex: number;
  value: number;
  timestamp: number;
}

/** Latest accepted event time: the data loader's own bound (dates after 2099 are refused), one rule for both. */
export const MAX_EVENT_TIMESTAMP = MAX_TIMESTAMP;

export interface EngineOptions {
  /** Largest k a request may ask for (default 100). */
  maxK?: number;
  /** Clock in seconds, for default event timestamps. */
  now?: () => number;
  /** Overrides the manifest's L1 -> L2 candidate count (`tandem serve --candidates`). */
  candidates?: number;
  /**
   * Serving: a stage (source, fallback or ranker) that throws, or answers scores that are not finite,
   * is left out of that request and reported here; the request is answered by the others. Without it
   * (training, evaluation) the error propagates.
   */
  onStageError?: (stage: string, err: unknown) => void;
  /**
   * Business rules over the manifest's: the given fields replace its (checked against the business
   * schema; an experiment's arm varies boosts, filters, value or diversity this way).
   */
  business?: Record<string, unknown>;
}

/** Everything one request went through, for the dashboard and the train/serve parity test. */
export interface RequestTrace {
  query: UserQuery;
  /** The merged candidates (a copy). */
  candidates: CandidateBlock;
  /** The ranker's feature rows of the candidates (count x featureNames.length), or null without a ranker. */
  rows: Float32Array | null;
  featureNames: readonly string[];
  /** The ranker's scores of the candidates, or null. */
  rankerScores: Float64Array | null;
  result: RecommendResult;
}

interface Prepared {
  query: UserQuery;
  exclude: Set<number>;
  allow: Uint8Array | undefined;
  features: FeatureRow | null;
  /** The user's whole history held items (trained or live) before the stages' cut. */
  historyLength: number;
}

interface Stage {
  name: string;
  kind: string;
  source: CandidateSource;
  personalized: boolean;
}

const round = (x: number): number => Math.round(x * 1e6) / 1e6;

/**
 * @example const engine = new Engine(await readModelDir(dir, registry)); engine.recommend({ user: '42', k: 10 })
 */
export class Engine {
  readonly manifest: ModelManifest;
  readonly modelVersion: string;
  readonly config: EngineConfig;
  readonly maxK: number;
  readonly dataset: Dataset;
  readonly catalog: ItemCatalog;
  readonly business: BusinessLayer;
  readonly candidateCount: number;
  private readonly sources: Stage[];
  private readonly fallbacks: Stage[];
  private readonly merger: CandidateMerger;
  private readonly ranker: Ranker | null;
  private readonly now: () => number;
  private readonly onStageError: ((stage: string, err: unknown) => void) | undefined;
  private readonly eventWeight: Float32Array;
  private readonly userIndex: { offsets: Int32Array; rows: Int32Array };
  private readonly trainedItems: number;
  private hist = { n: 0, items: new Int32Array(256), weights: new Float32Array(256), timestamps: new Float64Array(256) };
  private eventsApplied = 0;
  /** The last log entry applied to this engine's in-process state (catalog, counters); 0 initially. */
  private logPosition = 0;
  private replaySkipped = 0;
  private readonly model: Model;
  private readonly opts: EngineOptions;
  /** Engines `variant` made over this one's model: catalog changes applied here refresh their rules too. */
  private readonly variants: Engine[] = [];

  constructor(model: Model, opts: EngineOptions = {}) {
    this.model = model;
    this.opts = opts;
    this.manifest = model.manifest;
    this.modelVersion = model.manifest.modelVersion;
    this.config = model.manifest.config;
    this.dataset = model.dataset;
    this.catalog = model.catalog;
    this.ranker = model.ranker;
    this.maxK = opts.maxK ?? 100;
    this.now = opts.now ?? (() => Date.now() / 1000);
    this.onStageError = opts.onStageError;
    this.candidateCount = opts.candidates ?? this.config.candidates;
    if (!(Number.isInteger(this.candidateCount) && this.candidateCount >= 1)) throw new InputError('candidates', `must be an integer >= 1, got ${this.candidateCount}`);
    const c = this.config;
    if (model.stages.length !== c.sources.length + c.fallbacks.length) throw new Error(`engine: the model holds ${model.stages.length} stages, its configuration ${c.sources.length + c.fallbacks.length}`);
    const stage = (s: EngineConfig['sources'][number], i: number): Stage => ({ name: s.name!, kind: s.kind, source: model.stages[i], personalized: model.manifest.stages[i]?.personalized ?? true });
    this.sources = c.sources.map((s, i) => stage(s, i));
    this.fallbacks = c.fallbacks.map((s, i) => stage(s, c.sources.length + i));
    this.merger = new CandidateMerger(
      this.sources.map((s, i) => {
        const n = c.sources[i].candidates;
        return { source: s.source, name: s.name, n: n === null ? this.candidateCount : n, weight: c.sources[i].weight, personalized: s.personalized };
      }),
      opts.onStageError,
    );
    this.business = new BusinessLayer(this.catalog, opts.business ? check(BUSINESS_PARAMS, { ...c.business, ...opts.business }, { path: 'business' }) : c.business);
    this.eventWeight = Float32Array.from(this.dataset.eventTypes, (e) => (e.negative ? -e.weight : e.weight));
    this.userIndex = this.dataset.byUser();
    this.trainedItems = this.catalog.trained;
  }

  /**
   * An engine over the same model (stages, catalog, ranker: nothing copied) with other options, e.g.
   * another candidate count or business rules. Keep feeding the log to this engine: the catalog changes it
   * applies refresh the variants' business rules as well.
   * @example const noBoosts = engine.variant({ business: { boosts: [] } })
   */
  variant(opts: Pick<EngineOptions, 'candidates' | 'business'>): Engine {
    const v = new Engine(this.model, { ...this.opts, ...opts, business: opts.business ? { ...this.opts.business, ...opts.business } : this.opts.business });
    this.variants.push(v);
    return v;
  }

  /** The fitted source of stage `name` (a source or a fallback), or undefined. */
  source(name: string): CandidateSource | undefined {
    return [...this.sources, ...this.fallbacks].find((s) => s.name === name)?.source;
  }

  /** The candidate sources' names, in ranker-feature column order. */
  get sourceNames(): string[] {
    return this.sources.map((s) => s.name);
  }

  get hasRanker(): boolean {
    return this.ranker !== null;
  }

  /** The ranker's feature names (empty without a ranker). */
  get featureNames(): readonly string[] {
    return this.ranker?.featureNames ?? [];
  }

  // ---------------------------------------------------------------- requests

  /**
   * Recommendations for a user (known or new) or an anonymous request.
   * @example engine.recommend({ user: '42', k: 10, exclude: ['50'], category: 'Comedy' })
   */
  recommend(req: RecommendRequest): RecommendResult {
    return this.run(req).result;
  }

  /** `recommend` with every intermediate step kept (a copy): the dashboard's views and the parity test. */
  trace(req: RecommendRequest): RequestTrace {
    return this.run(req, true) as RequestTrace;
  }

  /**
   * Items similar to item `itemId`: the personalised sources queried with that one item, else items
   * sharing its feature values (the content fallback).
   * @example engine.similarItems('7', { k: 10 })
   */
  similarItems(itemId: string, opts: { k?: number; category?: string | null; exclude?: readonly string[]; explain?: boolean } = {}): RecommendResult {
    const k = this.checkK(opts.k);
    const item = this.catalog.index(itemId);
    if (!this.catalog.isLive(item)) throw new UnknownEntityError('item', itemId);
    const exclude = this.excludeIndices(opts.exclude);
    exclude.add(item);
    const query: UserQuery = { user: -1, history: Int32Array.of(item), weights: Float32Array.of(1), timestamps: Float64Array.of(this.now()) };
    const p: Prepared = { query, exclude, allow: this.allowMask(opts.category), features: null, historyLength: 1 };
    return this.answer(p, k, { ranker: false, explain: opts.explain ?? true, similar: true }).result;
  }

  /** The prepared request of `req`: the query the stages see, the exclusions, the category mask, the features. */
  private prepare(req: RecommendRequest): Prepared {
    const uid = req.user;
    if (uid !== undefined && (typeof uid !== 'string' || uid === '')) throw new InputError('user', 'must be a non-empty string');
    const index = uid !== undefined ? this.dataset.users.ids.get(uid) : -1;
    const h = this.buildHistory(index, req.live?.events ?? [], req.recent ?? []);
    let features: FeatureRow | null = null;
    if (req.features) features = checkFeatureRow(req.features, this.dataset.users.specs(), 'features');
    else if (req.live?.features) features = checkFeatureRow(req.live.features, this.dataset.users.specs(), 'features');
    else if (index >= 0) features = tableRow(this.dataset.users, index);
    const exclude = this.business.exclusions(h.items.subarray(0, h.n), this.excludeIndices(req.exclude));
    // the stages only know trained items; newer ones stay in the history for exclusion alone
    const max = this.config.maxHistory;
    let n = 0;
    let from = h.n;
    while (from > 0 && n < max) if (h.items[--from] < this.trainedItems) n++;
    const query: UserQuery = { user: index, history: new Int32Array(n), weights: new Float32Array(n), timestamps: new Float64Array(n) };
    let j = 0;
    for (let i = from; i < h.n; i++) {
      if (h.items[i] >= this.trainedItems) continue;
      query.history[j] = h.items[i];
      query.weights![j] = h.weights[i];
      query.timestamps![j++] = h.timestamps[i];
    }
    return { query, exclude, allow: this.allowMask(req.category), features, historyLength: h.n };
  }

  /**
   * The merged candidates of a known user's request at the model's data (no live state): the ranker's
   * training rows are built from exactly this call (`fitEngine`), serving makes the same one.
   */
  candidatesFor(userIndex: number): { query: UserQuery; block: CandidateBlock } {
    const uid = this.dataset.users.ids.values[userIndex];
    const p = this.prepare({ user: uid });
    // k 0: each source's configured count, what every request with k <= candidates asks
    return { query: p.query, block: this.merge(p, 0, false) };
  }

  private merge(p: Prepared, k: number, similar: boolean): CandidateBlock {
    return this.merger.merge(p.query, {
      exclude: p.exclude,
      allow: p.allow,
      features: p.features,
      isLive: this.catalog.deletedItems > 0 ? (it) => this.catalog.isLive(it) : undefined,
      extra: Math.min(this.catalog.deletedItems, 64),
      atLeast: k,
      personalizedOnly: similar,
    });
  }

  private run(req: RecommendRequest, trace = false): { result: RecommendResult } | RequestTrace {
    const k = this.checkK(req.k);
    const p = this.prepare(req);
    return this.answer(p, k, { ranker: req.ranker ?? true, explain: req.explain ?? true, similar: false }, trace);
  }

  private answer(p: Prepared, k: number, o: { ranker: boolean; explain: boolean; similar: boolean }, trace = false): { result: RecommendResult } | RequestTrace {
    const block = this.merge(p, k, o.similar);
    // the ranker learned on users with a history: others keep the fused L1 order
    const useRanker = this.ranker !== null && o.ranker && !o.similar && p.query.history.length > 0 && block.count > 0;
    let rows: Float32Array | null = null;
    let rankerScores: Float64Array | null = null;
    let scores: ArrayLike<number> = block.fused;
    if (useRanker) {
      rankerScores = this.guard('ranker', () => this.ranker!.rank(p.query, block));
      // a failing ranker: the fused L1 order answers
      if (rankerScores) {
        scores = rankerScores;
        if (trace) rows = this.ranker!.rows(p.query, block).slice();
      }
    }
    const { order, scores: final } = this.business.select(block.items, block.count, scores, block.position, k);
    const items: RecommendedItem[] = [];
    const S = block.sources.length;
    // the ranker's attributions of the k answered, in one pass (the DCN batches them)
    const rankedUpBy = o.explain && rankerScores !== null ? this.ranker!.explainMany(Array.from(order)) : null;
    for (let i = 0; i < order.length; i++) {
      const c = order[i];
      const it = block.items[c];
      items.push({ id: this.catalog.id(it), score: round(final[i]), source: block.sources[block.foundBy[c]], explanation: o.explain ? this.explainCandidate(block, c, S, rankedUpBy ? rankedUpBy[i] : [], o.similar) : NO_EXPLANATION });
    }
    const personal = items.length > 0;
    let fallbackUsed: string | null = null;
    if (items.length < k) fallbackUsed = this.fill(items, p, k, o);
    const segmentsAnswered = fallbackUsed !== null && this.fallbacks.find((f) => f.name === fallbackUsed)?.kind === 'segments';
    let strategy: Strategy;
    if (o.similar) strategy = personal ? 'similar' : 'content';
    else if (personal && p.query.history.length > 0) strategy = 'personal';
    else if (p.features !== null && (personal || segmentsAnswered)) strategy = 'features';
    else strategy = 'popularity';
    const result = { strategy, items };
    if (!trace) return { result };
    return { query: p.query, candidates: copyBlock(block), rows, featureNames: this.featureNames, rankerScores: rankerScores ? rankerScores.slice() : null, result };
  }

  /** Appends the fallback stages' items (not excluded, not already listed) until `items` has k; returns the first fallback that gave any. */
  private fill(items: RecommendedItem[], p: Prepared, k: number, o: { explain: boolean; similar: boolean }): string | null {
    const taken = new Set<number>(p.exclude);
    for (const r of items) taken.add(this.catalog.index(r.id));
    const floor = items.length ? Math.min(...items.map((r) => r.score)) : Infinity;
    let first: string | null = null;
    for (const f of this.fallbacks) {
      if (items.length >= k) break;
      if (o.similar && !f.personalized) continue;
      const want = k - items.length;
      const got = this.guard(f.name, () => f.source.candidates(p.query, want + Math.min(this.catalog.deletedItems, 64), taken, { allow: p.allow, features: p.features }));
      if (!got) continue;
      const top = got.scores.length ? got.scores[0] : 1;
      const why = this.fallbackReason(f, p, items.length, o.similar);
      let added = 0;
      for (let r = 0; r < got.items.length && items.length < k; r++) {
        const it = got.items[r];
        if (taken.has(it) || !this.business.isAllowed(it)) continue;
        taken.add(it);
        // below every ranked item, in the fallback's order
        const rel = top > 0 ? Math.max(0, got.scores[r]) / top : 0;
        const score = Number.isFinite(floor) ? floor * 0.5 * rel : rel;
        items.push({ id: this.catalog.id(it), score: round(score), source: f.name, explanation: o.explain ? { foundBy: [], rankedUpBy: [], adjustments: [], fallback: why, text: why } : NO_EXPLANATION });
        added++;
      }
      if (added > 0 && first === null) first = f.name;
    }
    return first;
  }

  /** Runs a stage's call; when serving (`onStageError`), a throw or a non-finite score is reported and gives null. */
  private guard<T extends { scores?: ArrayLike<number> } | ArrayLike<number>>(stage: string, call: () => T): T | null {
    if (!this.onStageError) return call();
    try {
      const r = call();
      const scores = 'scores' in r ? r.scores! : (r as ArrayLike<number>);
      for (let i = 0; i < scores.length; i++) if (!Number.isFinite(scores[i])) throw new Error(`score ${i} is ${scores[i]}; scores must be finite`);
      return r;
    } catch (err) {
      this.onStageError(stage, err);
      return null;
    }
  }

  private fallbackReason(f: Stage, p: Prepared, have: number, similar: boolean): string {
    switch (f.kind) {
      case 'segments': {
        const labels = (f.source as SegmentsSource).lastMatch ?? [];
        return `popular with users sharing ${labels.join(', ') || 'their features'}; ${have > 0 ? 'filled in: too few candidates' : 'no usable history for this user'}`;
      }
      case 'content':
        return similar ? 'shares feature values with the item' : 'shares feature values with the recent items';
      case 'popularity':
        if (have > 0) return `filled from popularity: too few candidates${p.allow ? ' in this category' : ''}`;
        if (p.historyLength > 0) return 'popular overall; this user\u2019s history has no items the model can use yet';
        return p.features ? 'popular overall; no item popular with users of these features' : 'popular overall; no history or known features for this user';
      default:
        return `from ${f.name}: too few candidates`;
    }
  }

  private explainCandidate(block: CandidateBlock, c: number, S: number, rankedUpBy: Contribution[], similar: boolean): Explanation {
    const foundBy: { source: string; rank: number }[] = [];
    for (let s = 0; s < S; s++) {
      const r = block.ranks[c * S + s];
      if (r === r) foundBy.push({ source: block.sources[s], rank: r + 1 });
    }
    foundBy.sort((a, b) => a.rank - b.rank);
    const adjustments = this.business.adjustments(block.items[c]);
    const parts = [`${similar ? 'similar by' : 'found by'} ${foundBy.map((f) => `${f.source} #${f.rank}`).join(', ')}`];
    if (rankedUpBy.length) parts.push(`ranked up by ${rankedUpBy.map((f) => f.feature).join(', ')}`);
    for (const a of adjustments) parts.push(a.factor >= 1 ? `boosted for ${a.rule} (x${a.factor})` : `demoted for ${a.rule} (x${a.factor})`);
    return { foundBy, rankedUpBy, adjustments, fallback: null, text: parts.join('; ') };
  }

  // ---------------------------------------------------------------- history

  /** The user's training history, then live events, then an anonymous request's items, in scratch arrays. */
  private buildHistory(index: number, live: readonly LiveEventInput[], recent: readonly string[]): { n: number; items: Int32Array; weights: Float32Array; timestamps: Float64Array } {
    const { offsets, rows } = this.userIndex;
    const a = index >= 0 ? offsets[index] : 0;
    const b = index >= 0 ? offsets[index + 1] : 0;
    const cap = b - a + live.length + recent.length;
    if (this.hist.items.length < cap) {
      const m = Math.max(cap, this.hist.items.length * 2);
      this.hist = { n: 0, items: new Int32Array(m), weights: new Float32Array(m), timestamps: new Float64Array(m) };
    }
    const h = this.hist;
    const x = this.dataset.interactions;
    let j = 0;
    for (let q = a; q < b; q++, j++) {
      const r = rows[q];
      h.items[j] = x.item[r];
      h.weights[j] = this.eventWeight[x.event[r]];
      h.timestamps[j] = x.timestamp[r];
    }
    const types = this.dataset.eventTypes;
    for (const e of live) {
      const it = this.catalog.index(e.item);
      const t = types.findIndex((x) => x.name === e.type);
      // an event of an item or type this model does not know (logged for another model) is skipped
      if (it < 0 || t < 0) continue;
      h.items[j] = it;
      h.weights[j] = this.eventWeight[t];
      h.timestamps[j++] = e.timestamp;
    }
    const now = this.now();
    recent.forEach((id, i) => {
      if (typeof id !== 'string') throw new InputError(`recent[${i}]`, 'must be an item id');
      const it = this.catalog.index(id);
      if (it < 0) throw new InputError(`recent[${i}]`, `unknown item '${id}'`);
      h.items[j] = it;
      h.weights[j] = 1;
      h.timestamps[j++] = now;
    });
    h.n = j;
    return h;
  }

  private checkK(k: number | undefined): number {
    const v = k ?? 10;
    if (!Number.isInteger(v) || v < 1 || v > this.maxK) throw new InputError('k', `must be an integer from 1 to ${this.maxK}, got ${k}`);
    return v;
  }

  private excludeIndices(ids: readonly string[] | undefined): Set<number> {
    const out = new Set<number>();
    // unknown ids are simply never recommended: nothing to exclude
    if (ids)
      for (const id of ids) {
        if (typeof id !== 'string') throw new InputError('exclude', 'must be a list of item ids');
        const it = this.catalog.index(id);
        if (it >= 0) out.add(it);
      }
    return out;
  }

  private allowMask(category: string | null | undefined): Uint8Array | undefined {
    if (category === null || category === undefined || category === '') return undefined;
    const ci = this.business.categoryCol;
    if (ci < 0) throw new InputError('category', 'this model has no category feature (business.categoryFeature)');
    return this.catalog.mask(ci, this.business.categoryCode(category));
  }

  // ---------------------------------------------------------------- live updates

  /**
   * Checks a batch of events against the model without changing anything: every item must exist and
   * every type be declared. Throws InputError naming the first bad field (`events[3].item`).
   */
  checkEvents(events: readonly EventInput[]): CheckedEvent[] {
    const types = this.dataset.eventTypes;
    const now = this.now();
    if (!Array.isArray(events)) throw new InputError('events', 'must be a list');
    return events.map((e, i) => {
      if (e === null || typeof e !== 'object') throw new InputError(`events[${i}]`, 'must be an object');
      if (typeof e.user !== 'string' || e.user === '') throw new InputError(`events[${i}].user`, 'must be a non-empty string');
      if (typeof e.item !== 'string' || e.item === '') throw new InputError(`events[${i}].item`, 'must be a non-empty string');
      const itemIndex = this.catalog.index(e.item);
      if (!this.catalog.isLive(itemIndex)) throw new InputError(`events[${i}].item`, `unknown item '${e.item}'`);
      const type = e.type ?? types[0].name;
      const typeIndex = types.findIndex((t) => t.name === type);
      if (typeIndex < 0) throw new InputError(`events[${i}].type`, `unknown event type '${type}' (known: ${types.map((t) => t.name).join(', ')})`);
      const timestamp = e.timestamp ?? now;
      if (typeof timestamp !== 'number' || !Number.isFinite(timestamp) || timestamp < 0 || timestamp >= MAX_EVENT_TIMESTAMP) throw new InputError(`events[${i}].timestamp`, 'must be seconds since the epoch, before 2100');
      const value = e.value ?? 1;
      if (typeof value !== 'number' || !Number.isFinite(value)) throw new InputError(`events[${i}].value`, 'must be a finite number');
      return { user: e.user, item: e.item, itemIndex, type, typeIndex, value, timestamp };
    });
  }

  /** Counters move for events accepted into the log (popularity and any source that observes events). */
  observeEvents(events: readonly { item: string; type: string; timestamp: number }[]): void {
    const types = this.dataset.eventTypes;
    for (const e of events) {
      const it = this.catalog.index(e.item);
      const t = types.findIndex((x) => x.name === e.type);
      if (it < 0 || t < 0) continue;
      const w = this.eventWeight[t];
      if (w > 0) for (const s of [...this.sources, ...this.fallbacks]) s.source.observe?.(it, w, e.timestamp);
    }
    this.eventsApplied += events.length;
  }

  /**
   * Applies log entries (in seq order) to what this engine holds in process: catalog upserts and
   * deletes, event counters. Idempotent: entries at or below the last applied seq are skipped, so a
   * request handler and a reload's replay may both pass the same entry. Entries this model cannot take
   * (an item or feature it does not know) are skipped and counted; returns how many were applied.
   * The users' histories live in the LiveState, not here.
   */
  applyEntries(entries: readonly LogEntry[]): number {
    let n = 0;
    for (const e of entries) {
      if (e.seq <= this.logPosition) continue;
      this.logPosition = e.seq;
      try {
        switch (e.kind) {
          case 'event':
            this.observeEvents([e]);
            break;
          case 'item':
            this.upsertItem(e.item, this.checkItemFeatures(e.features));
            break;
          case 'delete-item':
            if (this.hasItem(e.item)) this.deleteItem(e.item);
            break;
          case 'user':
            this.checkUserFeatures(e.features);
            break;
        }
        n++;
      } catch {
        this.replaySkipped++;
      }
    }
    return n;
  }

  /** The seq of the last log entry applied, and how many entries this model could not take. */
  logState(): { position: number; skipped: number } {
    return { position: this.logPosition, skipped: this.replaySkipped };
  }

  /** Checks an item's features against the schema; returns them normalised. Throws InputError. */
  checkItemFeatures(features: unknown): FeatureRow {
    return this.catalog.checkRow(features, 'features');
  }

  checkUserFeatures(features: unknown): FeatureRow {
    return checkFeatureRow(features, this.dataset.users.specs(), 'features');
  }

  /** Adds item `id` or replaces its features (checked first); a deleted item comes back. True when new. */
  upsertItem(id: string, features: FeatureRow): boolean {
    const { item, isNew } = this.catalog.upsert(id, features);
    this.business.refresh(item);
    for (const v of this.variants) v.business.refresh(item);
    for (const s of [...this.sources, ...this.fallbacks]) s.source.upsertItem?.(item, features);
    return isNew;
  }

  /** Removes item `id` from every answer from now on. Throws UnknownEntityError when it does not exist. */
  deleteItem(id: string): void {
    const item = this.catalog.remove(id);
    for (const s of [...this.sources, ...this.fallbacks]) s.source.removeItem?.(item);
  }

  hasItem(id: string): boolean {
    return this.catalog.isLive(this.catalog.index(id));
  }

  // ---------------------------------------------------------------- read API (dashboard, CLI, benches)

  /** Live counts for metrics and health checks. */
  stats(): { items: number; trainedItems: number; deletedItems: number; users: number; eventsObserved: number } {
    return { items: this.catalog.liveCount, trainedItems: this.trainedItems, deletedItems: this.catalog.deletedItems, users: this.dataset.numUsers, eventsObserved: this.eventsApplied };
  }

  /** Dense index of user `id` in the model, or -1. */
  userIndexOf(id: string): number {
    return this.dataset.users.ids.get(id);
  }

  /** A known user's stored features, or null. */
  userFeatures(id: string): FeatureRow | null {
    return tableRow(this.dataset.users, this.userIndexOf(id));
  }

  /**
   * The user's training events, newest first, at most `limit`: item ids, type names, signed weights, times.
   * @example engine.trainingHistory('42', 20)[0].item
   */
  trainingHistory(id: string, limit: number): { item: string; type: string; weight: number; timestamp: number }[] {
    const u = this.userIndexOf(id);
    if (u < 0) return [];
    const { offsets, rows } = this.userIndex;
    const x = this.dataset.interactions;
    const out: { item: string; type: string; weight: number; timestamp: number }[] = [];
    for (let j = offsets[u + 1] - 1; j >= offsets[u] && out.length < limit; j--) {
      const r = rows[j];
      out.push({ item: this.catalog.id(x.item[r]), type: this.dataset.eventTypes[x.event[r]].name, weight: this.eventWeight[x.event[r]], timestamp: x.timestamp[r] });
    }
    return out;
  }

  /** Number of training events of user `id`. */
  trainingHistoryLength(id: string): number {
    const u = this.userIndexOf(id);
    return u < 0 ? 0 : this.userIndex.offsets[u + 1] - this.userIndex.offsets[u];
  }

  /** Signed weight of an event type (negative feedback is negative), or NaN for an unknown type. */
  eventWeightOf(type: string): number {
    const t = this.dataset.eventTypes.findIndex((e) => e.name === type);
    return t < 0 ? NaN : this.eventWeight[t];
  }

  /** Up to `limit` ids of users with training history (load tests, examples). */
  activeUsers(limit: number): string[] {
    const { offsets } = this.userIndex;
    const out: string[] = [];
    const ids = this.dataset.users.ids.values;
    for (let u = 0; u < this.dataset.numUsers && out.length < limit; u++) if (offsets[u + 1] > offsets[u]) out.push(ids[u]);
    return out;
  }

  /** Up to `limit` ids of live items. */
  liveItems(limit: number): string[] {
    const out: string[] = [];
    for (let it = 0; it < this.catalog.size && out.length < limit; it++) if (this.catalog.isLive(it)) out.push(this.catalog.id(it));
    return out;
  }

  /**
   * The most popular live items (the first popularity stage's order; training counts when there is none).
   * @example engine.popularItems(20)[0]
   */
  popularItems(limit: number): { id: string; popularity: number }[] {
    const pop = [...this.sources, ...this.fallbacks].find((s) => s.kind === 'popularity');
    const none: UserQuery = { user: -1, history: new Int32Array(0) };
    if (pop) {
      const got = pop.source.candidates(none, limit + Math.min(this.catalog.deletedItems, 64));
      const out: { id: string; popularity: number }[] = [];
      for (let r = 0; r < got.items.length && out.length < limit; r++) if (this.catalog.isLive(got.items[r])) out.push({ id: this.catalog.id(got.items[r]), popularity: got.scores[r] });
      return out;
    }
    const counts = this.dataset.itemCounts();
    const order = Array.from(counts.keys()).filter((it) => this.catalog.isLive(it));
    order.sort((a, b) => counts[b] - counts[a] || a - b);
    return order.slice(0, limit).map((it) => ({ id: this.catalog.id(it), popularity: counts[it] }));
  }

  /** Training interactions of item `id` per time bin (bins over the training period). */
  itemTimeline(id: string, bins = 24): { start: number[]; count: number[] } {
    const it = this.catalog.index(id);
    const ts = this.dataset.interactions.timestamp;
    let lo = Infinity;
    let hi = -Infinity;
    for (let r = 0; r < ts.length; r++) {
      if (ts[r] < lo) lo = ts[r];
      if (ts[r] > hi) hi = ts[r];
    }
    if (!(hi >= lo)) (lo = 0), (hi = 1);
    const width = Math.max(1, (hi - lo) / bins);
    const count = new Array<number>(bins).fill(0);
    const items = this.dataset.interactions.item;
    if (it >= 0) for (let r = 0; r < items.length; r++) if (items[r] === it) count[Math.min(bins - 1, Math.floor((ts[r] - lo) / width))]++;
    return { start: Array.from({ length: bins }, (_, i) => lo + i * width), count };
  }
}

const NO_EXPLANATION: Explanation = Object.freeze({ foundBy: [], rankedUpBy: [], adjustments: [], fallback: null, text: '' }) as Explanation;
