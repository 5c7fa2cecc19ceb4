import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { ObjectNotFoundError, type ObjectStorage } from '../../storage/object-storage.js';

/**
 * Where a backup is read from: a folder on this machine, or a prefix of an object storage
 * bucket holding the same layout (`mongodb/YYYY-MM-DD/<db>/<files>`). Paths are the source's
 * own: file system paths, or object keys without a trailing slash.
 */
export interface BackupSource {
  /** The path as the operator would name it (a folder, `s3://bucket/key`). */
  describe(path: string): string;
  /** The path the operator gave, in the source's own form. */
  normalize(path: string): string;
  join(folder: string, name: string): string;
  basename(path: string): string;
  /** The path's segments, to spot a backup that never finished. */
  segments(path: string): string[];
  kind(path: string): Promise<'folder' | 'file' | 'missing'>;
  /** The files and sub-folders right inside `folder` (hidden ones left out). */
  list(folder: string): Promise<{ files: string[]; folders: string[] }>;
  /** A small file's bytes (manifest, metadata); undefined when it does not exist. */
  read(path: string): Promise<Buffer | undefined>;
  /** A file's bytes as a stream (the data files). */
  open(path: string): Promise<Readable>;
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

export const localBackupSource: BackupSource = {
  describe: (path) => path,
  normalize: (path) => resolve(path),
  join,
  basename,
  segments: (path) => path.split(sep),
  async kind(path) {
    try {
      return (await stat(path)).isDirectory() ? 'folder' : 'file';
    } catch (error) {
      if (isMissing(error)) {
        return 'missing';
      }
      throw error;
    }
  },
  async list(folder) {
    const entries = await readdir(folder, { withFileTypes: true });
    return {
      files: entries.filter((entry) => entry.isFile()).map((entry) => entry.name),
      folders: entries
        .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.'))
        .map((entry) => entry.name),
    };
  },
  async read(path) {
    try {
      return await readFile(path);
    } catch (error) {
      if (isMissing(error)) {
        return undefined;
      }
      throw error;
    }
  },
  open: (path) => Promise.resolve(createReadStream(path, { highWaterMark: 64 * 1024 })),
};

/** A backup under a prefix of object storage, read object by object (streamed). */
export class StorageBackupSource implements BackupSource {
  constructor(private readonly storage: ObjectStorage) {}

  describe(path: string): string {
    return path === '' ? this.storage.location : `${this.storage.location}/${path}`;
  }

  normalize(path: string): string {
    return path.replace(/^\/+|\/+$/g, '');
  }

  join(folder: string, name: string): string {
    return folder === '' ? name : `${folder}/${name}`;
  }

  basename(path: string): string {
    return path.slice(path.lastIndexOf('/') + 1);
  }

  segments(path: string): string[] {
    return path.split('/');
  }

  async kind(path: string): Promise<'folder' | 'file' | 'missing'> {
    for await (const _entry of this.storage.list(path === '' ? '' : `${path}/`)) {
      return 'folder';
    }
    return path !== '' && (await this.storage.head(path)) !== undefined ? 'file' : 'missing';
  }

  async list(folder: string): Promise<{ files: string[]; folders: string[] }> {
    const prefix = folder === '' ? '' : `${folder}/`;
    const files: string[] = [];
    const folders = new Set<string>();
    for await (const entry of this.storage.list(prefix)) {
      const rest = entry.key.slice(prefix.length);
      const slash = rest.indexOf('/');
      if (slash < 0) {
        files.push(rest);
      } else if (!rest.startsWith('.')) {
        folders.add(rest.slice(0, slash));
      }
    }
    return { files, folders: [...folders] };
  }

  async read(path: string): Promise<Buffer | undefined> {
    try {
      return await buffer((await this.storage.get(path)).body);
    } catch (error) {
      if (error instanceof ObjectNotFoundError) {
        return undefined;
      }
      throw error;
    }
  }

  async open(path: string): Promise<Readable> {
    return (await this.storage.get(path)).body;
  }
}
