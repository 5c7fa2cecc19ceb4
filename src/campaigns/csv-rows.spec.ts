import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { variableNameProblem } from '../calls/call-variables.js';
import {
  CsvFormatError,
  CsvHeaderError,
  type CsvRow,
  type CsvRowsOptions,
  csvRows,
} from './csv-rows.js';

interface BadRow {
  row: number;
  reason: string;
}

/** Reads `input` (chunks, or a stream) to the end: the rows yielded and the bad rows reported. */
async function read(
  input: Array<string | Buffer> | Readable,
  options: Partial<Omit<CsvRowsOptions, 'onBadRow'>> = {},
): Promise<{ rows: CsvRow[]; bad: BadRow[] }> {
  const bad: BadRow[] = [];
  const rows: CsvRow[] = [];
  const stream = input instanceof Readable ? input : Readable.from(input);
  for await (const row of csvRows(stream, {
    required: 'phone',
    columnProblem: variableNameProblem,
    maxColumns: 10,
    maxRecordBytes: 1024,
    onBadRow: (row, reason) => bad.push({ row, reason }),
    ...options,
  })) {
    rows.push(row);
  }
  return { rows, bad };
}

/** Reads `input` expecting it to fail; returns the error and what was yielded before. */
async function failed(
  input: Array<string | Buffer>,
  options: Partial<Omit<CsvRowsOptions, 'onBadRow'>> = {},
): Promise<{ error: Error; rows: CsvRow[] }> {
  const rows: CsvRow[] = [];
  try {
    for await (const row of csvRows(Readable.from(input), {
      required: 'phone',
      maxColumns: 10,
      maxRecordBytes: 1024,
      onBadRow: () => undefined,
      ...options,
    })) {
      rows.push(row);
    }
  } catch (error) {
    return { error: error as Error, rows };
  }
  throw new Error(`the file was read to the end (${rows.length} rows)`);
}

/** Reads `input` expecting the header to be refused; returns the error. */
async function refused(
  input: Array<string | Buffer>,
  options: Partial<Omit<CsvRowsOptions, 'onBadRow'>> = {},
): Promise<{ error: CsvHeaderError; rows: CsvRow[]; bad: BadRow[] }> {
  const rows: CsvRow[] = [];
  const bad: BadRow[] = [];
  try {
    for await (const row of csvRows(Readable.from(input), {
      required: 'phone',
      columnProblem: variableNameProblem,
      maxColumns: 10,
      maxRecordBytes: 1024,
      onBadRow: (line, reason) => bad.push({ row: line, reason }),
      ...options,
    })) {
      rows.push(row);
    }
  } catch (error) {
    expect(error).toBeInstanceOf(CsvHeaderError);
    return { error: error as CsvHeaderError, rows, bad };
  }
  throw new Error(`the header was accepted (${rows.length} rows read)`);
}

