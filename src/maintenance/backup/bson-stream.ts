import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';

/** Smallest BSON document: int32 length + terminating zero byte. */
const MIN_DOCUMENT_BYTES = 5;
/** The server's 16 MiB document limit plus the headroom it allows for internal fields. */
const MAX_DOCUMENT_BYTES = 16 * 1024 * 1024 + 16 * 1024;
const READ_CHUNK_BYTES = 64 * 1024;

/** The bytes are not a clean sequence of BSON documents (truncated, corrupt or not BSON). */
export class BsonStreamError extends Error {}

/**
 * Splits concatenated BSON documents (the `.bson` format of mongodump: each document starts
 * with its int32 little-endian length) into one Buffer per document, whatever the chunk
 * boundaries. A partial document at the end is an error, never silently dropped.
 */
export async function* splitBsonDocuments(
  chunks: AsyncIterable<Buffer> | Iterable<Buffer>,
): AsyncGenerator<Buffer, void, undefined> {
  let pending: Buffer = Buffer.alloc(0);
  let offset = 0;
  for await (const chunk of chunks) {
    const buffer = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let position = 0;
    while (buffer.length - position >= 4) {
      const length = buffer.readInt32LE(position);
      if (length < MIN_DOCUMENT_BYTES || length > MAX_DOCUMENT_BYTES) {
        throw new BsonStreamError(
          `invalid document length ${length} at byte ${offset + position} (not BSON, or corrupt)`,
        );
      }
      if (buffer.length - position < length) {
        break;
      }
      if (buffer[position + length - 1] !== 0) {
        throw new BsonStreamError(
          `document at byte ${offset + position} does not end where its length says (corrupt)`,
        );
      }
      yield buffer.subarray(position, position + length);
      position += length;
    }
    offset += position;
    pending = buffer.subarray(position);
  }
  if (pending.length > 0) {
    const declared = pending.length >= 4 ? `of ${pending.readInt32LE(0)} bytes ` : '';
    throw new BsonStreamError(
      `truncated: the last document ${declared}at byte ${offset} has only ${pending.length} bytes`,
    );
  }
}

function describeGzipError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'Z_BUF_ERROR') {
    return 'the gzip file is truncated (unexpected end of file)';
  }
  if (code === 'Z_DATA_ERROR') {
    return `not a valid gzip file (${(error as Error).message})`;
  }
  return error instanceof Error ? error.message : String(error);
}

/**
 * Reads the BSON documents of a gzip stream (a `.bson.gz` file, an object from storage);
 * memory stays at a few chunks.
 */
export async function* readBsonGzip(source: Readable): AsyncGenerator<Buffer, void, undefined> {
  const gunzip = createGunzip({ chunkSize: READ_CHUNK_BYTES });
  source.on('error', (error) => gunzip.destroy(error));
  source.pipe(gunzip);
  try {
    yield* splitBsonDocuments(gunzip);
  } catch (error) {
    if (error instanceof BsonStreamError) {
      throw error;
    }
    throw new BsonStreamError(describeGzipError(error));
  } finally {
    source.destroy();
    gunzip.destroy();
  }
}
