import type { Readable } from 'node:stream';
import type {} from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import { ValidationPipe } from '@nestjs/common';
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
  /** Once the file is read: throws FST_REQ_FILE_TOO_LARGE if it was cut at the limit. */
  checkComplete(): void;
}

const FILE_TOO_LARGE = 'FST_REQ_FILE_TOO_LARGE';

/**
 * The CSV file of a multipart upload, as a stream (never buffered). A body announced larger
 * than `maxBytes` is refused before anything is read; for a file that turns out larger, the
 * stream ends at the limit and `checkComplete` throws FST_REQ_FILE_TOO_LARGE (see
 * `isUploadTooLarge`): the caller takes back what it stored.
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
  const file = part.file;
  return {
    file,
    fields,
    checkComplete: () => {
      // Over the limit the stream just ends early: the upload fails instead of a row cut short.
      if (file.truncated) {
        throw Object.assign(new Error('file too large'), { code: FILE_TOO_LARGE });
      }
    },
  };
}

export function isUploadTooLarge(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === FILE_TOO_LARGE;
}

export function tooLarge(maxBytes: number): CampaignsException {
  return new CampaignsException(
    CampaignsErrorCode.CsvTooLarge,
    `The CSV may be at most ${maxBytes} bytes: split it into several uploads`,
    { maxBytes },
  );
}

/** Checks a JSON body the way the global pipe does (the routes that take CSV take JSON too). */
const bodyValidation = new ValidationPipe({
  whitelist: true,
  forbidNonWhitelisted: true,
  transform: true,
  stopAtFirstError: false,
});

/** The request's JSON body as `metatype`, validated (400 with the problems otherwise). */
export async function validatedBody<T extends object>(
  request: FastifyRequest,
  metatype: new () => T,
): Promise<T> {
  return (await bodyValidation.transform(request.body ?? {}, { type: 'body', metatype })) as T;
}