describe('csvRows', () => {
  describe('the header', () => {
    it('finds the required column whatever its case and returns it lower-case; other names keep theirs', async () => {
      const { rows, bad } = await read(['PHONE,customerName,Amount\n+919876543210,Asha,100\n']);
      expect(bad).toEqual([]);
      expect(rows).toEqual([
        { row: 2, fields: { phone: '+919876543210', customerName: 'Asha', Amount: '100' } },
      ]);
      const mixed = await read(['Phone\n+919876543210\n'], { required: 'PHONE' });
      expect(mixed.rows).toEqual([{ row: 2, fields: { phone: '+919876543210' } }]);
    });

    it('strips a UTF-8 byte order mark, even one split over two chunks', async () => {
      const whole = await read([Buffer.from('\uFEFFphone,name\n+919876543210,Asha\n', 'utf8')]);
      expect(whole.rows).toEqual([{ row: 2, fields: { phone: '+919876543210', name: 'Asha' } }]);

      const split = await read([
        Buffer.from([0xef, 0xbb]),
        Buffer.concat([Buffer.from([0xbf]), Buffer.from('phone,name\n+919876543210,Asha\n')]),
      ]);
      expect(split.rows).toEqual(whole.rows);
      expect(split.bad).toEqual([]);
    });

    it('takes a header with no data rows as an empty upload', async () => {
      expect(await read(['phone,name\n'])).toEqual({ rows: [], bad: [] });
    });

    it.each([
      ['no required column', ['name,amount\n+919876543210,1\n'], /no "phone" column/],
      ['a column twice', ['phone,name,name\n+919876543210,a,b\n'], /"name" appears twice/],
      [
        'the required column twice in two cases',
        ['phone,Phone\n+919876543210,+919876543211\n'],
        /"phone" appears twice/,
      ],
      ['a name with a space', ['phone,first name\n+919876543210,Asha\n'], /"first name"/],
      ['a name starting with a digit', ['phone,1st\n+919876543210,Asha\n'], /"1st"/],
      ['an empty column name', ['phone,,amount\n+919876543210,a,1\n'], /column ""/],
      ['nothing at all', [], /empty/],
      ['only blank lines', ['\n\r\n  \n'], /empty/],
      ['only a byte order mark', ['\uFEFF'], /empty/],
    ])('refuses %s with a CsvHeaderError, yielding nothing', async (_case, input, message) => {
      const { error, rows, bad } = await refused(input);
      expect(error.message).toMatch(message);
      expect(rows).toEqual([]);
      expect(bad).toEqual([]);
    });

    it('refuses more columns than maxColumns', async () => {
      const { error } = await refused(['phone,a,b,c\n+919876543210,1,2,3\n'], { maxColumns: 3 });
      expect(error.message).toMatch(/at most 3 columns \(the header has 4\)/);
      // Exactly the maximum is fine.
      const { rows } = await read(['phone,a,b\n+919876543210,1,2\n'], { maxColumns: 3 });
      expect(rows).toHaveLength(1);
    });

    it('checks only the other column names with columnProblem', async () => {
      const seen: string[] = [];
      await read(['phone,customerName,amount\n'], {
        required: 'phone',
        columnProblem: (name) => {
          seen.push(name);
          return undefined;
        },
      });
      expect(seen).toEqual(['customerName', 'amount']);
      const { error } = await refused(['phone,amount\n'], {
        columnProblem: (name) => (name === 'amount' ? 'reserved' : undefined),
      });
      expect(error.message).toBe('column "amount": reserved');
    });
  });

  describe('the records', () => {
    it('skips blank and whitespace-only lines but keeps counting lines for the row numbers', async () => {
      const { rows, bad } = await read([
        'phone,name\n\n+919876543210,Asha\n   \n\t\n+919876543211,Ravi\n\n',
      ]);
      expect(bad).toEqual([]);
      expect(rows.map((row) => [row.row, row.fields.name])).toEqual([
        [3, 'Asha'],
        [6, 'Ravi'],
      ]);
    });

    it('reads quoted fields holding commas, doubled quotes and line breaks; later rows keep their line numbers', async () => {
      const { rows, bad } = await read([
        'phone,name,amount\n',
        '+919876543210,"Asha, Jr.","₹1,200"\n',
        '+919876543211,"say ""hi""",5\n',
        '+919876543212,"two\nlines",6\n',
        '+919876543213,Ravi,7\n',
      ]);
      expect(bad).toEqual([]);
      expect(rows).toEqual([
        { row: 2, fields: { phone: '+919876543210', name: 'Asha, Jr.', amount: '₹1,200' } },
        { row: 3, fields: { phone: '+919876543211', name: 'say "hi"', amount: '5' } },
        // A record over two lines (4-5) is numbered by the line it ends on.
        { row: 5, fields: { phone: '+919876543212', name: 'two\nlines', amount: '6' } },
        { row: 6, fields: { phone: '+919876543213', name: 'Ravi', amount: '7' } },
      ]);
    });

    it('trims unquoted fields and reads CRLF files and a last line without a line break', async () => {
      const { rows } = await read(['phone , name\r\n +919876543210 , Asha \r\n+919876543211,Ravi']);
      expect(rows).toEqual([
        { row: 2, fields: { phone: '+919876543210', name: 'Asha' } },
        { row: 3, fields: { phone: '+919876543211', name: 'Ravi' } },
      ]);
    });

    it('reports rows with another number of fields than the header, with their line, and skips them', async () => {
      const { rows, bad } = await read([
        'phone,name,amount\n',
        '+919876543210,Asha,1\n',
        '+919876543211,Ravi\n',
        '+919876543212,Meera,3,extra\n',
        '+919876543213\n',
        '+919876543214,Kiran,5\n',
      ]);
      expect(rows.map((row) => row.row)).toEqual([2, 6]);
      expect(bad).toEqual([
        { row: 3, reason: 'has 2 fields, the header 3' },
        { row: 4, reason: 'has 4 fields, the header 3' },
        { row: 5, reason: 'has 1 fields, the header 3' },
      ]);
    });

    it('yields a row of empty cells as it is (the caller judges the values)', async () => {
      const { rows, bad } = await read(['phone,name\n,\n']);
      expect(bad).toEqual([]);
      expect(rows).toEqual([{ row: 2, fields: { phone: '', name: '' } }]);
    });

    it('refuses a file with a quote left open (the rest cannot be told apart), naming the line', async () => {
      for (const text of [
        'phone,name\n+919876543210,Asha\n+919876543211,"Ravi\n',
        'phone,name\n+919876543210,Asha\n+919876543211,"Ravi\n+919876543212,Meera\n+919876543213,Kiran\n',
      ]) {
        const failure = await failed([text]);
        expect(failure.error).toBeInstanceOf(CsvFormatError);
        expect(failure.error.message).toMatch(/quote/i);
        expect(failure.error.message).toMatch(/line \d+/);
        // Nothing from the open quote on was yielded (rows before it may have been).
        const phones = failure.rows.map((row) => row.fields.phone);
        expect(phones.filter((phone) => phone !== '+919876543210')).toEqual([]);
      }
    });
  });

  describe('chunk boundaries', () => {
    it('reads a file cut into chunks anywhere (inside names, fields, quotes, CRLF) like the whole', async () => {
      const text =
        'phone,customerName,amount\r\n+919876543210,"Asha, Jr.",₹1200\r\n\r\n+919876543211,"multi\nline",7\r\n+919876543212,Ravi,8\r\n';
      const whole = await read([text]);
      expect(whole.bad).toEqual([]);
      expect(whole.rows).toHaveLength(3);
      const bytes = Buffer.from(text, 'utf8');
      for (const size of [1, 2, 3, 5, 7, 13]) {
        const chunks: Buffer[] = [];
        for (let start = 0; start < bytes.length; start += size) {
          chunks.push(bytes.subarray(start, start + size));
        }
        expect(await read(chunks), `chunks of ${size} bytes`).toEqual(whole);
      }
    });

    it('keeps a multi-byte character split between two chunks whole', async () => {
      const bytes = Buffer.from('phone,amount\n+919876543210,₹1200\n', 'utf8');
      const rupee = bytes.indexOf(0xe2);
      const { rows } = await read([bytes.subarray(0, rupee + 1), bytes.subarray(rupee + 1)]);
      expect(rows).toEqual([{ row: 2, fields: { phone: '+919876543210', amount: '₹1200' } }]);
    });
  });

  describe('limits and failures', () => {
    it('refuses a file with a record longer than maxRecordBytes, naming the line', async () => {
      const failure = await failed(
        [
          'phone,name\n+919876543210,Asha\n',
          `+919876543211,${'x'.repeat(500)}\n`,
          '+919876543212,Ravi\n',
        ],
        { maxRecordBytes: 100 },
      );
      expect(failure.error).toBeInstanceOf(CsvFormatError);
      expect(failure.error.message).toMatch(/max record size/i);
      expect(failure.error.message).toMatch(/line 3/);
      const phones = failure.rows.map((row) => row.fields.phone);
      expect(phones.filter((phone) => phone !== '+919876543210')).toEqual([]);
    });

    it('fails with the stream’s own error when the input fails (e.g. the upload limit)', async () => {
      const input = new Readable({ read: () => undefined });
      input.push('phone,name\n+919876543210,Asha\n');
      const tooLarge = Object.assign(new Error('request file too large'), {
        code: 'FST_REQ_FILE_TOO_LARGE',
      });
      setImmediate(() => input.destroy(tooLarge));
      await expect(read(input)).rejects.toBe(tooLarge);
    });
  });
});
