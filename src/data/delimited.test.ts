import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Rng } from '../math/index.ts';
import { DataError, DelimitedParser, parseDelimited, parseDelimitedReference, readDelimited, type DelimitedOptions } from './index.ts';

const fixture = (p: string): string => fileURLToPath(new URL(`./fixtures/${p}`, import.meta.url));

/** Records each parser path handled, so the differential test can check both ran. */
const paths = { fast: 0, quoted: 0 };

/** Feeds `text` to the streaming parser in chunks cut at the given positions. */
function chunked(text: string, opts: DelimitedOptions, cuts: number[], onError?: (e: DataError) => void): { fields: string[]; line: number }[] {
  const out: { fields: string[]; line: number }[] = [];
  const p = new DelimitedParser(opts, '<text>', (fields, line) => out.push({ fields, line }), onError);
  let at = 0;
  for (const c of [...cuts].sort((a, b) => a - b)) {
    p.push(text.slice(at, c));
    at = c;
  }
  p.push(text.slice(at));
  p.end();
  paths.quoted += p.quotedRecords;
  paths.fast += p.records - p.quotedRecords;
  return out;
}

test('quoted CSV: escaped quotes, separators and newlines inside quotes, CRLF, empty fields', () => {
  const text = 'a,b,c\r\n"x, y","say ""hi""",\r\n"line1\nline2",2,"3"\r\n\r\nlast,"",z';
  const rows = parseDelimited(text, { separator: ',' });
  assert.deepEqual(rows, [
    { fields: ['a', 'b', 'c'], line: 1 },
    { fields: ['x, y', 'say "hi"', ''], line: 2 },
    { fields: ['line1\nline2', '2', '3'], line: 3 },
    { fields: ['last', '', 'z'], line: 6 },
  ]);
});

test('no-header TSV, | and multi-character separators; quotes mid-field are literal; quote: false', () => {
  assert.deepEqual(parseDelimited('1\t2\t3\n4\t5\t6\n', { separator: '\t' }).map((r) => r.fields), [['1', '2', '3'], ['4', '5', '6']]);
  assert.deepEqual(parseDelimited('1::Toy Story::a|b\n', { separator: '::' })[0].fields, ['1', 'Toy Story', 'a|b']);
  assert.deepEqual(parseDelimited('1|He said "no"|x\n', { separator: '|' })[0].fields, ['1', 'He said "no"', 'x']);
  assert.deepEqual(parseDelimited('"a"|"b\n', { separator: '|', quote: false })[0].fields, ['"a"', '"b']);
});

test('a quoted field split across chunks at every position parses the same', () => {
  const text = 'id,title\n1,"Trail Runner 2, ""Storm""\r\nedition"\n2,plain\n3,""""\n';
  const whole = parseDelimitedReference(text, { separator: ',' });
  for (let c = 0; c <= text.length; c++) {
    assert.deepEqual(chunked(text, { separator: ',' }, [c]), whole, `cut at ${c}`);
  }
});

test('malformed quoting is a DataError naming file, line and column', () => {
  const err = (text: string): DataError => {
    try {
      parseDelimited(text, { separator: ',' }, 'bad.csv');
    } catch (e) {
      assert.ok(e instanceof DataError);
      return e;
    }
    assert.fail('expected a DataError');
  };
  const e1 = err('a,b\n1,"open\nstill open\n');
  assert.equal(e1.file, 'bad.csv');
  assert.equal(e1.line, 2);
  assert.equal(e1.column, 2);
  assert.match(e1.message, /^bad\.csv:2: column 2: unterminated quoted field/);
  const e2 = err('a,b\n1,"x"y,3\n');
  assert.equal(e2.line, 2);
  assert.equal(e2.column, 2);
  assert.match(e2.message, /unexpected "y" after a closing quote/);
  // the reference parser agrees on both
  assert.throws(() => parseDelimitedReference('a,b\n1,"open\nstill open\n', { separator: ',' }, 'bad.csv'), /bad\.csv:2: column 2: unterminated/);
  assert.throws(() => parseDelimitedReference('a,b\n1,"x"y,3\n', { separator: ',' }, 'bad.csv'), /bad\.csv:2: column 2: unexpected "y"/);
  // with an error handler: report, skip the bad record, go on
  const problems: string[] = [];
  const rows = parseDelimitedReference('a,b\n1,"x"y,3\n2,ok\n3,"never closed\n4,lost\n', { separator: ',' }, 'bad.csv', (e) => problems.push(e.message));
  assert.deepEqual(rows.map((r) => r.fields), [['a', 'b'], ['2', 'ok']]);
  assert.deepEqual(problems, ['bad.csv:2: column 2: unexpected "y" after a closing quote (expected the separator or the end of the line)', 'bad.csv:4: column 2: unterminated quoted field (no closing quote before the end of the file)']);
  assert.throws(() => new DelimitedParser({ separator: '' }, 'x', () => {}), /non-empty/);
  assert.throws(() => new DelimitedParser({ separator: ',', quote: "''" }, 'x', () => {}), /one character/);
});

