import type { Readable } from 'node:stream';
import type {} from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import { CampaignsErrorCode, CampaignsException } from './campaigns.exception.js';

/** What a multipart body may carry besides its file. */
const MAX_FIELDS = 5;
const MAX_FIELD_BYTES = 1024;
/** The multipart framing around the file. */
const ENVELOPE_BYTES = 64 * 1024;

export interface CsvUpload {
  file: Readable;
  /** The text fields sent before the file. */
  fields: Record<string, string>;
}

/**
 * The CSV file of a multipart upload, as a stream (never buffered). A body announced larger
 * than `maxBytes` is refused before anything is read; one that turns out larger fails the read
 * with FST_REQ_FILE_TOO_LARGE (see `isUploadTooLarge`).
 */
export async function csvUpload(request: FastifyRequest, maxBytes: number): Promise<CsvUpload> {
  const announced = Number(request.headers['content-length'] ?? Number.NaN);
  if (Number.isFinite(announced) && announced > maxBytes + ENVELOPE_BYTES) {
    throw tooLarge(maxBytes);
  }
  const part = await request.file({
    limits: {
      fileSize: maxBytes,
      files: 1,
      fields: MAX_FIELDS,
      fieldSize: MAX_FIELD_BYTES,
      parts: MAX_FIELDS + 1,
    },
  });
  if (!part) {
    throw new CampaignsException(
      CampaignsErrorCode.InvalidCsv,
      'The multipart body has no file: send the CSV as a file part (e.g. field "file")',
    );
  }
  const fields: Record<string, string> = {};
  for (const [name, value] of Object.entries(part.fields)) {
    const field = Array.isArray(value) ? value[0] : value;
    if (field?.type === 'field' && typeof field.value === 'string') {
      fields[name] = field.value;
    }
  }
  return { file: part.file, fields };
}

export function isUploadTooLarge(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'FST_REQ_FILE_TOO_LARGE';
}

export function tooLarge(maxBytes: number): CampaignsException {
  return new CampaignsException(
    CampaignsErrorCode.CsvTooLarge,
    `The CSV may be at most ${maxBytes} bytes: split it into several uploads`,
    { maxBytes },
  );
}
