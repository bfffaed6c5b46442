// The README's and docs' shell examples run here, so they stay true. Every `curl` and `npx tandem`
// line of a ```sh block runs, in document order, against a real server on a free port; the slow ones,
// and those standing for the reader's own files, are in docs/examples-skip.json, each with its reason.
// What the runner substitutes, and nothing else:
//   localhost:8080 -> the test server's address; --port 8080 -> --port 0; $KEY -> the server's key;
//   npx tandem -> node bin/tandem.mjs; models/ml100k-1, models/current, models/demo, models/m1 -> an
//   EASE-only MovieLens 100K model trained here (the docs' own training commands for them take
//   minutes: skipped); models/ml100k-2 -> a second copy of it; new output paths (--out, --json,
//   --report) and event logs (--events-db, --store sqlite:FILE) -> a temporary directory.
//   curl gets -sS --fail-with-body (an HTTP error fails the example); `tandem serve` must get to
//   "listening on" (run in the temporary directory), then it is stopped.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, type RunningServer } from '../serve/index.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ML100K = join(ROOT, '../shared/datasets/ml-100k');
const KEY = 'docs-example-key';

export interface Example {
  file: string;
  line: number;
  /** The command as the docs give it: continuation lines joined, a trailing comment removed. */
  command: string;
}

const COMMAND = /^(curl|npx|npm|node|kill)\s|^[A-Z]+=/;

/** Removes a trailing `# comment` that lies outside quotes. */
function stripComment(s: string): string {
  let q: string | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (q) {
      if (c === q) q = null;
    } else if (c === "'" || c === '"') q = c;
    else if (c === '#' && (i === 0 || /\s/.test(s[i - 1]))) return s.slice(0, i).trimEnd();
  }
  return s.trimEnd();
}

/** The commands of every ```sh block of a markdown text. */
export function extractExamples(text: string, file: string): Example[] {
  const out: Example[] = [];
  const lines = text.split('\n');
  let inSh = false;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (/^```/.test(l)) {
      inSh = !inSh && /^```sh\s*$/.test(l);
      continue;
    }
    if (!inSh) continue;
    const start = i;
    let cmd = l;
    while (/\\\s*$/.test(cmd) && i + 1 < lines.length) cmd = cmd.replace(/\\\s*$/, ' ') + lines[++i].trim();
    cmd = stripComment(cmd.trim()).replace(/\s+/g, ' ');
    if (COMMAND.test(cmd)) out.push({ file, line: start + 1, command: cmd });
  }
  return out;
}

const DOCS = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
const examples = DOCS.flatMap((f) => extractExamples(readFileSync(join(ROOT, f), 'utf8'), f));
const skipList = (JSON.parse(readFileSync(join(ROOT, 'docs/examples-skip.json'), 'utf8')) as { skip: { file: string; command: string; reason: string }[] }).skip;
const skipReason = (e: Example): string | undefined => skipList.find((s) => s.file === e.file && s.command === e.command)?.reason;

let tmp = '';
let model = '';
let model2 = '';
let server: RunningServer | null = null;
let outputs = 0;
const missing = existsSync(join(ML100K, 'u.data')) ? null : `MovieLens 100K is not at ${ML100K}: the examples talk to a model of it`;

function sh(command: string, env: Record<string, string>, opts: { untilListening?: boolean; timeoutMs?: number; cwd?: string } = {}): Promise<{ code: number | 'listening'; out: string }> {
  return new Promise((resolve, reject) => {
    // its own process group: a timeout stops the command's children too, not only bash
    const child = spawn('bash', ['-c', opts.untilListening ? `exec ${command}` : command], { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    let settled = false;
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
      if (!settled) reject(new Error(`timed out: ${command}\n${out}`));
      settled = true;
    }, opts.timeoutMs ?? 120_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (opts.untilListening && !settled && /listening on http/.test(out)) {
        settled = true;
        clearTimeout(timer);
        child.once('exit', () => resolve({ code: 'listening', out }));
        child.kill('SIGTERM');
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('exit', (code) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ code: code ?? -1, out });
    });
  });
}

