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

/**
 * @example const m = new Metrics(); m.observe('GET', '/healthz', 200, 0.4); m.render([{ name: 'tandem_items', help: '...', value: 10 }])
 */
export class Metrics {
  private readonly requests = new Map<string, number>();
  private readonly latency = new Map<string, Histogram>();
  private readonly counters = new Map<string, { help: string; value: number }>();

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

  /** Adds to a named counter (events stored, reloads, ...). */
  inc(name: string, help: string, by = 1): void {
    const c = this.counters.get(name);
    if (c) c.value += by;
    else this.counters.set(name, { help, value: by });
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
    for (const [name, c] of this.counters) out.push(`# HELP ${name} ${c.help}`, `# TYPE ${name} counter`, `${name} ${c.value}`);
    for (const g of gauges) {
      const l = g.labels ? `{${Object.entries(g.labels).map(([k, v]) => `${k}="${label(v)}"`).join(',')}}` : '';
      out.push(`# HELP ${g.name} ${g.help}`, `# TYPE ${g.name} gauge`, `${g.name}${l} ${g.value}`);
    }
    return out.join('\n') + '\n';
  }
}
