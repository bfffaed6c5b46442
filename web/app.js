// Tandem dashboard: plain ES module, no build step. Pages are hash routes (#/user/42) rendered into
// <main>; data comes from the service's read-only /dashboard/api routes and the public /v1 routes.
/* global uPlot */

const main = document.getElementById('main');
let cleanup = () => {};

/** Text -> HTML-safe text (ids and titles come from user data). */
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const fmt = (x, d = 4) => (typeof x === 'number' && Number.isFinite(x) ? (Math.abs(x) >= 1000 ? x.toLocaleString('en') : String(Math.round(x * 10 ** d) / 10 ** d)) : esc(x ?? ''));
const when = (t) => (t ? new Date(t * 1000).toISOString().replace('T', ' ').slice(0, 19) : '');
const day = (t) => (t ? `<span title="${when(t)}">${when(t).slice(0, 10)}</span>` : '');
const itemLink = (id) => `<a href="#/item/${encodeURIComponent(id)}">${esc(id)}</a>`;
const userLink = (id) => `<a href="#/user/${encodeURIComponent(id)}">${esc(id)}</a>`;

async function api(path, init) {
  const res = await fetch(path, init);
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new Error(body?.error?.message ?? body?.message ?? `${res.status} ${res.statusText}`);
  return body;
}

function showError(err) {
  main.insertAdjacentHTML('beforeend', `<p class="error">${esc(err.message ?? err)}</p>`);
}

/**
 * An x axis of whole numbers (epochs): ticks on integers only, at most about eight of them, labelled
 * without decimals; the ticks drawn are kept in `el.dataset.xticks` (the browser tests read them).
 */
function wholeAxis(el, label) {
  return {
    label,
    splits: (u, axisIdx, min, max) => {
      const lo = Math.ceil(min);
      const hi = Math.floor(max);
      const step = Math.max(1, Math.ceil((hi - lo + 1) / 8));
      const ticks = [];
      for (let t = lo; t <= hi; t += step) ticks.push(t);
      el.dataset.xticks = ticks.join(',');
      return ticks;
    },
    values: (u, ticks) => ticks.map((t) => String(Math.round(t))),
  };
}

/** A uPlot line chart in `el` sized to it; returns the plot (resized with the window). */
function lineChart(el, title, x, series, opts = {}) {
  const width = Math.max(260, el.clientWidth - 4);
  const colors = ['#2f6fde', '#e67e22', '#16803c', '#8e44ad', '#c0392b', '#7f8c8d'];
  const plot = new uPlot(
    {
      title,
      width,
      height: opts.height ?? 220,
      // bars are centred on their x: widen the range by half a bar each side so the last one shows whole
      scales: { x: { time: !!opts.time, ...(opts.bars && x.length > 1 ? { range: () => [x[0] - (x[1] - x[0]) / 2, x[x.length - 1] + (x[1] - x[0]) / 2] } : {}) } },
      axes: [opts.wholeX ? wholeAxis(el, opts.xLabel ?? '') : { label: opts.xLabel ?? '' }, { label: opts.yLabel ?? '' }],
      series: [{ label: opts.xLabel ?? 'x' }, ...series.map((s, i) => ({ label: s.label, stroke: colors[i % colors.length], width: 2, points: { show: !opts.bars && x.length < 60 }, ...(opts.bars ? { paths: uPlot.paths.bars({ size: [0.8] }), fill: colors[i % colors.length] + '88' } : {}) }))],
    },
    [x, ...series.map((s) => s.values)],
    el,
  );
  const onResize = () => plot.setSize({ width: Math.max(260, el.clientWidth - 4), height: opts.height ?? 220 });
  window.addEventListener('resize', onResize);
  const prev = cleanup;
  cleanup = () => {
    window.removeEventListener('resize', onResize);
    plot.destroy();
    prev();
  };
  return plot;
}

// ------------------------------------------------------------------ overview

