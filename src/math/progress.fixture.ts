// A Progress that records what it was told, for tests of the code that reports.
import type { Progress, ProgressTask } from './progress.ts';

export interface RecordedTask {
  name: string;
  total: number;
  unit: string;
  /** Calls of tick or set. */
  updates: number;
  done: number;
  notes: string[];
  finished: boolean;
}

/** Every task started, in order, with its updates; `named(re)` finds them by name. */
export class RecordingProgress implements Progress {
  readonly tasks: RecordedTask[] = [];

  start(name: string, total: number, unit = ''): ProgressTask {
    const t: RecordedTask = { name, total, unit, updates: 0, done: 0, notes: [], finished: false };
    this.tasks.push(t);
    return {
      tick: (n = 1) => {
        t.updates++;
        t.done += n;
      },
      set: (d) => {
        t.updates++;
        t.done = d;
      },
      note: (s) => void t.notes.push(s),
      finish: () => {
        t.finished = true;
      },
    };
  }

  scope(name: string): Progress {
    const root = this;
    const scoped = (prefix: string): Progress => ({ start: (n, total, unit) => root.start(`${prefix} > ${n}`, total, unit), scope: (n) => scoped(`${prefix} > ${n}`) });
    return scoped(name);
  }

  named(re: RegExp): RecordedTask[] {
    return this.tasks.filter((t) => re.test(t.name));
  }
}
