import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { DataError, JsonLinesParser, readJsonLines, type JsonRecord } from './index.ts';

test('JSON Lines: one object per line, blank lines skipped, lines counted across chunks', async () => {
  const out: [JsonRecord, number][] = [];
  const p = new JsonLinesParser('e.jsonl', (o, line) => out.push([o, line]));
  p.push('{"a":1}\r\n\n{"a"');
  p.push(':2}\n{"a":3}');
  p.end();
  assert.deepEqual(out, [[{ a: 1 }, 1], [{ a: 2 }, 3], [{ a: 3 }, 4]]);
  const rows: JsonRecord[] = [];
  const n = await readJsonLines(fileURLToPath(new URL('./fixtures/shop/items.jsonl', import.meta.url)), (o) => rows.push(o));
  assert.equal(n, 2);
  assert.deepEqual(rows[0].tags, ['running', 'trail']);
});

test('JSON Lines: invalid JSON and non-objects are DataErrors with line and column', () => {
  const parse = (text: string): DataError => {
    try {
      const p = new JsonLinesParser('e.jsonl', () => {});
      p.push(text);
      p.end();
    } catch (e) {
      assert.ok(e instanceof DataError);
      return e;
    }
    assert.fail('expected a DataError');
  };
  const e = parse('{"a":1}\n{"a":1\n');
  assert.equal(e.line, 2);
  assert.equal(e.column, 7);
  assert.match(e.message, /^e\.jsonl:2: column 7: invalid JSON: Expected ',' or '}' after property value$/);
  assert.match(parse('\n{"a": tru}\n').message, /^e\.jsonl:2: invalid JSON: Unexpected token '}'$/);
  assert.match(parse('[1,2]\n').message, /e\.jsonl:1: expected a JSON object, found an array/);
});
