/**
 * Prometheus metrics in text exposition format 0.0.4: request counts by route, method and status,
 * latency histograms by route, and gauges read when scraped (index size, model version).
 */

const BUCKETS_MS = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10000];

interface Histogram {
  counts: Float64Array;
  sum: number;
  count: number;
}

function label(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** `{a="1",b="2"}` (sorted by name), or '' without labels. */
function labelText(labels: Record<string, string> | undefined): string {
  if (!labels) return '';
  const keys = Object.keys(labels).sort();
  return keys.length ? `{${keys.map((k) => `${k}="${label(labels[k])}"`).join(',')}}` : '';
}

/**
 * @example const m = new Metrics(); m.observe('GET', '/healthz', 200, 0.4); m.render([{ name: 'tandem_items', help: '...', value: 10 }])
 */
export class Metrics {
  private readonly requests = new Map<string, number>();
  private readonly latency = new Map<string, Histogram>();
  /** Counter name -> its help and its series by label text (`''` for an unlabelled counter). */
  private readonly counters = new Map<string, { help: string; series: Map<string, number> }>();

  /** Records one finished request; `route` is the route pattern (`/v1/items/:id/similar`), not the raw URL. */
  observe(method: string, route: string, status: number, ms: number): void {
    const key = `${method}\u0000${route}\u0000${status}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    const hk = `${method}\u0000${route}`;
    let h = this.latency.get(hk);
    if (!h) {
      h = { counts: new Float64Array(BUCKETS_MS.length), sum: 0, count: 0 };
      this.latency.set(hk, h);
    }
    for (let b = 0; b < BUCKETS_MS.length; b++) if (ms <= BUCKETS_MS[b]) h.counts[b]++;
    h.sum += ms / 1000;
    h.count++;
  }

  /** Adds to a named counter (events stored, reloads, ...), optionally one series of it (`{ stage: 'ease' }`). */
  inc(name: string, help: string, by = 1, labels?: Record<string, string>): void {
    const series = this.series(name, help);
    const key = labelText(labels);
    series.set(key, (series.get(key) ?? 0) + by);
  }

  /** Makes a counter (or one labelled series) appear at 0 before anything counted: scrapers see the series from the start. */
  declare(name: string, help: string, labels?: Record<string, string>): void {
    const series = this.series(name, help);
    const key = labelText(labels);
    if (!series.has(key)) series.set(key, 0);
  }

  /** A counter's value (one series), 0 when never counted. */
  value(name: string, labels?: Record<string, string>): number {
    return this.counters.get(name)?.series.get(labelText(labels)) ?? 0;
  }

  private series(name: string, help: string): Map<string, number> {
    let c = this.counters.get(name);
    if (!c) this.counters.set(name, (c = { help, series: new Map() }));
    return c.series;
  }

  render(gauges: { name: string; help: string; value: number; labels?: Record<string, string> }[]): string {
    const out: string[] = [];
    out.push('# HELP tandem_http_requests_total HTTP requests by route, method and status.', '# TYPE tandem_http_requests_total counter');
    for (const [key, n] of this.requests) {
      const [method, route, status] = key.split('\u0000');
      out.push(`tandem_http_requests_total{method="${method}",route="${label(route)}",status="${status}"} ${n}`);
    }
    out.push('# HELP tandem_http_request_duration_seconds HTTP request latency by route.', '# TYPE tandem_http_request_duration_seconds histogram');
    for (const [key, h] of this.latency) {
      const [method, route] = key.split('\u0000');
      const l = `method="${method}",route="${label(route)}"`;
      BUCKETS_MS.forEach((b, i) => out.push(`tandem_http_request_duration_seconds_bucket{${l},le="${b / 1000}"} ${h.counts[i]}`));
      out.push(`tandem_http_request_duration_seconds_bucket{${l},le="+Inf"} ${h.count}`);
      out.push(`tandem_http_request_duration_seconds_sum{${l}} ${h.sum}`);
      out.push(`tandem_http_request_duration_seconds_count{${l}} ${h.count}`);
    }
    for (const [name, c] of this.counters) {
      out.push(`# HELP ${name} ${c.help}`, `# TYPE ${name} counter`);
      for (const [l, v] of c.series) out.push(`${name}${l} ${v}`);
    }
    for (const g of gauges) {
      const l = g.labels ? `{${Object.entries(g.labels).map(([k, v]) => `${k}="${label(v)}"`).join(',')}}` : '';
      out.push(`# HELP ${g.name} ${g.help}`, `# TYPE ${g.name} gauge`, `${g.name}${l} ${g.value}`);
    }
    return out.join('\n') + '\n';
  }
}
