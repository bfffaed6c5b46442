/** Plain-text tables for the terminal: evaluation results and the like. */

/** The metric columns `tandem evaluate` prints by default. */
export const DEFAULT_TABLE_METRICS: readonly string[] = ['ndcg@10', 'recall@10', 'recall@20', 'recall@50', 'recall@100', 'hr@10', 'mrr@10', 'precision@10', 'coverage@10'];

/** One table row: a pipeline's metrics and its timings. */
export interface ResultRow {
  pipeline: string;
  metrics: Record<string, number>;
  trainSeconds: number;
  evalSeconds: number;
}

/**
 * Right-aligned columns, a header and a rule; metrics with 4 decimals, seconds with 2.
 * @example console.log(formatResultsTable([{ pipeline: 'popularity', metrics: { 'ndcg@10': 0.11 }, trainSeconds: 0.1, evalSeconds: 0.3 }]))
 */
export function formatResultsTable(rows: readonly ResultRow[], metrics: readonly string[] = DEFAULT_TABLE_METRICS): string {
  const header = ['pipeline', ...metrics, 'train s', 'eval s'];
  const body = rows.map((r) => [
    r.pipeline,
    ...metrics.map((m) => (r.metrics[m] === undefined ? '-' : r.metrics[m].toFixed(4))),
    r.trainSeconds.toFixed(2),
    r.evalSeconds.toFixed(2),
  ]);
  return formatTable(header, body);
}

/** Any table of strings: the first column left-aligned, the others right-aligned. */
export function formatTable(header: readonly string[], body: readonly (readonly string[])[]): string {
  const widths = header.map((h, j) => Math.max(h.length, ...body.map((row) => (row[j] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, j) => (j === 0 ? c.padEnd(widths[j]) : c.padStart(widths[j]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}
