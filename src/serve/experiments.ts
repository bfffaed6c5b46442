/**
 * Online experiments in the service: the experiments (from `--experiments FILE`, or created through the
 * API, which writes the file back), the extra model versions their arms serve (loaded once, kept in step
 * with the log like the serving model), assignment of a request's user to an arm, team-draft
 * interleaving, and the exposure that goes to the event log before the answer does.
 */
import { randomUUID } from 'node:crypto';
import { rename, writeFile } from 'node:fs/promises';
import { assignArm, loadExperimentsFile, modelsOf, reportFromLog, resolveExperiment, teamDraft, type Experiment, type ExperimentReport } from '../experiments/index.ts';
import { hashString } from '../math/index.ts';
import { Engine, type Model, type RecommendResult } from '../pipeline/index.ts';
import type { EventLog, LogEntry, LogRecord } from '../store/index.ts';
import { ConflictError, NotFoundError, UnprocessableError } from './errors.ts';
import { InputError } from '../schema/index.ts';

/** What the service hands over to load a model (its own checked load: integrity, smoke check). */
export type ModelLoader = (dir: string) => Promise<{ engine: Engine; model: Model; resolved: string; dispose: () => void }>;

/** How the service asks one engine for the request's answer; `ranker: false` for an arm with the ranker off. */
export type AnswerRun = (engine: Engine, opts: { ranker: boolean }) => RecommendResult;

interface ArmModel {
  dir: string;
  resolved: string;
  engine: Engine;
  model: Model;
  dispose: () => void;
  /** Growth of the process's resident memory while it loaded (approximate: other work runs too). */
  memoryBytes: number;
  /** The model directory's files (what the load reads: a floor for what it holds). */
  diskBytes: number;
}

/** One answer of an experiment: the items (with their origin) and the exposure logged for them. */
export interface ExperimentAnswer {
  experiment: string;
  arm: string;
  /** null when the answer had no items (nothing shown: nothing logged). */
  exposureId: string | null;
  result: RecommendResult;
  /** The engine that answered (for the modelVersion), or for interleaving the first team's. */
  engine: Engine;
  modelVersions: string[];
}

export interface ExperimentListing {
  name: string;
  status: 'scheduled' | 'running' | 'stopped';
  start: string;
  stop: string | null;
  attributionHours: number;
  arms: { name: string; type: 'model' | 'interleave'; share: number; ranker: boolean; candidates: number | null; business: Record<string, unknown> | null; models: string[]; modelVersions: string[]; memoryBytes: number }[];
}

const rssNow = () => {
  const m = process.memoryUsage();
  return m.rss;
};

/** What `ExperimentService.open` needs. */
export interface ExperimentServiceOptions {
  /** The experiments file; null: none (experiments can still be added over HTTP). */
  file: string | null;
  /** Loads an arm's model directory (replayed from the log like the serving one). */
  loadModel: ModelLoader;
  /** The log exposures are appended to. */
  log: EventLog;
  say: (line: string) => void;
  /** The served engine and model, to check variant arms against. */
  served?: { engine: Engine; model: Model };
  /**
   * Hears of every exposure the service appends (the server hands them to its log feed, so its next
   * writes join up with them instead of reading the log for the gap).
   */
  appended?: (entries: LogEntry[]) => void;
}

export class ExperimentService {
  private experiments: Experiment[] = [];
  /** Model directory as given -> the loaded arm model. */
  private readonly models = new Map<string, ArmModel>();
  private closed = false;

  private constructor(
    private readonly file: string | null,
    private readonly loadModel: ModelLoader,
    private readonly log: EventLog,
    private readonly say: (line: string) => void,
    private readonly appended: (entries: LogEntry[]) => void,
  ) {}

  /**
   * Reads `o.file` (when given) and loads every model its experiments name; with `o.served`, variant arms
   * are checked against the served engine.
   */
  static async open(o: ExperimentServiceOptions): Promise<ExperimentService> {
    const { file, served } = o;
    const s = new ExperimentService(file, o.loadModel, o.log, o.say, o.appended ?? (() => {}));
    if (file !== null) {
      const all = await loadExperimentsFile(file);
      try {
        for (const e of all) {
          await s.ensureModels(e);
          if (served) s.checkVariants(e, served, `${file}: experiment '${e.name}'`);
        }
      } catch (err) {
        s.close();
        throw err;
      }
      s.experiments = all;
    }
    return s;
  }

  /** Loads the models `e` needs that are not loaded yet, replayed from the log like the serving one. */
  private async ensureModels(e: Experiment): Promise<void> {
    const added: string[] = [];
    try {
      await this.loadNew(e, added);
    } catch (err) {
      // nothing of a refused experiment stays loaded
      for (const dir of added) {
        this.models.get(dir)?.dispose();
        this.models.delete(dir);
      }
      throw err;
    }
  }

