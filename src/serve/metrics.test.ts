import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Metrics } from './metrics.ts';

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
