import type { Readable } from 'node:stream';
import { CsvError, parse } from 'csv-parse';

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
  /** Told about records with another number of fields than the header. */
  onBadRow: (row: number, reason: string) => void;
}

/** The header is unusable: nothing of the upload may be imported. */
export class CsvHeaderError extends Error {
  override readonly name = 'CsvHeaderError';
}

/**
 * The file cannot be read past some line (a quote never closed, a record longer than allowed):
 * what follows cannot be told apart, so the upload as a whole is refused.
 */
export class CsvFormatError extends Error {
  override readonly name = 'CsvFormatError';
}

/**
 * Reads a CSV upload record by record, never holding more than the parser's buffer (and one
 * record of at most `maxRecordBytes`): the header names the columns (the required one is
 * returned under its lower-case name), records with another number of fields are reported and
 * skipped, blank lines ignored. A file the parser cannot read on throws CsvFormatError.
 */
export async function* csvRows(input: Readable, options: CsvRowsOptions): AsyncGenerator<CsvRow> {
  const parser = input.pipe(
    parse({
      bom: true,
      trim: true,
      skip_empty_lines: true,
      relax_column_count: true,
      max_record_size: options.maxRecordBytes,
      info: true,
    }),
  );
  input.on('error', (error) => parser.destroy(error));
  let header: string[] | undefined;
  for await (const item of readable(parser)) {
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

/** The parser's records; its own errors become CsvFormatError, naming the line. */
async function* readable(
  parser: AsyncIterable<unknown>,
): AsyncGenerator<{ record: string[]; info: { lines: number } }> {
  try {
    for await (const item of parser) {
      yield item as { record: string[]; info: { lines: number } };
    }
  } catch (error) {
    if (error instanceof CsvError) {
      const lines = (error as { lines?: unknown }).lines;
      const where = typeof lines === 'number' ? ` (line ${lines})` : '';
      throw new CsvFormatError(`${error.message}${where}`);
    }
    throw error;
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
