import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventStore } from './event-store.ts';
import { Metrics } from './metrics.ts';

test('event store: batches are all or nothing, survive reopening, replay in order since a time', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-store-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'events.db');
  const s = new EventStore(file);
  s.appendEvents([{ user: 'a', item: '1', type: 'view', value: 1, timestamp: 10 }, { user: 'b', item: '2', type: 'buy', value: 3, timestamp: 11 }], 100);
  s.appendItem('9', { genre: ['x'] }, 101);
  s.appendItemDelete('9', 102);
  s.appendUser('c', { age: 30 }, 103);
  // a value that cannot be bound fails the batch at its second row: the first must not stay
  assert.throws(() => s.appendEvents([{ user: 'x', item: '1', type: 'view', value: 1, timestamp: 1 }, { user: 'y', item: '1', type: 'view', value: {} as unknown as number, timestamp: 1 }], 104));
  assert.equal(s.countEvents(), 2);
  s.close();
  const r = new EventStore(file);
  assert.equal(r.countEvents(), 2);
  const all = [...r.since(0)];
  assert.deepEqual(all.map((e) => e.kind), ['event', 'event', 'item', 'delete-item', 'user']);
  assert.deepEqual(all[1], { seq: 2, received: 100, kind: 'event', user: 'b', item: '2', type: 'buy', value: 3, timestamp: 11 });
  assert.deepEqual(all[2], { seq: 3, received: 101, kind: 'item', item: '9', features: { genre: ['x'] } });
  assert.deepEqual([...r.since(102)].map((e) => e.seq), [4, 5]);
  r.close();
});

test('metrics: Prometheus text with counters, cumulative histogram buckets and labelled gauges', () => {
  const m = new Metrics();
  m.observe('GET', '/v1/items/:id/similar', 200, 0.5);
  m.observe('GET', '/v1/items/:id/similar', 200, 7);
  m.observe('GET', '/v1/items/:id/similar', 404, 30);
  m.inc('tandem_events_stored_total', 'Events stored.', 5);
  m.inc('tandem_events_stored_total', 'Events stored.', 2);
  const text = m.render([{ name: 'tandem_model_info', help: 'Model.', value: 1, labels: { version: 'v"1' } }]);
  assert.match(text, /^tandem_http_requests_total\{method="GET",route="\/v1\/items\/:id\/similar",status="200"\} 2$/m);
  assert.match(text, /^tandem_http_requests_total\{method="GET",route="\/v1\/items\/:id\/similar",status="404"\} 1$/m);
  const bucket = (le: string): number => Number(text.match(new RegExp(`duration_seconds_bucket\\{method="GET",route="/v1/items/:id/similar",le="${le.replace('+', '\\+')}"\\} (\\d+)`))![1]);
  assert.equal(bucket('0.001'), 1);
  assert.equal(bucket('0.01'), 2);
  assert.equal(bucket('0.05'), 3);
  assert.equal(bucket('+Inf'), 3);
  assert.match(text, /^tandem_http_request_duration_seconds_count\{method="GET",route="\/v1\/items\/:id\/similar"\} 3$/m);
  assert.match(text, /^tandem_events_stored_total 7$/m);
  assert.match(text, /^tandem_model_info\{version="v\\"1"\} 1$/m);
  assert.ok(text.endsWith('\n'));
});