async function overviewPage() {
  const o = await api('/dashboard/api/overview');
  const metrics = Object.entries(o.metrics ?? {});
  main.innerHTML = `
  <h1>Overview</h1>
  <div class="grid">
    <div class="card"><h2>Model</h2><dl class="kv">
      <dt>version</dt><dd id="ov-version">${esc(o.modelVersion)}</dd>
      <dt>created</dt><dd>${esc(o.createdAt)}</dd>
      <dt>Tandem</dt><dd>${esc(o.tandemVersion)}</dd>
      <dt>data</dt><dd>${esc(o.data.name)} <span class="muted">(${esc(o.data.fingerprint.slice(0, 12))})</span></dd></dl></div>
    <div class="card"><h2>Dataset</h2><dl class="kv">
      <dt>users</dt><dd>${fmt(o.data.users)}</dd><dt>items</dt><dd>${fmt(o.data.items)}</dd>
      <dt>interactions</dt><dd>${fmt(o.data.interactions)}</dd>
      <dt>serving items</dt><dd>${fmt(o.stats.items)} <span class="muted">(${fmt(o.stats.deletedItems)} deleted)</span></dd>
      <dt>live users</dt><dd>${fmt(o.stats.liveUsers)}</dd><dt>events applied</dt><dd>${fmt(o.stats.eventsObserved)}</dd></dl></div>
    <div class="card"><h2>Held-out evaluation</h2>${
      metrics.length
        ? `<table id="ov-metrics"><tbody>${metrics.map(([k, v]) => `<tr><td>${esc(k)}</td><td class="num">${fmt(v)}</td></tr>`).join('')}</tbody></table>`
        : '<p class="muted">The manifest has no held-out figures (trained with --holdout 0).</p>'
    }${o.metricsFrom ? `<p class="muted" id="ov-metrics-from">from ${esc(o.metricsFrom)}</p>` : ''}</div>
  </div>
  <div class="card" style="margin-top:14px"><h2>Training curves</h2><div id="ov-curves" class="grid"></div></div>
  <div class="grid" style="margin-top:14px">
    <div class="card scroll"><h2>Candidate sources (L1), ${fmt(o.candidates)} candidates each, and fallbacks</h2><table><thead><tr><th>name</th><th>kind</th><th>role</th><th>weight</th><th>parameters</th></tr></thead><tbody>
      ${o.stages.map((s) => `<tr><td>${esc(s.name)}</td><td>${esc(s.kind)}</td><td>${esc(s.role)}</td><td class="num">${fmt(s.weight)}</td><td>${params(s.params)}</td></tr>`).join('')}
    </tbody></table></div>
    <div class="card"><h2>Ranker (L2)</h2>${o.ranker ? `<dl class="kv"><dt>kind</dt><dd>${esc(o.ranker.kind)}</dd><dt>features</dt><dd>${fmt(o.ranker.features.length)}</dd><dt>parameters</dt><dd>${params(o.ranker.params)}</dd></dl>` : '<p class="muted">No ranker: the fused L1 order is final.</p>'}
      <h2 style="margin-top:12px">Business rules</h2><dl class="kv">
      <dt>exclude seen</dt><dd>${o.business.excludeSeen}</dd><dt>category feature</dt><dd>${esc(o.business.categoryFeature ?? 'the first categorical one')}</dd>
      <dt>boosts</dt><dd>${o.business.boosts.map((b) => `<span class="chip">${esc(b.feature)}=${esc(b.value)} ×${b.factor}</span>`).join('') || '—'}</dd>
      <dt>value feature</dt><dd>${esc(o.business.valueFeature ?? '—')}</dd></dl></div>
    <div class="card"><h2>Schema</h2><dl class="kv">
      <dt>users</dt><dd>${o.schema.users.map((s) => `<span class="chip">${esc(s)}</span>`).join('')}</dd>
      <dt>items</dt><dd>${o.schema.items.map((s) => `<span class="chip">${esc(s)}</span>`).join('')}</dd>
      <dt>events</dt><dd>${o.schema.events.map((s) => `<span class="chip">${esc(s)}</span>`).join('')}</dd></dl></div>
  </div>`;
  const curves = document.getElementById('ov-curves');
  if (!o.trainingHistory.length) {
    curves.innerHTML = '<p class="muted">This model\u2019s manifest records no per-epoch history (loss, validation recall). Models trained by a Tandem that records it show the curves here.</p>';
  }
  for (const h of o.trainingHistory) {
    const keys = [...new Set(h.epochs.flatMap((e) => Object.keys(e)))].filter((k) => k !== 'epoch');
    // losses and quality measures differ in scale: one chart each (throughput and times are left out)
    for (const group of [keys.filter((k) => /loss/i.test(k)), keys.filter((k) => /recall|ndcg|auc|hr|map|mrr|precision/i.test(k))]) {
      if (!group.length) continue;
      const el = document.createElement('div');
      el.className = 'chart';
      curves.appendChild(el);
      lineChart(el, `${h.title}: ${group.join(', ')}`, h.epochs.map((e) => e.epoch), group.map((k) => ({ label: k, values: h.epochs.map((e) => e[k] ?? null) })), { xLabel: 'epoch', wholeX: true });
    }
  }
}

