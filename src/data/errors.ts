/**
 * Errors of the data layer. Row-level problems carry file, line and column so a user can open the file
 * at the spot; config problems carry the JSON path of the field.
 */

/**
 * One problem in one input row, as data (kept in a LoadReport when bad rows are skipped).
 * `line` and `column` are 1-based, like an editor's; `column` is 0 when the problem is the whole row
 * (or a JSON Lines field, which has a name but no column), `line` 0 when it is the whole file.
 */
export interface DataProblem {
  file: string;
  line: number;
  column: number;
  /** The column's header name, key or configured name, when it has one. */
  columnName?: string;
  message: string;
}

/** Formats a problem as `file:line: column 3 (rating): message` (`field 'rating'` for JSON Lines, which has no columns). */
export function formatProblem(p: DataProblem): string {
  let where = p.line > 0 ? `${p.file}:${p.line}` : p.file;
  if (p.column > 0) where += `: column ${p.column}${p.columnName !== undefined ? ` (${p.columnName})` : ''}`;
  else if (p.columnName !== undefined) where += `: field '${p.columnName}'`;
  return `${where}: ${p.message}`;
}

/**
 * A bad input row or file: the message names file, line and column (1-based) and the column's name.
 * @example throw new DataError({ file: 'u.data', line: 7, column: 3, columnName: 'rating', message: "'x' is not a number" })
 */
export class DataError extends Error {
  override name = 'DataError';
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly columnName: string | undefined;
  /** The message without the location prefix. */
  readonly detail: string;

  constructor(p: DataProblem) {
    super(formatProblem(p));
    this.file = p.file;
    this.line = p.line;
    this.column = p.column;
    this.columnName = p.columnName;
    this.detail = p.message;
  }

  toProblem(): DataProblem {
    const p: DataProblem = { file: this.file, line: this.line, column: this.column, message: this.detail };
    if (this.columnName !== undefined) p.columnName = this.columnName;
    return p;
  }
}

/** One problem in a dataset config: `path` is the JSON path of the field, e.g. `items.features[2].kind`. */
export interface ConfigProblem {
  path: string;
  message: string;
}

/**
 * An invalid dataset config. Lists every problem found, each as `path: message`.
 * @example new ConfigError('shop.json', [{ path: 'items.features[2].kind', message: "unknown kind 'cat'" }])
 */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    readonly file: string | undefined,
    readonly problems: readonly ConfigProblem[],
  ) {
    const lines = problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message));
    const head = file ? `${file}: ` : '';
    super(lines.length === 1 ? head + lines[0] : `${head}${lines.length} problems in the dataset config:\n  ${lines.join('\n  ')}`);
  }
}
