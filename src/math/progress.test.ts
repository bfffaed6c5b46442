import { test } from 'node:test';
import assert from 'node:assert/strict';
import { estimateLeft, followCounter, formatDuration, NO_PROGRESS, ProgressRenderer, type ProgressStream, type ProgressTask } from './index.ts';

/** A stream that keeps what was written, and a clock the test moves. */
function fakes(isTTY: boolean, columns = 200): { out: ProgressStream & { text: string }; clock: { t: number; now: () => number } } {
  const out = { text: '', isTTY, columns, write(s: string) { out.text += s; return true; } };
  const clock = { t: 0, now: () => clock.t };
  return { out, clock };
}

test('estimateLeft: constant-rate arithmetic, NaN until it can be told', () => {
  assert.equal(estimateLeft(25, 100, 10), 30);
  assert.equal(estimateLeft(100, 100, 10), 0);
  assert.equal(estimateLeft(1, 3, 2), 4);
  assert.ok(Number.isNaN(estimateLeft(0, 100, 10)));
  assert.ok(Number.isNaN(estimateLeft(5, 0, 10)));
  assert.ok(Number.isNaN(estimateLeft(5, 100, 0.5)));
  assert.equal(formatDuration(45), '45s');
  assert.equal(formatDuration(187), '3m07s');
  assert.equal(formatDuration(3720), '1h02m');
});

test('lines mode: one plain line every 10 s with done/total, elapsed and time left; a closing line for shown tasks', () => {
  const { out, clock } = fakes(false);
  const r = new ProgressRenderer(out, { now: clock.now, heartbeat: 0 });
  assert.equal(r.mode, 'lines');
  const task = r.scope('two-stage').scope('ranker rows').start('users', 1000, 'users');
  for (let i = 0; i < 100; i++) {
    clock.t += 500; // 50 s in all, 10 users per tick
    task.tick(10);
  }
  const lines = out.text.trimEnd().split('\n');
  // a line at 10, 20, 30, 40 and 50 s, none in between
  assert.equal(lines.length, 5, out.text);
  assert.equal(lines[0], 'two-stage > ranker rows > users  200/1,000 users (20%)  elapsed 10s, about 40s left');
  assert.equal(lines[4], 'two-stage > ranker rows > users  1,000/1,000 users (100%)  elapsed 50s, about 0s left');
  assert.ok(!out.text.includes('\r') && !out.text.includes('\x1b'), 'no terminal controls in a file');
  task.finish();
  assert.match(out.text, /two-stage > ranker rows > users: done in 50s\n$/);
  // a short task nobody saw gets no closing line
  const short = r.start('quick', 10);
  clock.t += 1000;
  short.finish();
  assert.ok(!out.text.includes('quick'));
});

test('lines mode: an early finish says where it stopped; other output resets the 10 s clock', () => {
  const { out, clock } = fakes(false);
  const r = new ProgressRenderer(out, { now: clock.now, heartbeat: 0 });
  const t = r.start('gbdt', 600, 'rounds');
  clock.t = 9000;
  r.print('a log line');
  clock.t = 12_000;
  t.set(100); // 3 s after the log line: no progress line yet
  assert.equal(out.text, 'a log line\n');
  clock.t = 19_000;
  t.set(150);
  assert.match(out.text, /gbdt  150\/600 rounds \(25%\)  elapsed 19s, about 57s left\n$/);
  t.finish();
  assert.match(out.text, /gbdt: done at 150\/600 rounds \(25%\) in 19s\n$/);
});