function params(p) {
  const e = Object.entries(p ?? {});
  return e.length ? e.map(([k, v]) => `<span class="chip">${esc(k)}=${esc(typeof v === 'object' ? JSON.stringify(v) : v)}</span>`).join('') : '<span class="muted">defaults</span>';
}

// ------------------------------------------------------------------ user page

function searchForm(id, placeholder, value, listPath, key, go) {
  const html = `<form class="inline" id="${id}-form"><input id="${id}-search" list="${id}-list" placeholder="${esc(placeholder)}" value="${esc(value)}" autocomplete="off" size="28">
    <datalist id="${id}-list"></datalist><button id="${id}-go" type="submit">Show</button><span id="${id}-extra"></span></form>`;
  const wire = () => {
    const input = document.getElementById(`${id}-search`);
    const list = document.getElementById(`${id}-list`);
    let t = 0;
    input.addEventListener('input', () => {
      clearTimeout(t);
      t = setTimeout(async () => {
        try {
          const r = await api(`${listPath}?q=${encodeURIComponent(input.value)}&limit=20`);
          list.innerHTML = r[key].map((x) => (typeof x === 'string' ? `<option value="${esc(x)}">` : `<option value="${esc(x.id)}">${esc(x.title)}</option>`)).join('');
        } catch {
          list.innerHTML = ''; // suggestions are a convenience: the form still works without them
        }
      }, 150);
    });
    document.getElementById(`${id}-form`).addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (input.value.trim()) go(input.value.trim());
    });
  };
  return { html, wire };
}

function recRows(items, l1Rank) {
  return items
    .map((r, i) => {
      let move = '';
      if (l1Rank) {
        const j = l1Rank.get(r.id);
        move = j === undefined ? '<span class="muted">not in L1 top</span>' : j === i ? '<span class="muted">=</span>' : j > i ? `<span class="up">▲${j - i}</span> <span class="muted">(L1 #${j + 1})</span>` : `<span class="down">▼${i - j}</span> <span class="muted">(L1 #${j + 1})</span>`;
      }
      const found = r.foundBy.map((f) => `<span class="chip">${esc(f.source)} #${f.rank}</span>`).join('');
      const feats = r.rankedUpBy.length ? `<div class="raised">raised by ${r.rankedUpBy.map((f) => `<span class="chip feat">${esc(f)}</span>`).join('')}</div>` : '';
      const notes = r.notes.map((n) => `<div class="muted">${esc(n)}</div>`).join('');
      return `<tr data-item="${esc(r.id)}"><td class="num">${i + 1}</td><td>${itemLink(r.id)}</td><td>${esc(r.title)}</td><td>${esc(r.category)}</td>
        <td class="num">${fmt(r.score)}</td><td>${esc(r.source)}</td><td>${found}${feats}${notes}</td>${l1Rank ? `<td>${move}</td>` : ''}</tr>`;
    })
    .join('');
}

