import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { GetObjectCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalObjectStorage } from '../src/storage/local-object-storage.js';
import {
  InvalidObjectKeyError,
  ObjectNotFoundError,
  type ObjectStorage,
} from '../src/storage/object-storage.js';
import { createS3Client, S3ObjectStorage } from '../src/storage/s3-object-storage.js';
import { createTestBucket, s3Config } from './support/s3.js';

/** A stream that sends `chunks` then fails, as a download cut off half-way would. */
function failingStream(chunks: Buffer[], error: Error): Readable {
  return Readable.from(
    (async function* () {
      for (const chunk of chunks) {
        yield await Promise.resolve(chunk);
      }
      throw error;
    })(),
  );
}

async function keysOf(storage: ObjectStorage, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const entry of storage.list(prefix)) {
    keys.push(entry.key);
  }
  return keys;
}

interface Adapter {
  name: string;
  storage: ObjectStorage;
  /** Objects an interrupted put may have left (local partial files, S3 multipart uploads). */
  leftovers(): Promise<number>;
}

const adapters: Adapter[] = [];
let localRoot: string;
let bucket: string;

beforeAll(async () => {
  localRoot = await mkdtemp(join(tmpdir(), 'ai_calling_storage_'));
  bucket = await createTestBucket('storage');
  const config = s3Config(bucket);
  const client = createS3Client(config);
  adapters.push(
    {
      name: 'local',
      storage: new LocalObjectStorage(localRoot),
      leftovers: async () => (await readdir(join(localRoot, '.partial')).catch(() => [])).length,
    },
    {
      name: 's3',
      storage: new S3ObjectStorage(client, bucket),
      leftovers: async () =>
        (await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads?.length ??
        0,
    },
  );
});

afterAll(async () => {
  await rm(localRoot, { recursive: true, force: true });
});

describe.each(['local', 's3'])('object storage: %s adapter', (name) => {
  const adapter = (): Adapter => {
    const found = adapters.find((candidate) => candidate.name === name);
    if (found === undefined) {
      throw new Error(`adapter ${name} not set up`);
    }
    return found;
  };

  it('stores a stream and gives it back, with its size', async () => {
    const { storage } = adapter();
    const stored = await storage.put(
      'recordings/u1/2026/12/call-1.mp3',
      Readable.from([Buffer.from('ID3'), Buffer.from(' audio')]),
      { contentType: 'audio/mpeg' },
    );
    expect(stored).toEqual({ key: 'recordings/u1/2026/12/call-1.mp3', size: 9 });
    const object = await storage.get('recordings/u1/2026/12/call-1.mp3');
    expect(object.size).toBe(9);
    expect(object.contentType).toBe('audio/mpeg');
    expect(await text(object.body)).toBe('ID3 audio');
    expect(await storage.head('recordings/u1/2026/12/call-1.mp3')).toMatchObject({ size: 9 });
  });

  it('streams a body larger than one multipart part', async () => {
    const { storage } = adapter();
    const part = Buffer.alloc(1024 * 1024, 7);
    const chunks = Array.from({ length: 12 }, () => part);
    const stored = await storage.put('big/twelve-mib.bin', Readable.from(chunks));
    expect(stored.size).toBe(12 * 1024 * 1024);
    expect((await storage.head('big/twelve-mib.bin'))?.size).toBe(12 * 1024 * 1024);
  });

  it('replaces an object only when the new body is complete; a failed put leaves nothing', async () => {
    const { storage } = adapter();
    await storage.put('replace/one.txt', Readable.from([Buffer.from('first')]));
    await expect(
      storage.put(
        'replace/one.txt',
        failingStream([Buffer.alloc(9 * 1024 * 1024, 1)], new Error('carrier went away')),
      ),
    ).rejects.toThrow('carrier went away');
    expect(await text((await storage.get('replace/one.txt')).body)).toBe('first');
    await expect(
      storage.put('replace/never.txt', failingStream([Buffer.from('x')], new Error('cut'))),
    ).rejects.toThrow('cut');
    expect(await storage.head('replace/never.txt')).toBeUndefined();
    expect(await adapter().leftovers()).toBe(0);
  });

  it('lists by prefix in key order and deletes (missing keys are not an error)', async () => {
    const { storage } = adapter();
    for (const key of ['list/b/2.txt', 'list/a/1.txt', 'list/a/0.txt', 'listing/x.txt']) {
      await storage.put(key, Readable.from([Buffer.from(key)]));
    }
    expect(await keysOf(storage, 'list/')).toEqual([
      'list/a/0.txt',
      'list/a/1.txt',
      'list/b/2.txt',
    ]);
    expect(await keysOf(storage, 'list/a/')).toEqual(['list/a/0.txt', 'list/a/1.txt']);
    expect(await keysOf(storage, 'list')).toHaveLength(4);
    await storage.delete(['list/a/0.txt', 'list/b/2.txt', 'list/never-there.txt']);
    expect(await keysOf(storage, 'list/')).toEqual(['list/a/1.txt']);
    expect(await keysOf(storage, 'nothing-here/')).toEqual([]);
  });

  it('answers ObjectNotFoundError for a missing object', async () => {
    const { storage } = adapter();
    await expect(storage.get('missing/none.mp3')).rejects.toBeInstanceOf(ObjectNotFoundError);
    expect(await storage.head('missing/none.mp3')).toBeUndefined();
  });

  it('refuses keys that could leave their folder, and reads nothing for them', async () => {
    const { storage } = adapter();
    for (const key of ['../escape.txt', 'a/../../b', '/absolute', 'a//b', 'a/./b', 'sp ace', '']) {
      await expect(storage.put(key, Readable.from([Buffer.from('x')]))).rejects.toBeInstanceOf(
        InvalidObjectKeyError,
      );
      await expect(storage.get(key)).rejects.toBeInstanceOf(InvalidObjectKeyError);
    }
    await expect(keysOf(storage, '../')).rejects.toBeInstanceOf(InvalidObjectKeyError);
  });
});

describe('object storage: signed URLs', () => {
  it('S3 gives a URL the server honours, and refuses it when tampered with or expired', async () => {
    const storage = adapters.find((candidate) => candidate.name === 's3')?.storage;
    expect(storage).toBeDefined();
    await storage?.put('signed/call.mp3', Readable.from([Buffer.from('recorded audio')]));
    const url = await storage?.signedUrl('signed/call.mp3', {
      expiresInSeconds: 60,
      fileName: 'call "1".mp3',
      contentType: 'audio/mpeg',
    });
    expect(url).toMatch(/X-Amz-Expires=60/);
    const response = await fetch(url ?? '');
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('recorded audio');
    expect(response.headers.get('content-disposition')).toBe('attachment; filename="call__1_.mp3"');

    // The same signature for another key.
    const tampered = (url ?? '').replace('/signed/call.mp3', '/signed/other.mp3');
    expect(tampered).not.toBe(url);
    expect((await fetch(tampered)).status).toBe(403);

    const client = createS3Client(s3Config(bucket));
    const expired = await getSignedUrl(
      client,
      new GetObjectCommand({ Bucket: bucket, Key: 'signed/call.mp3' }),
      { expiresIn: 60, signingDate: new Date(Date.now() - 3_600_000) },
    );
    expect((await fetch(expired)).status).toBe(403);
  });

  it('local storage has no signed URL (the API streams instead)', async () => {
    const storage = adapters.find((candidate) => candidate.name === 'local')?.storage;
    expect(await storage?.signedUrl('signed/call.mp3', { expiresInSeconds: 60 })).toBeUndefined();
  });
});
