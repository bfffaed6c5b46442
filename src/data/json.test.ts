import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../math/index.ts';
import { DataError, JsonDocumentParser, parseJsonDocument, parseJsonDocumentReference } from './index.ts';

/** A random JSON value with the characters that trip a scanner: quotes, escapes, brackets and commas inside strings. */
function randomValue(rng: Rng, depth: number): unknown {
  const k = rng.int(depth > 2 ? 4 : 7);
  const strings = ['a', '', 'x,y', ']', '}', '{[', '"q"', 'back\\slash\\', '\\"', 'tab\there', 'line\nbreak', 'ünï', '\u2028', 'end\\'];
  switch (k) {
    case 0:
      return strings[rng.int(strings.length)];
    case 1:
      return rng.int(3) === 0 ? -rng.next() * 1e6 : rng.int(1000);
    case 2:
      return [true, false, null][rng.int(3)];
    case 3:
      return strings[rng.int(strings.length)] + rng.int(10);
    case 4:
    case 5:
      return Array.from({ length: rng.int(4) }, () => randomValue(rng, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let j = rng.int(4); j > 0; j--) o[strings[rng.int(strings.length)] + j] = randomValue(rng, depth + 1);
      return o;
    }
  }
}

/** JSON text with random white space (newlines included) between tokens. */
function randomText(rng: Rng, v: unknown): string {
  const ws = (): string => ['', ' ', '\n', '\r\n  ', '\t'][rng.int(5)];
  if (Array.isArray(v)) return `[${ws()}${v.map((x) => randomText(rng, x)).join(`${ws()},${ws()}`)}${ws()}]`;
  if (v !== null && typeof v === 'object') {
    return `{${ws()}${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}${ws()}:${ws()}${randomText(rng, x)}`).join(`,${ws()}`)}${ws()}}`;
  }
  return JSON.stringify(v);
}

function chunked(text: string, cuts: number[]): { key: string | null; value: unknown; line: number }[] {
  const out: { key: string | null; value: unknown; line: number }[] = [];
  const p = new JsonDocumentParser('<t>', (key, value, line) => out.push({ key, value, line }));
  let at = 0;
  for (const c of [...cuts, text.length]) {
    p.push(text.slice(at, c));
    at = c;
  }
  p.end();
  return out;
}

test('differential: the streaming JSON document parser agrees with JSON.parse of the whole text, cut anywhere', () => {
  const rng = new Rng(16);
  let elements = 0;
  for (let trial = 0; trial < 300; trial++) {
    const n = rng.int(6);
    let doc: unknown;
    if (rng.int(2) === 0) doc = Array.from({ length: n }, () => randomValue(rng, 0));
    else {
      const o: Record<string, unknown> = {};
      for (let j = 0; j < n; j++) o[`id${j}${['', ',', '"', '}', '\\'][rng.int(5)]}`] = randomValue(rng, 0);
      doc = o;
    }
    const text = `${['', '\n', ' \n\n'][rng.int(3)]}${randomText(rng, doc)}${['', '\n', '  \n'][rng.int(3)]}`;
    const want = parseJsonDocumentReference(text);
    const got = parseJsonDocument(text);
    assert.deepEqual(got.map(({ key, value }) => ({ key, value })), want, text);
    elements += got.length;
    // each element's line is the line of its first character
    for (const g of got) assert.ok(g.line >= 1 && g.line <= text.split('\n').length);
    // chunk boundaries anywhere (inside strings, escapes, CRLF) change nothing
    const cuts = Array.from({ length: rng.int(6) }, () => rng.int(text.length + 1)).sort((a, b) => a - b);
    assert.deepEqual(chunked(text, cuts), got, `cut at ${cuts.join(',')}: ${text}`);
  }
  assert.ok(elements > 500, `the trials produced elements (${elements})`);
  const one = '[{"a": "x\\\\"}, "\\"]"]';
  assert.deepEqual(chunked(one, Array.from({ length: one.length }, (_, k) => k)), parseJsonDocument(one), 'one character at a time');
});

test('JSON document elements carry the line where they start', () => {
  const text = '{\n  "i1": ["a", "b"],\n\n  "i2":\n    {"genre": "x",\n     "year": 1999},\n  "i3": [0.5, 1]\n}\n';
  assert.deepEqual(parseJsonDocument(text), [
    { key: 'i1', value: ['a', 'b'], line: 2 },
    { key: 'i2', value: { genre: 'x', year: 1999 }, line: 4 },
    { key: 'i3', value: [0.5, 1], line: 7 },
  ]);
  assert.deepEqual(parseJsonDocument('[]'), []);
  assert.deepEqual(parseJsonDocument(' { } '), []);
  // a key given twice reaches the caller twice (JSON.parse would keep only the last)
  assert.deepEqual(parseJsonDocument('{"a": 1, "a": 2}').map((e) => e.value), [1, 2]);
});

test('JSON document errors: file, line and column; a bad element can be skipped, a broken document cannot', () => {
  const err = (text: string): DataError => {
    try {
      parseJsonDocument(text, 'items.json');
    } catch (e) {
      assert.ok(e instanceof DataError, String(e));
      return e;
    }
    assert.fail('expected a DataError');
  };
  assert.equal(err('{"a": 1}\n{"b": 2}\n').message, "items.json:2: text after the end of the JSON document: '{'");
  assert.match(err('\n"x"').message, /^items\.json:2: expected a JSON array of records or an object keyed by id, found '"' \(a file of one JSON object per line is "format": "jsonl"\)$/);
  assert.equal(err('').message, 'items.json: the file holds no JSON document (expected an array of records or an object keyed by id)');
  assert.equal(err('[\n {"a": 1},\n {"b": "x]').message, "items.json:3: the JSON document ends too early (no closing ']'; a string is not closed)");
  assert.equal(err('{"a": 1]').message, "items.json:1: expected '}' to close the document's top-level object, found ']'");
  assert.equal(err('[1,\n 2,\n]').message, 'items.json:3: a comma before the closing bracket');
  assert.equal(err('[1,\n 2 3]').message, "items.json:2: column 4: invalid JSON: Unexpected non-whitespace character after JSON");
  assert.equal(err('{\n "a": {"x":\n   1 "y": 2}}').message, "items.json:3: column 6: invalid JSON: Expected ',' or '}' after property value");
  // with a handler, bad elements are reported and the rest is read
  const problems: string[] = [];
  const ok: unknown[] = [];
  const p = new JsonDocumentParser('items.json', (_k, v) => ok.push(v), (e) => problems.push(e.message));
  p.push('[{"a": 1},\n {"b": tru},\n ,\n {"c": 3}]');
  p.end();
  assert.deepEqual(ok, [{ a: 1 }, { c: 3 }]);
  assert.deepEqual(problems, ["items.json:2: invalid JSON: Unexpected token '}'", 'items.json:3: an empty element (two commas in a row, or a comma first)']);
});
