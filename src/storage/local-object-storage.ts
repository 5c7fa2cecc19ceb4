import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { contentTypeOf } from './content-types.js';
import {
  assertValidKey,
  type ObjectInfo,
  ObjectNotFoundError,
  type ObjectStorage,
  type ObjectStream,
  type StoredObject,
} from './object-storage.js';

/** Objects being written live here until complete; its dot keeps `list` from showing them. */
const PARTIAL_FOLDER = '.partial';

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * Objects as files under one folder (`STORAGE_LOCAL_DIR`, default `.data/storage`): the
 * development default, needing nothing installed. A put writes a partial file and renames it
 * into place, so a reader never sees half an object. No signed URLs: the API streams.
 */
export class LocalObjectStorage implements ObjectStorage {
  readonly driver = 'local';
  readonly location: string;

  constructor(root: string) {
    this.location = resolve(root);
  }

  async put(key: string, body: Readable): Promise<StoredObject> {
    const target = this.pathOf(key);
    const partial = join(this.location, PARTIAL_FOLDER, randomBytes(8).toString('hex'));
    await mkdir(dirname(partial), { recursive: true });
    try {
      await pipeline(body, createWriteStream(partial, { flags: 'wx' }));
      await mkdir(dirname(target), { recursive: true });
      await rename(partial, target);
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    }
    return { key, size: (await stat(target)).size };
  }

  async get(key: string): Promise<ObjectStream> {
    const info = await this.head(key);
    if (info === undefined) {
      throw new ObjectNotFoundError(key);
    }
    return {
      body: createReadStream(this.pathOf(key)),
      size: info.size,
      contentType: contentTypeOf(key),
    };
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const stats = await stat(this.pathOf(key));
      return stats.isFile() ? { key, size: stats.size, lastModified: stats.mtime } : undefined;
    } catch (error) {
      if (isMissing(error)) {
        return undefined;
      }
      throw error;
    }
  }

  signedUrl(): Promise<undefined> {
    return Promise.resolve(undefined);
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    assertValidKey(prefix, { prefix: true });
    // Walk only the folder the prefix lies in; keys are compared as strings like S3 does.
    const folder = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    const found: ObjectInfo[] = [];
    await this.walk(folder === '' ? this.location : this.pathOf(folder), prefix, found);
    found.sort((left, right) => (left.key < right.key ? -1 : left.key > right.key ? 1 : 0));
    yield* found;
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      await rm(this.pathOf(key), { force: true });
    }
  }

  objectUrl(key: string): string {
    return pathToFileURL(this.pathOf(key)).toString();
  }

  private pathOf(key: string): string {
    assertValidKey(key);
    const path = resolve(this.location, key);
    if (!path.startsWith(`${this.location}${sep}`)) {
      throw new ObjectNotFoundError(key);
    }
    return path;
  }

  private async walk(folder: string, prefix: string, found: ObjectInfo[]): Promise<void> {
    let entries;
    try {
      entries = await readdir(folder, { withFileTypes: true });
    } catch (error) {
      if (isMissing(error)) {
        return;
      }
      throw error;
    }
    for (const entry of entries) {
      if (entry.name.startsWith('.')) {
        continue;
      }
      const path = join(folder, entry.name);
      const key = relative(this.location, path).split(sep).join('/');
      if (entry.isDirectory()) {
        if (`${key}/`.startsWith(prefix) || prefix.startsWith(`${key}/`)) {
          await this.walk(path, prefix, found);
        }
      } else if (entry.isFile() && key.startsWith(prefix)) {
        const stats = await stat(path);
        found.push({ key, size: stats.size, lastModified: stats.mtime });
      }
    }
  }
}
