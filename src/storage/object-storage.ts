import type { Readable } from 'node:stream';

/**
 * Where recordings and backup copies are kept: a bucket of objects named by keys such as
 * `recordings/{userId}/2026/12/{callLogId}.mp3`. Two adapters: the local filesystem
 * (development) and S3 or any S3-compatible server.
 */
export interface ObjectStorage {
  readonly driver: 'local' | 's3';
  /** Where the objects live, for logs and the operator: `s3://bucket` or the folder. */
  readonly location: string;
  /**
   * Streams `body` into the object `key`, replacing any object of that key only once the
   * whole body is stored (a failed or aborted put leaves no object behind).
   */
  put(key: string, body: Readable, options?: PutOptions): Promise<StoredObject>;
  /** The object's bytes as a stream; `ObjectNotFoundError` when there is none. */
  get(key: string): Promise<ObjectStream>;
  /** Size and type of an object, or undefined when there is none. */
  head(key: string): Promise<ObjectInfo | undefined>;
  /**
   * A URL that downloads the object without other credentials until it expires, or undefined
   * when the driver has none (local: the API streams the object itself).
   */
  signedUrl(key: string, options: SignedUrlOptions): Promise<string | undefined>;
  /** Every object whose key starts with `prefix`, in key order, page by page. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Deletes the objects (missing ones are not an error). */
  delete(keys: readonly string[]): Promise<void>;
  /** The address of one object, as an operator would give it to a tool (`s3://b/k`, a path). */
  objectUrl(key: string): string;
}

export interface PutOptions {
  contentType?: string;
}

export interface ObjectInfo {
  key: string;
  size: number;
  lastModified: Date;
}

export interface StoredObject {
  key: string;
  size: number;
}

export interface ObjectStream {
  body: Readable;
  size: number;
  contentType?: string;
}

export interface SignedUrlOptions {
  expiresInSeconds: number;
  /** The name the browser saves the download under. */
  fileName?: string;
  contentType?: string;
}

export class ObjectNotFoundError extends Error {
  override readonly name = 'ObjectNotFoundError';

  constructor(readonly key: string) {
    super(`no object ${key}`);
  }
}

/** A key that could escape its folder, or that no store accepts. */
export class InvalidObjectKeyError extends Error {
  override readonly name = 'InvalidObjectKeyError';
}

const KEY_SEGMENT = /^[A-Za-z0-9._%+=@-]+$/;
const MAX_KEY_BYTES = 1024;

/**
 * Keys are built by us from ids and dates, never taken whole from outside; this check is the
 * last line: relative segments, empty segments, a leading slash or unusual characters are
 * refused, so a key can never name a file outside the local root.
 */
export function assertValidKey(key: string, { prefix = false } = {}): void {
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) {
    throw new InvalidObjectKeyError(`object key longer than ${MAX_KEY_BYTES} bytes`);
  }
  if (key === '' && prefix) {
    return;
  }
  const segments = (prefix && key.endsWith('/') ? key.slice(0, -1) : key).split('/');
  for (const segment of segments) {
    if (segment === '.' || segment === '..' || !KEY_SEGMENT.test(segment)) {
      throw new InvalidObjectKeyError(`invalid object key ${JSON.stringify(key)}`);
    }
  }
}
