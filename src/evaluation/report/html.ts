/**
 * The evaluation report: one self-contained HTML file (uPlot, its CSS, the data and the page script
 * inlined; no network access when opened). Tables and bar charts are static HTML/SVG; the K curves and
 * the popularity curve are uPlot canvases drawn from the inlined data.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { DEFAULT_TABLE_METRICS } from '../table.ts';
import type { PipelineDetails } from './details.ts';

/** The summary `tandem evaluate` returns (structurally its EvaluationReport). */
export interface ReportSummary {
  dataset: { name: string; users: number; items: number; interactions: number; trainInteractions: number; testInteractions: number; evalUsers: number };
  results: { pipeline: string; metrics: Record<string, number>; trainSeconds: number; evalSeconds: number; users: number; fit?: unknown }[];
}

export interface ReportInput {
  summary: ReportSummary;
  details: PipelineDetails[];
  title?: string;
  /** The command line that produced it, shown in the header. */
  command?: string;
  /** ISO time; default now. */
  createdAt?: string;
}

const UPLOT_DIR = fileURLToPath(new URL('../../../node_modules/uplot/dist/', import.meta.url));
const COLORS = ['#2f6fde', '#e67e22', '#16803c', '#8e44ad', '#c0392b', '#7f8c8d', '#b7950b', '#17a589'];

const esc = (s: unknown): string => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
/** Text safe inside a <script> element. */
const scriptSafe = (s: string): string => s.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
const num = (x: number | undefined, d = 4): string => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));

/**
 * Grouped bars as static SVG: one group per label, one bar per series.
 * @example barsSvg(['cold', 'light'], [{ name: 'pop', values: [0.1, 0.2] }], 'ndcg@10')
 */
export function barsSvg(labels: readonly string[], series: readonly { name: string; values: readonly number[] }[], yLabel: string): string {
  const W = 560;
  const H = 240;
  const left = 48;
  const bottom = 40;
  const top = 14;
  const max = Math.max(1e-9, ...series.flatMap((s) => s.values.filter(Number.isFinite)));
  const gw = (W - left - 10) / Math.max(1, labels.length);
  const bw = (gw * 0.8) / Math.max(1, series.length);
  const y = (v: number): number => top + (H - top - bottom) * (1 - v / max);
  const parts: string[] = [];
  for (let t = 0; t <= 4; t++) {
    const v = (max * t) / 4;
    parts.push(`<line x1="${left}" x2="${W - 10}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e3e6ec"/><text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" font-size="11" fill="#667085">${v.toPrecision(2)}</text>`);
  }
  labels.forEach((lab, g) => {
    series.forEach((s, i) => {
      const v = s.values[g];
      if (!Number.isFinite(v)) return;
      const x = left + g * gw + gw * 0.1 + i * bw;
      // a path (not a rect) so a test can find drawn bars as SVG paths
      parts.push(`<path d="M${x.toFixed(1)},${y(0).toFixed(1)}V${y(v).toFixed(1)}H${(x + bw - 1).toFixed(1)}V${y(0).toFixed(1)}Z" fill="${COLORS[i % COLORS.length]}"><title>${esc(s.name)} ${esc(lab)}: ${v.toFixed(4)}</title></path>`);
    });
    parts.push(`<text x="${(left + g * gw + gw / 2).toFixed(1)}" y="${H - bottom + 16}" text-anchor="middle" font-size="12">${esc(lab)}</text>`);
  });
  parts.push(`<text x="12" y="${(H - bottom) / 2}" font-size="11" fill="#667085" transform="rotate(-90 12 ${(H - bottom) / 2})" text-anchor="middle">${esc(yLabel)}</text>`);
  const legend = series.map((s, i) => `<span class="key"><i style="background:${COLORS[i % COLORS.length]}"></i>${esc(s.name)}</span>`).join('');
  return `<figure class="bars"><svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${esc(yLabel)}">${parts.join('')}</svg><figcaption>${legend}</figcaption></figure>`;
}