test('differential: the streaming parser agrees with the reference on random text and random chunking', () => {
  const rng = new Rng(42);
  paths.fast = paths.quoted = 0;
  const alphabet = ['a', 'b', ' ', '"', '""', ',', '::', '\t', '\n', '\r\n', '\r', 'é', 'x"y'];
  const seps = [',', '\t', '::', '|'];
  let checked = 0;
  let recovered = 0;
  for (let trial = 0; trial < 3000; trial++) {
    const sep = seps[rng.int(seps.length)];
    const opts: DelimitedOptions = { separator: sep, quote: rng.int(5) === 0 ? false : '"' };
    let text = '';
    const len = rng.int(40);
    for (let k = 0; k < len; k++) text += rng.int(3) === 0 ? sep : alphabet[rng.int(alphabet.length)];
    let want: unknown;
    try {
      want = parseDelimitedReference(text, opts);
    } catch (e) {
      assert.ok(e instanceof DataError, String(e));
      want = { error: e.line + ':' + e.column };
    }
    const cuts = Array.from({ length: rng.int(4) }, () => rng.int(text.length + 1));
    let got: unknown;
    try {
      got = chunked(text, opts, cuts);
    } catch (e) {
      assert.ok(e instanceof DataError, String(e));
      got = { error: e.line + ':' + e.column };
    }
    assert.deepEqual(got, want, `text ${JSON.stringify(text)} sep ${JSON.stringify(sep)} quote ${opts.quote} cuts ${cuts}`);
    // recovering from malformed quotes: same records, same problems
    const refErrors: string[] = [];
    const fastErrors: string[] = [];
    const refRows = parseDelimitedReference(text, opts, '<text>', (e) => refErrors.push(e.message));
    const fastRows = chunked(text, opts, cuts, (e) => fastErrors.push(e.message));
    assert.deepEqual({ rows: fastRows, errors: fastErrors }, { rows: refRows, errors: refErrors }, `recovering: text ${JSON.stringify(text)} sep ${JSON.stringify(sep)} cuts ${cuts}`);
    recovered += refErrors.length;
    checked++;
  }
  assert.equal(checked, 3000);
  // both paths really ran
  assert.ok(paths.fast > 1000 && paths.quoted > 1000, JSON.stringify(paths));
  assert.ok(recovered > 100, `recovery exercised ${recovered} times`);
});

test('readDelimited streams a file; latin1 decodes u.item titles', async () => {
  const rows: string[][] = [];
  const n = await readDelimited(fixture('ml-100k-mini/u.item'), { separator: '|', encoding: 'latin1', quote: false }, (f) => rows.push(f));
  assert.equal(n, 5);
  assert.equal(rows[2][1], 'Misérables, Les (1995)');
  assert.equal(rows[0].length, 24);
  const items: { fields: string[]; line: number }[] = [];
  await readDelimited(fixture('shop/items.csv'), { separator: ',' }, (fields, line) => items.push({ fields, line }));
  assert.deepEqual(items.map((r) => r.line), [1, 2, 3, 5]);
  assert.equal(items[1].fields[4], 'Trail Runner 2, "Storm" edition');
  assert.equal(items[2].fields[4], 'A Book\r\nIn Two Lines');
  assert.equal(items[3].fields[5], '');
});