test('tty mode: the line is redrawn in place, at most every 100 ms, for the innermost task; log lines do not tear it', () => {
  const { out, clock } = fakes(true);
  const r = new ProgressRenderer(out, { now: clock.now, heartbeat: 0 });
  assert.equal(r.mode, 'tty');
  const outer = r.scope('ease').start('gram', 200, 'users');
  clock.t = 1000;
  outer.tick(50);
  assert.equal(out.text, '\rease > gram  50/200 users (25%)  elapsed 1s, about 3s left\x1b[K');
  clock.t = 1050;
  outer.tick(10); // under 100 ms since the last draw
  assert.equal(out.text.split('\r').length, 2);
  const inner = r.scope('ease').start('invert', 1000, '%');
  clock.t = 3000;
  inner.set(500);
  assert.ok(out.text.endsWith('\rease > invert  50%  elapsed 2s, about 2s left\x1b[K'), JSON.stringify(out.text));
  const before = out.text.length;
  r.print('fitted ease');
  // cleared, the log line, then the progress line again
  assert.equal(out.text.slice(before), '\r\x1b[Kfitted ease\n\rease > invert  50%  elapsed 2s, about 2s left\x1b[K');
  inner.finish();
  // back to the outer task
  assert.ok(out.text.endsWith('\rease > gram  60/200 users (30%)  elapsed 3s, about 7s left\x1b[K'));
  outer.finish();
  assert.ok(out.text.endsWith('\r\x1b[K'), 'no task: the line is cleared');
  r.close();
  assert.equal(out.text.split('\n').length, 2, 'the only line of its own is the log line');
});

test('the heartbeat renders while the event loop waits and nothing ticks', async () => {
  const { out } = fakes(false);
  const r = new ProgressRenderer(out, { every: 20, heartbeat: 5 });
  const t = r.start('waiting on workers', 0);
  await new Promise((res) => setTimeout(res, 80));
  t.finish();
  r.close();
  assert.match(out.text, /^waiting on workers  elapsed 0s\n/);
  assert.match(out.text, /waiting on workers: done in 0s\n$/);
});

test('tty mode: a line wider than the terminal loses the start of its name, never its figures', () => {
  const { out, clock } = fakes(true, 40);
  const r = new ProgressRenderer(out, { now: clock.now, heartbeat: 0 });
  const t = r.scope('two-stage').scope('ranker rows').scope('two-tower').start('batches', 10);
  clock.t = 2000;
  t.tick(5);
  const line = out.text.slice(out.text.lastIndexOf('\r') + 1).replace('\x1b[K', '');
  assert.equal(line.length, 39);
  assert.ok(line.startsWith('\u2026'));
  assert.ok(line.endsWith('about 2s left'), line);
});

test('the bytes unit shows sizes; a task of unknown size shows only what is done and the elapsed time', () => {
  const { out, clock } = fakes(false);
  const r = new ProgressRenderer(out, { now: clock.now, heartbeat: 0, every: 1000 });
  const a = r.start('load > u.data', 4 << 20, 'bytes');
  clock.t = 1000;
  a.set(1 << 20);
  assert.match(out.text, /^load > u\.data  1\.0 MB\/4\.0 MB \(25%\)  elapsed 1s, about 3s left\n$/);
  a.finish();
  const w = r.start('invert', 1000, '%');
  clock.t = 2000;
  w.set(25); // a tenth of a percent below 10%
  assert.match(out.text, /invert  2\.5%  elapsed 1s, about 39s left\n$/);
  w.finish();
  const b = r.start('fit', NaN);
  clock.t = 4000;
  b.note('epoch 2');
  assert.match(out.text, /fit  elapsed 2s  epoch 2\n$/);
});

test('NO_PROGRESS does nothing, and its scopes are itself', () => {
  const t: ProgressTask = NO_PROGRESS.scope('a').start('b', 10);
  t.tick(3);
  t.set(5);
  t.note('x');
  t.finish();
  assert.equal(NO_PROGRESS.scope('x'), NO_PROGRESS);
});

test('followCounter sets the task from a counter other threads add to', async () => {
  const seen: number[] = [];
  const task: ProgressTask = { tick() {}, set: (d) => void seen.push(d), note() {}, finish() {} };
  const counter = new Int32Array(new SharedArrayBuffer(4));
  const stop = followCounter(task, counter, 100, 5);
  Atomics.add(counter, 0, 7);
  await new Promise((r) => setTimeout(r, 30));
  Atomics.add(counter, 0, 3);
  stop();
  assert.equal(seen[seen.length - 1], 110);
  assert.ok(seen.includes(107));
});
