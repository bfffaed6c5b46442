import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runDemo } from './index.ts';

test('runDemo: progress, the table, and example users with their recommendations', async () => {
  const logs: string[] = [];
  const out: string[] = [];
  const report = await runDemo({ data: { users: 300, items: 150, interactions: 9000 }, pipelines: ['popularity', 'itemknn', 'not-registered'], showUsers: 2, log: (m) => logs.push(m), print: (t) => out.push(t) });
  assert.deepEqual(report.results.map((r) => r.pipeline), ['popularity', 'itemknn']);
  assert.ok(logs.some((l) => l.startsWith('[1/3]')) && logs.some((l) => l.startsWith('[3/3]')));
  const text = out.join('\n');
  assert.match(text, /^pipeline +ndcg@10/m);
  assert.equal((text.match(/^user u\d+ /gm) ?? []).length, 2);
  assert.equal((text.match(/recommended:/g) ?? []).length, 2);
  await assert.rejects(runDemo({ pipelines: ['not-registered'] }), /none of the demo pipelines is registered/);
});