async function userPage(id) {
  const form = searchForm('user', 'user id (type to search)', id ?? '', '/dashboard/api/users', 'users', (v) => (location.hash = `#/user/${encodeURIComponent(v)}`));
  main.innerHTML = `<h1>User</h1>${form.html}<div id="user-body"></div>`;
  form.wire();
  if (!id) {
    const r = await api('/dashboard/api/users?limit=12');
    document.getElementById('user-body').innerHTML = `<p class="muted">Some users: ${r.users.map(userLink).join(', ')}</p>`;
    return;
  }
  const compare = sessionStorage.getItem('compareL1') === '1';
  const v = await api(`/dashboard/api/users/${encodeURIComponent(id)}?k=10&history=20`);
  const l1Rank = compare && v.l1 ? new Map(v.l1.map((r, i) => [r.id, i])) : null;
  const feats = v.features ? Object.entries(v.features).map(([k, x]) => `<span class="chip">${esc(k)}=${esc(Array.isArray(x) ? x.join('|') : x)}</span>`).join('') : '<span class="muted">none known</span>';
  // with the comparison on, the two orders stand side by side and the history moves below
  const sideBySide = compare && v.l1;
  const historyCard = `<div class="card scroll"><h2>Recent history <span class="muted">(newest first)</span></h2>
    <table id="history"><thead><tr><th>item</th><th>title</th><th>category</th><th>event</th><th>date</th></tr></thead><tbody>
    ${v.history.map((h) => `<tr data-item="${esc(h.item)}" class="${h.live ? 'new' : ''}"><td>${itemLink(h.item)}</td><td>${esc(h.title)}</td><td>${esc(h.category)}</td><td>${esc(h.type)}${h.live ? ' <span class="chip">live</span>' : ''}</td><td class="num">${day(h.timestamp)}</td></tr>`).join('') || '<tr><td colspan="5" class="muted">no history</td></tr>'}
    </tbody></table></div>`;
  document.getElementById('user-body').innerHTML = `
    <p><b id="user-id">${esc(v.user)}</b> ${v.known ? '' : '<span class="muted">(unknown to the model)</span>'} · features ${feats} · ${fmt(v.historyLength)} events · strategy <span class="chip" id="user-strategy">${esc(v.strategy)}</span></p>
    <div class="toolbar"><label class="toggle"><input type="checkbox" id="compare-l1" ${compare ? 'checked' : ''}> compare the L1-only order with the final order</label>
      <button type="button" id="user-refresh">Refresh</button></div>
    ${compare && !v.hasRanker ? '<p class="note">This model has no L2 ranker: the final order is the fused L1 order after the business rules, so both agree unless a boost or value weight applies.</p>' : ''}
    ${compare && !v.l1 ? `<p class="note">No L1 source ran for this user (strategy ${esc(v.strategy)}): there is no L1 order to compare.</p>` : ''}
    <div class="cols${sideBySide ? ' wide-first' : ''}">
      ${sideBySide ? '' : historyCard}
      <div class="card scroll"><h2>Recommendations <span class="muted">(final order)</span></h2>
        <table id="recs"><thead><tr><th>#</th><th>item</th><th>title</th><th>category</th><th>score</th><th>source</th><th>why</th>${l1Rank ? '<th>vs L1</th>' : ''}</tr></thead>
        <tbody>${recRows(v.recommendations, l1Rank)}</tbody></table></div>
      ${sideBySide ? `<div class="card scroll"><h2>L1-only order <span class="muted">(fused source ranks, no ranker)</span></h2><table id="l1"><thead><tr><th>#</th><th>item</th><th>title</th><th>category</th><th>L1 score</th></tr></thead><tbody>
        ${v.l1.map((r, i) => `<tr data-item="${esc(r.id)}"><td class="num">${i + 1}</td><td>${itemLink(r.id)}</td><td>${esc(r.title)}</td><td>${esc(r.category)}</td><td class="num">${fmt(r.score)}</td></tr>`).join('')}</tbody></table></div>` : ''}
    </div>
    ${sideBySide ? `<div style="margin-top:14px">${historyCard}</div>` : ''}`;
  document.getElementById('compare-l1').addEventListener('change', (ev) => {
    sessionStorage.setItem('compareL1', ev.target.checked ? '1' : '0');
    route();
  });
  document.getElementById('user-refresh').addEventListener('click', () => route());
}

// ------------------------------------------------------------------ item page

