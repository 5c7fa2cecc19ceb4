import { Transform, type Readable } from 'node:stream';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  paginateListObjectsV2,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { S3StorageConfig } from '../config/app-config.js';
import { contentTypeOf } from './content-types.js';
import {
  assertValidKey,
  type ObjectInfo,
  ObjectNotFoundError,
  type ObjectStorage,
  type ObjectStream,
  type PutOptions,
  type SignedUrlOptions,
  type StoredObject,
} from './object-storage.js';

/**
 * Multipart part size, S3's smallest: an upload holds about `PART_BYTES * (UPLOAD_QUEUE + 1)`
 * (the part being filled and those in flight), whatever the object's size.
 */
const PART_BYTES = 5 * 1024 * 1024;
const UPLOAD_QUEUE = 2;
/** DeleteObjects takes at most this many keys. */
const DELETE_BATCH = 1000;

function isNotFound(error: unknown): boolean {
  return (
    error instanceof S3ServiceException &&
    (error.name === 'NoSuchKey' ||
      error.name === 'NotFound' ||
      error.$metadata.httpStatusCode === 404)
  );
}

/** The S3 client for a configuration; credentials come from the standard AWS chain. */
export function createS3Client(config: S3StorageConfig): S3Client {
  return new S3Client({
    region: config.region,
    ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
    forcePathStyle: config.forcePathStyle,
    ...(config.credentials === undefined ? {} : { credentials: config.credentials }),
    // Checksums only where S3 requires them: S3-compatible servers do not all read the
    // trailing checksums the SDK otherwise adds to every upload.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/**
 * Objects in one S3 bucket (AWS, or any S3-compatible server through `S3_ENDPOINT`). Puts are
 * streamed multipart uploads (`@aws-sdk/lib-storage`): the body never sits in memory whole,
 * and a failed upload is aborted so no part stays behind.
 */
export class S3ObjectStorage implements ObjectStorage {
  readonly driver = 's3';
  readonly location: string;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {
    this.location = `s3://${bucket}`;
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<StoredObject> {
    assertValidKey(key);
    let size = 0;
    const counted = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        size += chunk.length;
        callback(null, chunk);
      },
    });
    body.on('error', (error) => counted.destroy(error));
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.bucket,
        Key: key,
        Body: body.pipe(counted),
        ContentType: options.contentType ?? contentTypeOf(key),
      },
      partSize: PART_BYTES,
      queueSize: UPLOAD_QUEUE,
      leavePartsOnError: false,
    });
    const failed = new Promise<never>((_resolve, reject) => {
      counted.once('error', reject);
    });
    try {
      await Promise.race([upload.done(), failed]);
    } catch (error) {
      body.destroy();
      await upload.abort().catch(() => undefined);
      throw error;
    }
    return { key, size };
  }

  async get(key: string): Promise<ObjectStream> {
    assertValidKey(key);
    try {
      const response = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key }),
      );
      const body = response.Body as Readable | undefined;
      if (body === undefined) {
        throw new ObjectNotFoundError(key);
      }
      return {
        body,
        size: response.ContentLength ?? 0,
        ...(response.ContentType === undefined ? {} : { contentType: response.ContentType }),
      };
    } catch (error) {
      if (isNotFound(error)) {
        throw new ObjectNotFoundError(key);
      }
      throw error;
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    assertValidKey(key);
    try {
      const response = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: key }),
      );
      return {
        key,
        size: response.ContentLength ?? 0,
        lastModified: response.LastModified ?? new Date(0),
      };
    } catch (error) {
      if (isNotFound(error)) {
        return undefined;
      }
      throw error;
    }
  }

  signedUrl(key: string, options: SignedUrlOptions): Promise<string> {
    assertValidKey(key);
    const fileName = options.fileName?.replace(/[^A-Za-z0-9._-]/g, '_');
    return getSignedUrl(
      this.client,
      new GetObjectCommand({
        Bucket: this.bucket,
        Key: key,
        ...(fileName === undefined
          ? {}
          : { ResponseContentDisposition: `attachment; filename="${fileName}"` }),
        ...(options.contentType === undefined ? {} : { ResponseContentType: options.contentType }),
      }),
      { expiresIn: options.expiresInSeconds },
    );
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    assertValidKey(prefix, { prefix: true });
    const pages = paginateListObjectsV2(
      { client: this.client },
      { Bucket: this.bucket, ...(prefix === '' ? {} : { Prefix: prefix }) },
    );
    for await (const page of pages) {
      for (const entry of page.Contents ?? []) {
        if (entry.Key !== undefined) {
          yield {
            key: entry.Key,
            size: entry.Size ?? 0,
            lastModified: entry.LastModified ?? new Date(0),
          };
        }
      }
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    keys.forEach((key) => assertValidKey(key));
    for (let start = 0; start < keys.length; start += DELETE_BATCH) {
      const batch = keys.slice(start, start + DELETE_BATCH);
      const response = await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: batch.map((key) => ({ Key: key })), Quiet: true },
        }),
      );
      const failures = (response.Errors ?? []).filter((entry) => entry.Code !== 'NoSuchKey');
      if (failures.length > 0) {
        const [first] = failures;
        throw new Error(
          `${failures.length} object(s) not deleted from ${this.location}, e.g. ${first?.Key ?? '?'}: ${first?.Code ?? ''} ${first?.Message ?? ''}`,
        );
      }
    }
  }

  objectUrl(key: string): string {
    return `${this.location}/${key}`;
  }
}
