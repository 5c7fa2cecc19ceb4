import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { BSON, ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BsonStreamError, readBsonGzip, splitBsonDocuments } from './bson-stream.js';

/** A file read as restore reads one from a local backup folder. */
const readBsonGzipFile = (path: string) => readBsonGzip(createReadStream(path));

const documents = [
  { _id: new ObjectId(), name: 'first', nested: { list: [1, 2, 3] } },
  { _id: new ObjectId(), name: 'second', at: new Date('2026-11-20T00:00:00Z') },
  { _id: new ObjectId(), name: 'third', text: 'x'.repeat(5000) },
];
const concatenated = Buffer.concat(documents.map((document) => BSON.serialize(document)));

function* inChunksOf(bytes: Buffer, size: number): Generator<Buffer> {
  for (let start = 0; start < bytes.length; start += size) {
    yield bytes.subarray(start, start + size);
  }
}

async function collect(source: AsyncIterable<Buffer>): Promise<unknown[]> {
  const result: unknown[] = [];
  for await (const raw of source) {
    result.push(BSON.deserialize(raw));
  }
  return result;
}

describe('splitBsonDocuments', () => {
  it.each([1, 3, 4, 5, 7, 64, 4096, 1 << 20])(
    'finds every document whatever the chunk size (%i bytes)',
    async (size) => {
      expect(await collect(splitBsonDocuments(inChunksOf(concatenated, size)))).toEqual(documents);
    },
  );

  it('yields nothing for an empty stream', async () => {
    expect(await collect(splitBsonDocuments(inChunksOf(Buffer.alloc(0), 10)))).toEqual([]);
  });

  it('reports a stream that ends inside a document, with its size', async () => {
    const cut = concatenated.subarray(0, concatenated.length - 100);
    await expect(collect(splitBsonDocuments(inChunksOf(cut, 333)))).rejects.toThrow(
      /truncated: the last document of \d+ bytes at byte \d+ has only \d+ bytes/,
    );
  });

  it('reports a stream that ends inside a length prefix', async () => {
    const cut = concatenated.subarray(0, BSON.serialize(documents[0]!).length + 2);
    await expect(collect(splitBsonDocuments(inChunksOf(cut, 10)))).rejects.toThrow(
      /truncated: the last document at byte \d+ has only 2 bytes/,
    );
  });

  it('refuses bytes that are not BSON', async () => {
    const text = Buffer.from('this is plain text, not BSON at all');
    await expect(collect(splitBsonDocuments(inChunksOf(text, 8)))).rejects.toBeInstanceOf(
      BsonStreamError,
    );
  });

  it('refuses a document whose last byte is not the terminating zero', async () => {
    const damaged = Buffer.from(concatenated);
    const firstLength = damaged.readInt32LE(0);
    damaged[firstLength - 1] = 7;
    await expect(collect(splitBsonDocuments(inChunksOf(damaged, 50)))).rejects.toThrow(
      /does not end where its length says/,
    );
  });
});

describe('readBsonGzip (of a file)', () => {
  let folder: string;

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'bson-stream-spec-'));
  });
  afterAll(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('streams the documents of a .bson.gz file', async () => {
    const file = join(folder, 'ok.bson.gz');
    await writeFile(file, gzipSync(concatenated));
    expect(await collect(readBsonGzipFile(file))).toEqual(documents);
  });

  it('reports a gzip file cut short', async () => {
    const file = join(folder, 'cut.bson.gz');
    const compressed = gzipSync(concatenated);
    await writeFile(file, compressed.subarray(0, Math.floor(compressed.length / 2)));
    await expect(collect(readBsonGzipFile(file))).rejects.toThrow(
      'the gzip file is truncated (unexpected end of file)',
    );
  });

  it('reports a file that is not gzip', async () => {
    const file = join(folder, 'plain.bson.gz');
    await writeFile(file, concatenated);
    await expect(collect(readBsonGzipFile(file))).rejects.toThrow(/not a valid gzip file/);
  });

  it('reports a missing file', async () => {
    await expect(collect(readBsonGzipFile(join(folder, 'missing.bson.gz')))).rejects.toThrow(
      /ENOENT/,
    );
  });
});