/** The command as it runs here (see the file's comment). */
function substitute(cmd: string): string {
  const fresh = (ext = ''): string => join(tmp, `out-${++outputs}${ext}`);
  let c = cmd
    .replace(/^npx tandem /, `node ${join(ROOT, 'bin/tandem.mjs')} `)
    .replace(/localhost:8080/g, `127.0.0.1:${server!.port}`)
    .replace(/--port 8080\b/g, '--port 0')
    .replace(/models\/ml100k-2(?![\w-])/g, model2)
    .replace(/models\/(ml100k-1|current|demo|m1)(?![\w-])/g, model)
    .replace(/--out \S+/g, () => `--out ${fresh()}`)
    .replace(/--json (\S+\.json)/g, () => `--json ${fresh('.json')}`)
    .replace(/--report \S+/g, () => `--report ${fresh('.html')}`)
    .replace(/--events-db \S+/g, () => `--events-db ${fresh('.db')}`)
    .replace(/--store sqlite:(?!:memory:)\S+/g, () => `--store sqlite:${fresh('.db')}`);
  if (c.startsWith('curl ')) c = `curl -sS --fail-with-body --max-time 60 ${c.slice(5)}`;
  return c;
}

before(async () => {
  if (missing) return;
  tmp = await mkdtemp(join(tmpdir(), 'tandem-docs-'));
  model = join(tmp, 'ml100k-1');
  model2 = join(tmp, 'ml100k-2');
  const r = await sh(`node bin/tandem.mjs train --dataset movielens-100k --data ${ML100K} --stages ease --ranker none --holdout 0 --out ${model}`, {});
  assert.equal(r.code, 0, r.out);
  await cp(model, model2, { recursive: true });
  server = await startServer({ model, port: 0, apiKey: KEY, store: `sqlite:${join(tmp, 'events.db')}`, reloadOnSighup: false, log: () => {} });
});

after(async () => {
  await server?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

test('every skipped example is still in the docs, and every example is runnable or skipped with a reason', () => {
  for (const s of skipList) {
    assert.ok(examples.some((e) => e.file === s.file && e.command === s.command), `docs/examples-skip.json lists a command no longer in ${s.file}: ${s.command}`);
    assert.ok(s.reason.length > 10, `a reason for: ${s.command}`);
  }
  for (const e of examples) {
    const runnable = /^(curl |npx tandem |[A-Z]+=)/.test(e.command);
    assert.ok(runnable || skipReason(e), `${e.file}:${e.line}: neither runnable here nor in docs/examples-skip.json: ${e.command}`);
  }
  assert.ok(examples.filter((e) => e.command.startsWith('curl ')).length >= 15, 'the curl examples were found');
});

// shell variables the docs set (`H=...; K=...`) hold for the rest of their file
const preludes = new Map<string, string[]>();
for (const e of examples) {
  const name = `${e.file}:${e.line}: ${e.command}`;
  if (/^[A-Z]+=/.test(e.command)) {
    preludes.set(e.file, [...(preludes.get(e.file) ?? []), e.command]);
    continue;
  }
  const prelude = [...(preludes.get(e.file) ?? [])];
  const reason = skipReason(e);
  test(name, { skip: reason ?? missing ?? false }, async () => {
    const env = { KEY };
    const cmd = substitute(e.command);
    const line = [...prelude, cmd].join('; ');
    if (/^node \S+ serve /.test(cmd)) {
      // in the temporary directory: a serve example without --events-db writes tandem-events.db where it runs
      const r = await sh(cmd, env, { untilListening: true, cwd: tmp });
      assert.equal(r.code, 'listening', `${name}\n${r.out}`);
      return;
    }
    const r = await sh(line, env);
    assert.equal(r.code, 0, `${name}\nran: ${line}\n${r.out}`);
  });
}
