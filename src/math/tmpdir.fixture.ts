// Scratch directories for tests: made under the OS temp directory, removed when the test file ends.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

const made: string[] = [];
// registered when a test file imports this module (at its top level, where node:test's `after` runs
// once the file's tests are done; registered from inside a test it would never run)
after(() => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});

/**
 * A new empty directory `<tmp>/<prefix>XXXXXX`, deleted with everything in it after the file's tests
 * (node:test's `after`), whether they passed or not.
 * @example const dir = scratchDir('tandem-load-');
 */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}
