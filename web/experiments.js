// The dashboard's experiments page as a pure function of the public API's JSON (GET /v1/experiments and
// GET /v1/experiments/{name}/report), so node tests render it without a browser.

const escDefault = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const pct = (x) => `${(100 * x).toFixed(2)}%`;
const num = (x) => (Math.abs(x) >= 100 ? x.toFixed(1) : x.toFixed(3));
const pv = (p) => (p < 1e-4 ? p.toExponential(1) : p.toFixed(4));
const ci = (e, f) => `${f(e.value)} <span class="muted">[${f(e.ci[0])}, ${f(e.ci[1])}]</span>`;

/**
 * HTML of the experiments page: per experiment its status, the sample-ratio check, per arm and event
 * type CTR, conversion and value per user with their 95% intervals, the differences from the control
 * with p-values (significant ones marked), and the interleaving result.
 * @param {{experiments: object[], models: object[]}} listing
 * @param {Record<string, object>} reports experiment name -> report (missing: not loaded)
 */
export function experimentsHtml(listing, reports, esc = escDefault) {
  if (!listing.experiments.length) return '<h1>Experiments</h1><p class="muted">No experiments: start the service with <code>--experiments FILE</code> or create one with <code>POST /v1/experiments</code> (docs/experiments.md).</p>';
  const parts = ['<h1>Experiments</h1>'];
  for (const e of listing.experiments) {
    const r = reports[e.name];
    parts.push(`<section class="card experiment" data-experiment="${esc(e.name)}"><h2>${esc(e.name)} <span class="chip">${esc(e.status)}</span></h2>`);
    parts.push(`<p class="muted">from ${esc(e.start)}${e.stop ? ` to ${esc(e.stop)}` : ''}; attribution window ${esc(e.attributionHours)} h; arms: ${e.arms.map((a) => `${esc(a.name)} (${pct(a.share)}, ${a.type === 'interleave' ? 'interleave ' : ''}${a.models.map(esc).join(' | ')}${a.memoryBytes ? `, ${(a.memoryBytes / 2 ** 20).toFixed(1)} MiB` : ''})`).join(', ')}</p>`);
    if (!r) {
      parts.push('<p class="muted">no report</p></section>');
      continue;
    }
    parts.push(`<p class="srm ${r.srm.mismatch ? 'error' : ''}">sample-ratio check: users ${Object.entries(r.srm.observed).map(([k, v]) => `${esc(k)} ${v}`).join(', ')}; chi² ${r.srm.chiSquare.toFixed(2)}, p ${pv(r.srm.pValue)}${r.srm.mismatch ? ' — MISMATCH: users per arm do not match the shares; do not trust the differences' : ' (ok)'}</p>`);
    parts.push('<table class="arms"><thead><tr><th>arm</th><th>event</th><th class="num">users</th><th class="num">exposures</th><th class="num">events</th><th class="num">CTR</th><th class="num">conversion</th><th class="num">value / user</th></tr></thead><tbody>');
    for (const a of r.arms) {
      for (const t of r.types) {
        const m = a.metrics[t];
        parts.push(`<tr data-arm="${esc(a.name)}" data-type="${esc(t)}"><td>${esc(a.name)}</td><td>${esc(t)}</td><td class="num">${a.users}</td><td class="num">${a.exposures}</td><td class="num">${m.events}</td><td class="num">${ci(m.ctr, pct)}</td><td class="num">${ci(m.conversion, pct)}</td><td class="num">${ci(m.valuePerUser, num)}</td></tr>`);
      }
    }
    parts.push('</tbody></table>');
    if (r.differences.length) {
      parts.push('<table class="differences"><thead><tr><th>arm vs control</th><th>event</th><th>metric</th><th class="num">difference [95%]</th><th class="num">relative</th><th class="num">p</th></tr></thead><tbody>');
      for (const d of r.differences) {
        const f = d.metric === 'valuePerUser' ? num : pct;
        const sig = d.pValue < 0.05;
        parts.push(`<tr class="${sig ? (d.diff > 0 ? 'up' : 'down') : ''}" data-significant="${sig ? 1 : 0}"><td>${esc(d.arm)} vs ${esc(d.control)}</td><td>${esc(d.type)}</td><td>${esc(d.metric)}</td><td class="num">${f(d.diff)} <span class="muted">[${f(d.ci[0])}, ${f(d.ci[1])}]</span></td><td class="num">${d.relative === null ? '' : `${(100 * d.relative).toFixed(1)}%`}</td><td class="num">${pv(d.pValue)}</td></tr>`);
      }
      parts.push('</tbody></table>');
    }
    for (const i of r.interleaving) {
      parts.push(`<p class="interleaving" data-type="${esc(i.type)}">interleaving ${esc(i.arm)}, ${esc(i.type)}: wins ${esc(i.teams[0] ?? 'served')} ${i.wins[0]} / ${esc(i.teams[1] ?? 'served')} ${i.wins[1]} (ties ${i.ties}), preference ${i.preference.toFixed(3)}, sign test p ${pv(i.pValue)}${i.winner === null ? '' : ` — ${esc(i.teams[i.winner] ?? 'served')} wins`}</p>`);
    }
    parts.push(`<p class="muted">${esc(r.method)}</p></section>`);
  }
  return parts.join('\n');
}
