/** The engine's parameter tables for docs/engine.md, made from the schemas themselves (a test keeps the doc in step). */
import { BUSINESS_PARAMS, RANKER_FEATURE_PARAMS } from '../ranking/index.ts';
import { docsTable } from '../schema/index.ts';
import { ENGINE_PARAMS, RANKER_STAGE_PARAMS, RANKER_TRAINING_PARAMS, STAGE_PARAMS, builtinRegistry } from './engine/index.ts';
import { TWO_STAGE_PARAMS } from './pipelines.ts';
import { SYNTHETIC_OPTIONS } from '../data/index.ts';

/**
 * Markdown: every configurable part of the engine with its parameters (default, range, meaning).
 * @example await writeFile('params.md', engineParameterDocs())
 */
export function engineParameterDocs(): string {
  const r = builtinRegistry();
  const out: string[] = [];
  const sec = (title: string, text: string) => out.push(`### ${title}\n\n${text}\n`);
  sec('Engine', docsTable({ candidates: ENGINE_PARAMS.candidates, maxHistory: ENGINE_PARAMS.maxHistory }));
  sec('A stage (`sources[i]`, `fallbacks[i]`)', docsTable(STAGE_PARAMS));
  for (const k of r.sources.values()) sec(`Source kind \`${k.kind}\``, `${k.description}.\n\n${docsTable(k.params)}`);
  sec('The ranker stage (`ranker`)', docsTable({ kind: RANKER_STAGE_PARAMS.kind, params: RANKER_STAGE_PARAMS.params, explainTop: RANKER_STAGE_PARAMS.explainTop }));
  sec('Ranker training (`ranker.training`)', docsTable(RANKER_TRAINING_PARAMS));
  sec('Ranker features (`ranker.features`)', docsTable(RANKER_FEATURE_PARAMS));
  for (const k of r.rankers.values()) sec(`Ranker kind \`${k.kind}\` (\`ranker.params\`)`, `${k.description}.\n\n${docsTable(k.params)}`);
  sec('Business rules (`business`)', docsTable(BUSINESS_PARAMS));
  sec('The `two-stage` pipeline (`--param` of `tandem train` and `tandem evaluate`)', docsTable(TWO_STAGE_PARAMS));
  return out.join('\n');
}

/**
 * Markdown: the synthetic generator's options (default, range, meaning) for docs/evaluation.md.
 * @example console.log(syntheticOptionDocs())
 */
export function syntheticOptionDocs(): string {
  const rows = Object.entries(SYNTHETIC_OPTIONS).map(([name, o]) => `| \`${name}\` | ${o.default} | ${o.min} – ${o.max}${o.integer ? ', integer' : ''} | ${o.description} |`);
  return ['| option | default | range | meaning |', '|---|---|---|---|', ...rows].join('\n');
}