async function itemPage(id) {
  const form = searchForm('item', 'item id or title', id ?? '', '/dashboard/api/items', 'items', (v) => (location.hash = `#/item/${encodeURIComponent(v)}`));
  main.innerHTML = `<h1>Item</h1>${form.html}<div id="item-body"></div>`;
  form.wire();
  if (!id) {
    const r = await api('/dashboard/api/form');
    document.getElementById('item-body').innerHTML = `<p class="muted">Most popular: ${r.popular.slice(0, 15).map((p) => `${itemLink(p.id)} ${esc(p.title)}`).join(' · ')}</p>`;
    return;
  }
  const v = await api(`/dashboard/api/items/${encodeURIComponent(id)}?k=10`);
  document.getElementById('item-body').innerHTML = `
    <p><b id="item-id">${esc(v.item)}</b> ${esc(v.title)} <span class="chip">${esc(v.category)}</span> · popularity ${fmt(v.popularity, 1)} ${v.trained ? '' : '<span class="chip">added live</span>'}</p>
    <div class="cols">
      <div>
        <div class="card"><h2>Features</h2><dl class="kv" id="item-features">${Object.entries(v.features).map(([k, x]) => `<dt>${esc(k)}</dt><dd>${x === null ? '<span class="muted">—</span>' : Array.isArray(x) ? x.map((y) => `<span class="chip">${esc(y)}</span>`).join('') : esc(x)}</dd>`).join('')}</dl></div>
        <div class="card" style="margin-top:14px"><h2>Popularity over time <span class="muted">(training interactions per period)</span></h2><div id="item-chart" class="chart"></div></div>
      </div>
      <div class="card scroll"><h2>Similar items <span class="muted">(${esc(v.similarStrategy)})</span></h2>
        <table id="similar"><thead><tr><th>#</th><th>item</th><th>title</th><th>category</th><th>score</th><th>why</th></tr></thead><tbody>
        ${v.similar.map((s, i) => `<tr data-item="${esc(s.id)}"><td class="num">${i + 1}</td><td>${itemLink(s.id)}</td><td>${esc(s.title)}</td><td>${esc(s.category)}</td><td class="num">${fmt(s.score)}</td><td class="muted">${esc(s.explanation)}</td></tr>`).join('') || '<tr><td colspan="6" class="muted">none</td></tr>'}
        </tbody></table></div>
    </div>`;
  lineChart(document.getElementById('item-chart'), '', v.timeline.start, [{ label: 'interactions', values: v.timeline.count }], { time: true, bars: true, xLabel: 'time' });
}

// ------------------------------------------------------------------ live

async function livePage() {
  main.innerHTML = `<h1>Live</h1>
    <div class="grid">
      <div class="card"><h2>Events per second</h2><div class="big" id="live-rate">–</div><div class="muted" id="live-applied"></div></div>
      <div class="card"><h2>Serving</h2><div class="muted" id="live-serving"></div></div>
    </div>
    <div class="card" style="margin-top:14px"><div id="live-chart" class="chart"></div></div>
    <div class="card scroll" style="margin-top:14px"><h2>Latest events</h2><table id="live-events"><thead><tr><th>received</th><th>user</th><th>item</th><th>type</th><th>value</th></tr></thead><tbody></tbody></table></div>`;
  const plot = lineChart(document.getElementById('live-chart'), 'events applied per second', [], [{ label: 'events/s', values: [] }], { time: true, xLabel: 'time' });
  const render = (s) => {
    document.getElementById('live-rate').textContent = s.perSecond.toLocaleString('en');
    document.getElementById('live-applied').textContent = `${s.eventsApplied.toLocaleString('en')} events applied since the model was loaded`;
    document.getElementById('live-serving').textContent = `model ${s.modelVersion} · ${s.items.toLocaleString('en')} items · ${s.liveUsers.toLocaleString('en')} live users`;
    plot.setData([s.series.t, s.series.perSecond]);
    document.querySelector('#live-events tbody').innerHTML =
      s.latest.map((e) => `<tr><td class="num">${when(e.received)}</td><td>${userLink(e.user)}</td><td>${itemLink(e.item)}</td><td>${esc(e.type)}</td><td class="num">${fmt(e.value)}</td></tr>`).join('') || '<tr><td colspan="5" class="muted">no events in the last minute</td></tr>';
  };
  const src = new EventSource('/dashboard/api/live');
  src.onmessage = (m) => render(JSON.parse(m.data));
  const prev = cleanup;
  cleanup = () => {
    src.close();
    prev();
  };
}

// ------------------------------------------------------------------ try a new user

