import type { Dataset } from '../../data/index.ts';
import type { Recommender } from '../protocol.ts';
import { pipelineDetails, type DetailOptions, type PipelineDetails } from './details.ts';
import { writeReport, type ReportSummary } from './html.ts';

/**
 * Collects each fitted pipeline's report pass, then writes the HTML file: the hook `tandem evaluate
 * --report` uses.
 * @example const b = new ReportBuilder(train, test); b.add('pop', (q, n, ex) => pop.recommend(q, n, ex)); await b.write('r.html', summary)
 */
export class ReportBuilder {
  readonly details: PipelineDetails[] = [];

  constructor(
    private readonly train: Dataset,
    private readonly test: Dataset,
    private readonly opts: DetailOptions = {},
  ) {}

  add(name: string, recommend: Recommender): PipelineDetails {
    const d = pipelineDetails(name, this.train, this.test, recommend, this.opts);
    this.details.push(d);
    return d;
  }

  write(file: string, summary: ReportSummary, command?: string): Promise<void> {
    return writeReport(file, { summary, details: this.details, command });
  }
}
