/**
 * For the test files of the networked backends (not a test file itself): whether CI is running, and
 * what a test run does when its server does not answer. Under CI an unreachable server fails the run
 * (.ci/run starts PostgreSQL and Redis, so a silent skip would hide a broken CI); elsewhere the case is
 * skipped with the reason and what to do about it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

/** CI=true (any value but '', 'false' or '0'). */
export const IN_CI = !['', 'false', '0'].includes((process.env.CI ?? '').trim().toLowerCase());

/**
 * Registers the one case a test file has when its server is out of reach: failing under CI, skipped
 * (with `reason`) elsewhere.
 * @example serverMissing('postgres', 'no PostgreSQL at postgres://postgres@127.0.0.1:5432/test: ECONNREFUSED', 'TANDEM_TEST_POSTGRES')
 */
export function serverMissing(what: string, reason: string, envVar: string): void {
  const name = `${what}: a test server answers`;
  if (IN_CI) test(name, () => assert.fail(`${reason}. With CI=true an unreachable server fails the suite (.ci/run starts it); set ${envVar} to test against another one`));
  else test(name, { skip: `${reason} (start it or set ${envVar}; under CI=true this fails instead)` }, () => {});
}