async function tryPage() {
  const f = await api('/dashboard/api/form');
  main.innerHTML = `<h1>Try a new user</h1>
    <p class="muted">Pick features and a few liked items; the recommendations below update as you change them (POST /v1/recommendations, nothing is stored).</p>
    <div class="cols">
      <div class="card"><h2>Features</h2><form id="try-form"><dl class="kv">
        ${f.features.map((x) => `<dt>${esc(x.name)}</dt><dd>${x.kind === 'categorical' ? `<select name="${esc(x.name)}" data-kind="categorical"><option value="">(any)</option>${x.values.map((v) => `<option>${esc(v)}</option>`).join('')}</select>` : `<input name="${esc(x.name)}" data-kind="numeric" type="number" min="${x.min}" max="${x.max}" placeholder="${x.min}–${x.max}">`}</dd>`).join('')}
        </dl>
        <h2 style="margin-top:12px">Liked items</h2>
        <div class="picks" id="try-picks">${f.popular.map((p) => `<label><input type="checkbox" value="${esc(p.id)}"> ${esc(p.id)} <span class="muted">${esc(p.title)} · ${esc(p.category)}</span></label>`).join('')}</div>
      </form></div>
      <div class="card scroll"><h2>Recommendations <span class="muted" id="try-strategy"></span></h2>
        <table id="try-recs"><thead><tr><th>#</th><th>item</th><th>title</th><th>category</th><th>score</th><th>source</th><th>why</th></tr></thead><tbody></tbody></table></div>
    </div>`;
  const form = document.getElementById('try-form');
  let seq = 0;
  const update = async () => {
    const features = {};
    for (const el of form.querySelectorAll('[data-kind]')) {
      if (el.value === '') continue;
      features[el.name] = el.dataset.kind === 'numeric' ? Number(el.value) : el.value;
    }
    const recent = [...form.querySelectorAll('#try-picks input:checked')].map((x) => x.value);
    const mine = ++seq;
    try {
      const r = await api('/v1/recommendations', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ features, recent, k: 10 }) });
      if (mine !== seq) return; // a newer request is on its way
      document.getElementById('try-strategy').textContent = `(strategy ${r.strategy})`;
      const d = await api(`/dashboard/api/describe?items=${r.items.map((it) => encodeURIComponent(it.id)).join(',')}`);
      if (mine !== seq) return;
      const titles = new Map(d.items.map((p) => [p.id, p]));
      document.querySelector('#try-recs tbody').innerHTML = r.items
        .map((it, i) => `<tr data-item="${esc(it.id)}"><td class="num">${i + 1}</td><td>${itemLink(it.id)}</td><td>${esc(titles.get(it.id)?.title ?? '')}</td><td>${esc(titles.get(it.id)?.category ?? '')}</td><td class="num">${fmt(it.score)}</td><td>${esc(it.source)}</td><td class="muted">${esc(it.explanation)}</td></tr>`)
        .join('');
    } catch (err) {
      document.querySelector('#try-recs tbody').innerHTML = `<tr><td colspan="7" class="error">${esc(err.message)}</td></tr>`;
    }
  };
  form.addEventListener('change', update);
  form.addEventListener('input', update);
  await update();
}

// ------------------------------------------------------------------ experiments

async function experimentsPage() {
  const { experimentsHtml } = await import('/dashboard/experiments.js');
  const listing = await api('/v1/experiments');
  const reports = {};
  for (const e of listing.experiments) reports[e.name] = await api(`/v1/experiments/${encodeURIComponent(e.name)}/report`).catch(() => null);
  main.innerHTML = experimentsHtml(listing, reports, esc);
}

// ------------------------------------------------------------------ router

async function route() {
  cleanup();
  cleanup = () => {};
  const [, page = 'overview', arg] = location.hash.split('/');
  const id = arg ? decodeURIComponent(arg) : null;
  for (const a of document.querySelectorAll('header nav a')) a.classList.toggle('active', a.dataset.page === page);
  main.dataset.page = page;
  main.dataset.ready = '0';
  try {
    if (page === 'user') await userPage(id);
    else if (page === 'item') await itemPage(id);
    else if (page === 'live') await livePage();
    else if (page === 'try') await tryPage();
    else if (page === 'experiments') await experimentsPage();
    else await overviewPage();
  } catch (err) {
    showError(err);
  }
  // tests and screenshots wait for this
  main.dataset.ready = '1';
}

window.addEventListener('hashchange', route);
api('/dashboard/api/overview').then((o) => (document.getElementById('model-version').textContent = `model ${o.modelVersion}`), () => {});
route();
