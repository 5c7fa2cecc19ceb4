import type { Readable } from 'node:stream';
import { type CsvError, parse } from 'csv-parse';

/** One data record of a CSV upload, by column name; `row` is its line in the file (header = 1). */
export interface CsvRow {
  row: number;
  fields: Record<string, string>;
}

export interface CsvRowsOptions {
  /** A column every upload must have (matched without regard to case). */
  required: string;
  /** Checks the other column names; returns a problem, or undefined when the name is fine. */
  columnProblem?: (name: string) => string | undefined;
  maxColumns: number;
  /** A record longer than this is refused (a hostile file cannot make one huge field). */
  maxRecordBytes: number;
  /** Told about records the parser could not read (unclosed quote, record too long). */
  onBadRow: (row: number, reason: string) => void;
}

/** The header is unusable: nothing of the upload may be imported. */
export class CsvHeaderError extends Error {
  override readonly name = 'CsvHeaderError';
}

/**
 * Reads a CSV upload record by record, never holding more than the parser's buffer: the header
 * names the columns (the required one is returned under its lower-case name), records with
 * another number of fields or unreadable ones are reported and skipped, blank lines ignored.
 */
export async function* csvRows(input: Readable, options: CsvRowsOptions): AsyncGenerator<CsvRow> {
  const parser = input.pipe(
    parse({
      bom: true,
      trim: true,
      skip_empty_lines: true,
      relax_column_count: true,
      skip_records_with_error: true,
      max_record_size: options.maxRecordBytes,
      info: true,
      on_skip: (error: CsvError | undefined) => {
        const lines = (error as { lines?: unknown } | undefined)?.lines;
        options.onBadRow(typeof lines === 'number' ? lines : 0, error?.message ?? 'unreadable');
        return undefined;
      },
    }),
  );
  input.on('error', (error) => parser.destroy(error));
  let header: string[] | undefined;
  for await (const item of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
    const { record, info } = item;
    if (!header) {
      header = checkedHeader(record, options);
      continue;
    }
    if (record.length !== header.length) {
      options.onBadRow(info.lines, `has ${record.length} fields, the header ${header.length}`);
      continue;
    }
    const fields: Record<string, string> = {};
    header.forEach((name, index) => {
      fields[name] = record[index] ?? '';
    });
    yield { row: info.lines, fields };
  }
  if (!header) {
    throw new CsvHeaderError('the file is empty: it needs a header row naming its columns');
  }
}

function checkedHeader(record: string[], options: CsvRowsOptions): string[] {
  if (record.length > options.maxColumns) {
    throw new CsvHeaderError(
      `at most ${options.maxColumns} columns (the header has ${record.length})`,
    );
  }
  const required = options.required.toLowerCase();
  const names = record.map((name) => (name.toLowerCase() === required ? required : name));
  if (!names.includes(required)) {
    throw new CsvHeaderError(`the header row has no "${options.required}" column`);
  }
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) {
      throw new CsvHeaderError(`column "${name}" appears twice`);
    }
    seen.add(name);
    const problem = name === required ? undefined : options.columnProblem?.(name);
    if (problem) {
      throw new CsvHeaderError(`column "${name.slice(0, 80)}": ${problem}`);
    }
  }
  return names;
}
