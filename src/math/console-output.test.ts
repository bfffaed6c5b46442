import { test } from 'node:test';
import assert from 'node:assert/strict';
import { consoleOutput, ProgressRenderer } from './index.ts';

function fakeStream(isTTY: boolean): NodeJS.WriteStream & { text: string } {
  const s = { text: '', isTTY, columns: 80, write(x: string) { s.text += x; return true; } };
  return s as unknown as NodeJS.WriteStream & { text: string };
}

test('a command draws progress on a terminal in place, as plain lines elsewhere, and none with --quiet', async () => {
  const tty = consoleOutput(false, fakeStream(true));
  assert.ok(tty.progress instanceof ProgressRenderer && tty.progress.mode === 'tty');
  tty.close();
  const file = consoleOutput(false, fakeStream(false));
  assert.ok(file.progress instanceof ProgressRenderer && file.progress.mode === 'lines');
  file.close();
  assert.equal(consoleOutput(true, fakeStream(true)).progress, undefined);
});

test('log lines go through console.error around the progress line; during() clears it however the work ends', async () => {
  const stream = fakeStream(true);
  const ui = consoleOutput(false, stream);
  const err = console.error;
  const got: string[] = [];
  console.error = (s: string) => void got.push(s);
  try {
    const t = ui.progress!.start('fit', 10);
    t.tick(5);
    await assert.rejects(ui.during(async () => {
      ui.log('a log line');
      throw new Error('boom');
    }), /boom/);
  } finally {
    console.error = err;
  }
  assert.deepEqual(got, ['a log line']);
  assert.ok(stream.text.endsWith('\r\x1b[K'), 'the line is cleared at the end');
});
