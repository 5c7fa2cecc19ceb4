import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ObjectStorage } from '../../storage/object-storage.js';
import { MANIFEST_FILE, parseBackupDateName } from './backup-layout.js';

const DAY_MS = 24 * 60 * 60 * 1000;

export interface BackupUploadSummary {
  /** The copy's folder: `s3://bucket/{prefix}mongodb/YYYY-MM-DD/<db>`. */
  location: string;
  files: number;
  bytes: number;
  durationMs: number;
  /** Date folders of the bucket removed by the retention, and kept. */
  removed: string[];
  kept: string[];
}

export interface BackupUploadRequest {
  storage: ObjectStorage;
  /** Key prefix before `mongodb/` (empty or ending in `/`). */
  prefix: string;
  /** The finished local `<date>/<db>` folder. */
  folder: string;
  date: string;
  database: string;
  retentionDays: number;
  now: Date;
}

/**
 * Copies a finished backup into object storage under `{prefix}mongodb/YYYY-MM-DD/<db>/`, the
 * layout it has on disk, file by file as streams (memory stays at the upload's parts). The
 * manifest goes last, so a copy with the new manifest is complete. Then the copy is checked
 * by listing the bucket: every file there with its size on disk, and nothing else (objects of
 * an earlier backup of the same day are removed). Last, date folders older than the
 * retention are deleted from the bucket, as on disk.
 */
export async function uploadBackup(request: BackupUploadRequest): Promise<BackupUploadSummary> {
  const started = Date.now();
  const { storage, folder } = request;
  const base = `${request.prefix}mongodb/${request.date}/${request.database}/`;
  const names = (await readdir(folder, { withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => entry.name)
    .sort((left, right) =>
      left === MANIFEST_FILE ? 1 : right === MANIFEST_FILE ? -1 : left.localeCompare(right),
    );
  const sizes = new Map<string, number>();
  for (const name of names) {
    const path = join(folder, name);
    sizes.set(`${base}${name}`, (await stat(path)).size);
    await storage.put(`${base}${name}`, createReadStream(path));
  }
  const extra: string[] = [];
  const listed = new Map<string, number>();
  for await (const entry of storage.list(base)) {
    if (sizes.has(entry.key)) {
      listed.set(entry.key, entry.size);
    } else {
      extra.push(entry.key);
    }
  }
  const problems = [...sizes].flatMap(([key, size]) => {
    const found = listed.get(key);
    if (found === undefined) {
      return [`${key} is missing`];
    }
    return found === size ? [] : [`${key} holds ${found} bytes, ${size} on disk`];
  });
  if (problems.length > 0) {
    throw new Error(
      `the copy in ${storage.location} does not match the backup: ${problems.join('; ')}`,
    );
  }
  if (extra.length > 0) {
    await storage.delete(extra);
  }
  const retention = await pruneStoredBackups(request);
  return {
    location: `${storage.location}/${base.slice(0, -1)}`,
    files: names.length,
    bytes: [...sizes.values()].reduce((sum, size) => sum + size, 0),
    durationMs: Date.now() - started,
    ...retention,
  };
}

/** Deletes the bucket's date folders older than the retention; other keys are never touched. */
async function pruneStoredBackups(
  request: BackupUploadRequest,
): Promise<{ removed: string[]; kept: string[] }> {
  const { now, storage } = request;
  const root = `${request.prefix}mongodb/`;
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const oldestKept = today - (request.retentionDays - 1) * DAY_MS;
  const doomed: string[] = [];
  const removed = new Set<string>();
  const kept = new Set<string>();
  for await (const entry of storage.list(root)) {
    const name = entry.key.slice(root.length).split('/')[0] ?? '';
    const date = parseBackupDateName(name);
    if (date === undefined) {
      continue;
    }
    if (date.getTime() < oldestKept) {
      doomed.push(entry.key);
      removed.add(name);
    } else {
      kept.add(name);
    }
  }
  if (doomed.length > 0) {
    await storage.delete(doomed);
  }
  return { removed: [...removed].sort(), kept: [...kept].sort() };
}