  private async loadNew(e: Experiment, added: string[]): Promise<void> {
    for (const dir of modelsOf(e)) {
      if (dir === null || this.models.has(dir)) continue;
      const before = rssNow();
      const m = await this.loadModel(dir);
      const memoryBytes = Math.max(0, rssNow() - before);
      const diskBytes = Object.values(m.engine.manifest.files).reduce((n, f) => n + f.bytes, 0);
      const arm: ArmModel = { dir, resolved: m.resolved, engine: m.engine, model: m.model, dispose: m.dispose, memoryBytes, diskBytes };
      // catalog changes and counters since the model was built; registered first, then caught up, so nothing appended meanwhile is missed
      this.models.set(dir, arm);
      added.push(dir);
      const from = await this.log.seqBefore(Date.parse(m.engine.manifest.createdAt) / 1000);
      for await (const batch of this.log.scan(from)) m.engine.applyEntries(batch);
      for await (const batch of this.log.scan(m.engine.logState().position)) m.engine.applyEntries(batch);
      this.say(`experiment ${e.name}: loaded ${dir} (model ${m.engine.modelVersion}), about ${(memoryBytes / 2 ** 20).toFixed(1)} MiB more resident memory (${(diskBytes / 2 ** 20).toFixed(1)} MiB of files)`);
    }
  }

  /** Log entries reach every arm model, as they reach the serving one (idempotent by seq). */
  applyEntries(entries: readonly LogEntry[]): void {
    for (const m of this.models.values()) m.engine.applyEntries(entries);
  }

  get active(): boolean {
    return this.experiments.length > 0;
  }

  /** The first running experiment `user` is assigned in (every running experiment covers all users: the first one wins). */
  assign(user: string, now = Date.now() / 1000): { experiment: Experiment; arm: number } | null {
    for (const e of this.experiments) {
      const arm = assignArm(e, user, now);
      if (arm >= 0) return { experiment: e, arm };
    }
    return null;
  }

  /** Variants (candidate count, business rules), per model: engines over the same stages and catalog (no copy, no replay). */
  private readonly variants = new WeakMap<Model, Map<string, Engine>>();

  private engineOf(dir: string | null, served: { engine: Engine; model: Model }, candidates: number | null = null, business: Record<string, unknown> | null = null): Engine {
    const base = dir === null ? served : this.models.get(dir)!;
    if ((candidates === null || candidates === base.engine.candidateCount) && business === null) return base.engine;
    let m = this.variants.get(base.model);
    if (m === undefined) this.variants.set(base.model, (m = new Map()));
    const key = JSON.stringify([candidates, business]);
    let e = m.get(key);
    // the variant shares the model's stages and catalog, which the base engine keeps up to date with the
    // log (and its catalog changes refresh the variant's business rules)
    if (e === undefined) m.set(key, (e = base.engine.variant({ ...(candidates === null ? {} : { candidates }), ...(business === null ? {} : { business }) })));
    return e;
  }

  /**
   * Answers `user` through their arm (one model, or two interleaved) and logs the exposure before
   * returning; null when no experiment runs for them. `run` asks one engine for its answer.
   */
  async answer(user: string, served: { engine: Engine; model: Model }, run: AnswerRun, k: number, now = Date.now() / 1000): Promise<ExperimentAnswer | null> {
    const a = this.assign(user, now);
    if (a === null) return null;
    const arm = a.experiment.arms[a.arm];
    const exposureId = randomUUID();
    let result: RecommendResult;
    let teams: number[] | undefined;
    let engine: Engine;
    let versions: string[];
    if (arm.type === 'interleave') {
      const e0 = this.engineOf(arm.teams![0], served);
      const e1 = this.engineOf(arm.teams![1], served);
      const r0 = run(e0, { ranker: true });
      const r1 = run(e1, { ranker: true });
      const mixed = teamDraft(r0.items.map((x) => x.id), r1.items.map((x) => x.id), k, hashString(exposureId));
      const byId = new Map([...r1.items, ...r0.items].map((x) => [x.id, x]));
      result = { strategy: r0.strategy, items: mixed.items.map((id) => byId.get(id)!) };
      teams = mixed.teams;
      engine = e0;
      versions = [e0.modelVersion, e1.modelVersion];
    } else {
      engine = this.engineOf(arm.model, served, arm.candidates, arm.business);
      result = run(engine, { ranker: arm.ranker });
      versions = [engine.modelVersion];
    }
    if (result.items.length > 0) {
      const items = result.items.map((x) => x.id);
      const rec: LogRecord = teams ? { kind: 'exposure', id: exposureId, user, experiment: a.experiment.name, arm: arm.name, items, teams, timestamp: now } : { kind: 'exposure', id: exposureId, user, experiment: a.experiment.name, arm: arm.name, items, timestamp: now };
      this.appended(await this.log.append([rec]));
    }
    return { experiment: a.experiment.name, arm: arm.name, exposureId: result.items.length > 0 ? exposureId : null, result, engine, modelVersions: versions };
  }

