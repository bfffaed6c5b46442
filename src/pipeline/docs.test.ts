import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { engineParameterDocs, syntheticOptionDocs } from './docs.ts';

test('docs/engine.md lists every engine parameter as the schemas declare it', () => {
  const doc = readFileSync(new URL('../../docs/engine.md', import.meta.url), 'utf8');
  const m = /<!-- parameters:start -->\n([\s\S]*?)<!-- parameters:end -->/.exec(doc);
  assert.ok(m, 'docs/engine.md has the parameters section');
  // regenerate with: node --import tsx -e "import('./src/pipeline/index.ts').then((p) => console.log(p.engineParameterDocs()))"
  assert.equal(m[1].trim(), engineParameterDocs().trim());
});

test('docs/evaluation.md lists every synthetic generator option as SYNTHETIC_OPTIONS declares it', () => {
  const doc = readFileSync(new URL('../../docs/evaluation.md', import.meta.url), 'utf8');
  const m = /<!-- synthetic-options:start -->\n([\s\S]*?)<!-- synthetic-options:end -->/.exec(doc);
  assert.ok(m, 'docs/evaluation.md has the synthetic options section');
  // regenerate with: node --import tsx -e "import('./src/pipeline/index.ts').then((p) => console.log(p.syntheticOptionDocs()))"
  assert.equal(m[1].trim(), syntheticOptionDocs().trim());
});