function table(header: readonly string[], rows: readonly (readonly string[])[], id = '', textCols = 1, wrapLast = false): string {
  const cls = (j: number, n: number): string => (wrapLast && j === n - 1 ? ' class="wrap"' : j >= textCols ? ' class="num"' : '');
  return `<div class="scroll"><table${id ? ` id="${id}"` : ''}><thead><tr>${header.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c, j) => `<td${cls(j, r.length)}>${c}</td>`).join('')}</tr>`).join('')}</tbody></table></div>`;
}

/** `seconds`, `fitSeconds`, `ms`, `p50Ms`: not `params` or `labelItems`. */
const TIMED = /^(seconds|ms)$|[a-z0-9](Seconds|Ms)$/;

/** Numeric `...Seconds` / `...Ms` fields of a pipeline's fit report (and the numbers inside such an object), by path. */
function fitTimings(fit: unknown): [string, number][] {
  const out: [string, number][] = [];
  const walk = (v: unknown, path: string, depth: number, timed: boolean): void => {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || depth > 2) return;
    for (const [k, x] of Object.entries(v)) {
      const p = path ? `${path}.${k}` : k;
      // a number named ...Seconds / ...Ms, or any number inside an object so named ({ seconds: { gbdt: 1.2 } })
      if (typeof x === 'number' && (timed || TIMED.test(k))) out.push([p, x]);
      else walk(x, p, depth + 1, TIMED.test(k));
    }
  };
  walk(fit, '', 0, false);
  return out;
}

/**
 * The report as one HTML string.
 * @example const html = renderReport({ summary: report, details: [pipelineDetails('pop', train, test, rec)] })
 */
export function renderReport(input: ReportInput): string {
  const { summary, details } = input;
  const title = input.title ?? `Tandem evaluation: ${summary.dataset.name}`;
  const created = input.createdAt ?? new Date().toISOString();
  const uplotJs = readFileSync(UPLOT_DIR + 'uPlot.iife.min.js', 'utf8');
  const uplotCss = readFileSync(UPLOT_DIR + 'uPlot.min.css', 'utf8');
  const ds = summary.dataset;
  const byName = new Map(details.map((d) => [d.pipeline, d]));

  // metrics table: the terminal's columns plus anything else every pipeline has (auc), best in bold
  const metricCols = [...DEFAULT_TABLE_METRICS, ...(summary.results.every((r) => r.metrics.auc !== undefined) && summary.results.length ? ['auc'] : [])];
  const best = new Map(metricCols.map((m) => [m, Math.max(...summary.results.map((r) => r.metrics[m] ?? -Infinity))]));
  const metricRows = summary.results.map((r) => [
    esc(r.pipeline),
    ...metricCols.map((m) => (r.metrics[m] !== undefined && r.metrics[m] === best.get(m) && summary.results.length > 1 ? `<b>${num(r.metrics[m])}</b>` : num(r.metrics[m]))),
    String(r.users),
  ]);

  const groupNames = ['cold', 'light', 'heavy'];
  const groupRows = details.flatMap((d) => d.groups.map((g) => [esc(d.pipeline), `${esc(g.name)} <span class="muted">(${esc(g.rule)})</span>`, String(g.users), num(g.metrics['recall@10']), num(g.metrics['ndcg@10']), num(g.metrics['hr@10']), num(g.metrics[`recall@${d.maxK}`])]));
  const maxK = details[0]?.maxK ?? 100;

  const popRows = details.map((d) => [esc(d.pipeline), num(d.coverage['coverage@10']), num(d.coverage[`coverage@${d.maxK}`]), num(d.popularity.meanPercentile, 1), num(d.popularity.testMeanPercentile, 1), num(d.popularity.headShare, 3), num(d.popularity.gini, 3)]);

  const timingRows = summary.results.map((r) => {
    const d = byName.get(r.pipeline);
    const fit = fitTimings(r.fit).map(([k, v]) => `<span class="chip">${esc(k)} ${num(v, 3)}</span>`).join('');
    return [esc(r.pipeline), num(r.trainSeconds, 2), num(r.evalSeconds, 2), d ? num(d.latency.p50Ms, 3) : '–', d ? num(d.latency.p95Ms, 3) : '–', d ? num(d.latency.p99Ms, 3) : '–', d ? String(d.latency.calls) : '–', fit || '<span class="muted">–</span>'];
  });

  const data = {
    pipelines: details.map((d) => d.pipeline),
    k: details[0]?.curves.k ?? [],
    recall: details.map((d) => d.curves.recall),
    ndcg: details.map((d) => d.curves.ndcg),
    deciles: details.map((d) => d.popularity.deciles),
    testDeciles: details[0]?.popularity.testDeciles ?? [],
    colors: COLORS,
  };

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${uplotCss}</style>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;font-size:14px;color:#1d2330;background:#f6f7f9;margin:0}
main{max-width:1200px;margin:0 auto;padding:16px 20px}
h1{font-size:21px;margin:0 0 4px}h2{font-size:16px;margin:26px 0 8px}
.muted{color:#667085}.card{background:#fff;border:1px solid #e3e6ec;border-radius:8px;padding:14px;margin:10px 0}
.grid{display:grid;gap:14px;grid-template-columns:repeat(auto-fit,minmax(420px,1fr))}
.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%}
th,td{padding:5px 8px;border-bottom:1px solid #e3e6ec;text-align:left;white-space:nowrap}th{color:#667085;font-size:12px}
td.num{text-align:right;font-variant-numeric:tabular-nums}td.wrap{white-space:normal;min-width:260px}
.chip{display:inline-block;background:#eef2fb;border-radius:10px;padding:1px 8px;margin:1px;font-size:12px}
figure{margin:0}figcaption{font-size:12px;margin-top:4px}.key{margin-right:12px}.key i{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}
.chart{min-height:260px}
@media (max-width:700px){.grid{grid-template-columns:1fr}main{padding:8px}}
</style></head>
<body><main>
<h1>${esc(title)}</h1>
<p class="muted">${esc(created)}${input.command ? ` · <code>${esc(input.command)}</code>` : ''}</p>
<div class="card">Dataset <b>${esc(ds.name)}</b>: ${ds.users.toLocaleString('en')} users, ${ds.items.toLocaleString('en')} items, ${ds.interactions.toLocaleString('en')} interactions
(${ds.trainInteractions.toLocaleString('en')} train, ${ds.testInteractions.toLocaleString('en')} test); ${ds.evalUsers.toLocaleString('en')} test users scored.
Protocol: every catalog item ranked per user except the user's training items; relevant = the user's positive test items.</div>

<h2>Metrics</h2>
<div class="card">${table(['pipeline', ...metricCols, 'users'], metricRows, 'metrics')}</div>

<h2>Recall@K and NDCG@K, K = 1..${maxK}</h2>
<div class="grid"><div class="card"><div id="chart-recall" class="chart"></div></div><div class="card"><div id="chart-ndcg" class="chart"></div></div></div>

<h2>By user activity</h2>
<p class="muted">Users grouped by the length of their training history: cold (the least active fifth of the scored users, and anyone with 5 events or fewer), heavy (the most active fifth), light (the rest).</p>
<div class="grid"><div class="card">${barsSvg(groupNames, details.map((d) => ({ name: d.pipeline, values: d.groups.map((g) => g.metrics['ndcg@10'] ?? NaN) })), 'ndcg@10')}</div>
<div class="card">${barsSvg(groupNames, details.map((d) => ({ name: d.pipeline, values: d.groups.map((g) => g.metrics['recall@10'] ?? NaN) })), 'recall@10')}</div></div>
<div class="card">${table(['pipeline', 'group', 'users', 'recall@10', 'ndcg@10', 'hr@10', `recall@${maxK}`], groupRows, 'groups', 2)}</div>

<h2>Catalog coverage and popularity bias</h2>
<p class="muted">Popularity percentile: 100 = the catalog's most popular item (by training interactions); the test column is the same for what users really did next. Head share: top-10 slots taken by the 10% most popular items. Gini: inequality of how often items appear in top-10 lists.</p>
<div class="card">${table(['pipeline', 'coverage@10', `coverage@${maxK}`, 'mean pop. percentile @10', 'test items\u2019 percentile', 'head share @10', 'Gini @10'], popRows, 'popularity')}</div>
<div class="card"><div id="chart-deciles" class="chart"></div><p class="muted">Share of top-10 slots per popularity decile of the catalog (1 = the most popular 10% of items), beside the share of relevant test items.</p></div>

<h2>Timing</h2>
<p class="muted">Fit and protocol scoring as <code>tandem evaluate</code> timed them; recommend latency per call from the report's own pass (one call per scored user, ${maxK} items each).</p>
<div class="card">${table(['pipeline', 'fit s', 'scoring s', 'recommend p50 ms', 'p95 ms', 'p99 ms', 'calls', 'fit stages'], timingRows, 'timing', 1, true)}</div>
</main>
<script>${scriptSafe(uplotJs)}</script>
<script type="application/json" id="report-data">${scriptSafe(JSON.stringify(data))}</script>
<script>
(function () {
  var D = JSON.parse(document.getElementById('report-data').textContent);
  function chart(id, title, x, series, xLabel, yLabel, extra) {
    var el = document.getElementById(id);
    var opts = { title: title, width: Math.max(280, el.clientWidth), height: 260, scales: { x: { time: false } },
      axes: [Object.assign({ label: xLabel }, extra || {}), { label: yLabel }],
      series: [{ label: xLabel }].concat(series.map(function (s, i) { return Object.assign({ label: s.label, stroke: D.colors[i % D.colors.length], width: 2, points: { show: false } }, s.style || {}); })) };
    var u = new uPlot(opts, [x].concat(series.map(function (s) { return s.values; })), el);
    window.addEventListener('resize', function () { u.setSize({ width: Math.max(280, el.clientWidth), height: 260 }); });
  }
  var named = function (arr) { return arr.map(function (v, i) { return { label: D.pipelines[i], values: v }; }); };
  chart('chart-recall', 'recall@K', D.k, named(D.recall), 'K', 'recall');
  chart('chart-ndcg', 'NDCG@K', D.k, named(D.ndcg), 'K', 'NDCG');
  var dec = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  chart('chart-deciles', 'share of top-10 slots by popularity decile', dec,
    named(D.deciles).concat([{ label: 'relevant test items', values: D.testDeciles, style: { stroke: '#444', dash: [6, 4] } }]), 'popularity decile', 'share', { incrs: [1] });
})();
</script>
</body></html>
`;
}

/**
 * Writes the report to `file`.
 * @example await writeReport('report.html', { summary: report, details })
 */
export async function writeReport(file: string, input: ReportInput): Promise<void> {
  await writeFile(file, renderReport(input));
}