  list(now = Date.now() / 1000): ExperimentListing[] {
    return this.experiments.map((e) => ({
      name: e.name,
      status: now < e.start ? 'scheduled' : e.stop !== null && now >= e.stop ? 'stopped' : 'running',
      start: new Date(e.start * 1000).toISOString(),
      stop: e.stop === null ? null : new Date(e.stop * 1000).toISOString(),
      attributionHours: e.attributionSeconds / 3600,
      arms: e.arms.map((a) => {
        const dirs = a.type === 'model' ? [a.model] : a.teams!;
        const loaded = dirs.map((d) => (d === null ? null : this.models.get(d)!));
        return {
          name: a.name,
          type: a.type,
          share: a.share,
          ranker: a.ranker,
          candidates: a.candidates,
          business: a.business,
          models: dirs.map((d) => d ?? 'served'),
          modelVersions: loaded.map((m) => m?.engine.modelVersion ?? 'served'),
          memoryBytes: loaded.reduce((s, m) => s + (m?.memoryBytes ?? 0), 0),
        };
      }),
    }));
  }

  /**
   * Builds every variant arm's engine now, so business rules naming a column the arm's model lacks refuse
   * the experiment (naming the arm) instead of failing its requests.
   */
  private checkVariants(e: Experiment, served: { engine: Engine; model: Model }, what: string): void {
    e.arms.forEach((a, i) => {
      if (a.type !== 'model' || (a.candidates === null && a.business === null)) return;
      try {
        this.engineOf(a.model, served, a.candidates, a.business);
      } catch (err) {
        throw new InputError(`arms[${i}].business`, `${what}, arm '${a.name}': ${err instanceof Error ? err.message : String(err)}`);
      }
    });
  }

  /** Adds an experiment (its models loaded first) and writes the file back. 409 when the name is taken. */
  async create(given: unknown, now = Date.now() / 1000, served?: { engine: Engine; model: Model }): Promise<ExperimentListing> {
    const e = resolveExperiment(given, '', now);
    if (this.experiments.some((x) => x.name === e.name)) throw new ConflictError(`an experiment '${e.name}' exists (stop it, or choose another name)`);
    try {
      await this.ensureModels(e);
      if (served) this.checkVariants(e, served, `experiment '${e.name}'`);
    } catch (err) {
      throw new UnprocessableError(`experiment '${e.name}' not created, a model of its arms was refused: ${err instanceof Error ? err.message : String(err)}`);
    }
    this.experiments.push(e);
    await this.persist();
    return this.list(now).find((x) => x.name === e.name)!;
  }

  /** Stops assignment now (its exposures stay in the log for the report) and writes the file back. */
  async stop(name: string, now = Date.now() / 1000): Promise<ExperimentListing> {
    const e = this.get(name);
    if (e.stop === null || e.stop > now) e.stop = Math.max(now, e.start + 1e-3);
    await this.persist();
    return this.list(now).find((x) => x.name === name)!;
  }

  get(name: string): Experiment {
    const e = this.experiments.find((x) => x.name === name);
    if (!e) throw new NotFoundError(`no experiment '${name}' (known: ${this.experiments.map((x) => x.name).join(', ') || 'none'})`);
    return e;
  }

  async report(name: string): Promise<ExperimentReport> {
    return reportFromLog(this.log, this.get(name));
  }

  /** Memory of the models loaded for experiments, per directory. */
  memory(): { dir: string; modelVersion: string; memoryBytes: number; diskBytes: number }[] {
    return [...this.models.values()].map((m) => ({ dir: m.dir, modelVersion: m.engine.modelVersion, memoryBytes: m.memoryBytes, diskBytes: m.diskBytes }));
  }

  /** The experiments file as written back: definitions in the form the file takes. */
  private async persist(): Promise<void> {
    if (this.file === null) return;
    const iso = (t: number) => new Date(t * 1000).toISOString();
    const body = {
      experiments: this.experiments.map((e) => ({
        name: e.name,
        arms: e.arms.map((a) => (a.type === 'model' ? { name: a.name, model: a.model, share: a.share, ...(a.ranker ? {} : { ranker: false }), ...(a.candidates === null ? {} : { candidates: a.candidates }), ...(a.business === null ? {} : { business: a.business }) } : { name: a.name, interleave: a.teams!.map((t) => t ?? 'served'), share: a.share })),
        start: iso(e.start),
        stop: e.stop === null ? null : iso(e.stop),
        attributionHours: e.attributionSeconds / 3600,
        seed: e.seed,
      })),
    };
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(body, null, 2) + '\n');
    await rename(tmp, this.file);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const m of this.models.values()) m.dispose();
    this.models.clear();
  }
}
