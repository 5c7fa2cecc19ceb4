import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Db } from 'mongodb';
import { MANIFEST_FILE } from './backup-layout.js';
import { type BackupSource, localBackupSource } from './backup-source.js';
import { BackupErrorCode, BackupException } from './backup.exception.js';

export type ServerKind = 'mongodb' | 'ferretdb' | 'unknown';

/**
 * `backup.json`, next to the dumps of one database. A dump is not a snapshot: each collection
 * is read at some moment between `startedAt` and `finishedAt`, so that range is what the backup
 * covers. Restore checks the counts against the files, so a missing or replaced file shows.
 */
export interface BackupManifest {
  format: 1;
  database: string;
  /** ISO 8601 instants. */
  startedAt: string;
  finishedAt: string;
  appVersion: string;
  server: { kind: ServerKind; version: string };
  collections: { name: string; documents: number; startedAt: string; finishedAt: string }[];
}

export function serializeManifest(manifest: BackupManifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

/** Which server the database runs on, from `buildInfo` (FerretDB names its own version). */
export async function describeServer(db: Db): Promise<BackupManifest['server']> {
  try {
    const info = await db.admin().command({ buildInfo: 1 });
    const ferretdbVersion: unknown = info.ferretdbVersion;
    if (typeof ferretdbVersion === 'string') {
      return { kind: 'ferretdb', version: ferretdbVersion };
    }
    return { kind: 'mongodb', version: typeof info.version === 'string' ? info.version : '?' };
  } catch {
    // A user without the buildInfo privilege can still back up; the manifest says so.
    return { kind: 'unknown', version: '?' };
  }
}

let cachedAppVersion: string | undefined;

/**
 * The `version` of this application's package.json, found by walking up from this file (it
 * sits at different depths in `src/` and `dist/src/`).
 */
export async function readAppVersion(): Promise<string> {
  if (cachedAppVersion !== undefined) {
    return cachedAppVersion;
  }
  let folder = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const text = await readFile(join(folder, 'package.json'), 'utf8');
      const { version } = JSON.parse(text) as { version?: unknown };
      cachedAppVersion = typeof version === 'string' ? version : '?';
      return cachedAppVersion;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw error;
      }
    }
    const parent = dirname(folder);
    if (parent === folder) {
      cachedAppVersion = '?';
      return cachedAppVersion;
    }
    folder = parent;
  }
}

function unreadable(path: string, reason: string): BackupException {
  return new BackupException(
    BackupErrorCode.MetadataUnreadable,
    `${MANIFEST_FILE} is unreadable (${path}): ${reason}`,
  );
}

const isText = (value: unknown): value is string => typeof value === 'string';
const isInstant = (value: unknown): value is string =>
  isText(value) && !Number.isNaN(Date.parse(value));
const isCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isInteger(value) && value >= 0;

function parseManifest(text: string, path: string): BackupManifest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw unreadable(path, `not JSON (${(error as Error).message})`);
  }
  const manifest = parsed as Partial<Record<keyof BackupManifest, unknown>> | null;
  if (typeof manifest !== 'object' || manifest === null || manifest.format !== 1) {
    throw unreadable(path, 'not a version 1 backup manifest');
  }
  const server = manifest.server as Partial<BackupManifest['server']> | undefined;
  const collections = manifest.collections;
  const valid =
    isText(manifest.database) &&
    isInstant(manifest.startedAt) &&
    isInstant(manifest.finishedAt) &&
    isText(manifest.appVersion) &&
    typeof server === 'object' &&
    isText(server.kind) &&
    isText(server.version) &&
    Array.isArray(collections) &&
    collections.every((entry: Partial<BackupManifest['collections'][number]> | null) => {
      return (
        typeof entry === 'object' &&
        entry !== null &&
        isText(entry.name) &&
        isCount(entry.documents) &&
        isInstant(entry.startedAt) &&
        isInstant(entry.finishedAt)
      );
    });
  if (!valid) {
    throw unreadable(path, 'a field is missing or has the wrong type');
  }
  return manifest as BackupManifest;
}

/** The manifest of a database folder; undefined for backups made before it existed. */
export async function readManifest(
  folder: string,
  source: BackupSource = localBackupSource,
): Promise<BackupManifest | undefined> {
  const path = source.join(folder, MANIFEST_FILE);
  let bytes: Buffer | undefined;
  try {
    bytes = await source.read(path);
  } catch (error) {
    throw unreadable(source.describe(path), (error as Error).message);
  }
  return bytes === undefined
    ? undefined
    : parseManifest(bytes.toString('utf8'), source.describe(path));
}

/**
 * Refuses a backup whose files disagree with its manifest: a collection file missing, added,
 * or holding another number of documents than were dumped.
 */
export function assertMatchesManifest(
  manifest: BackupManifest,
  files: readonly { collection: string; documents: number }[],
  folder: string,
): void {
  const problems: string[] = [];
  const found = new Map(files.map((entry) => [entry.collection, entry.documents]));
  for (const entry of manifest.collections) {
    const documents = found.get(entry.name);
    if (documents === undefined) {
      problems.push(`"${entry.name}" is missing`);
    } else if (documents !== entry.documents) {
      problems.push(`"${entry.name}" holds ${documents} documents, ${entry.documents} were dumped`);
    }
  }
  const listed = new Set(manifest.collections.map((entry) => entry.name));
  for (const entry of files) {
    if (!listed.has(entry.collection)) {
      problems.push(`"${entry.collection}" is not in the manifest`);
    }
  }
  if (problems.length > 0) {
    throw new BackupException(
      BackupErrorCode.DataCorrupt,
      `backup in ${folder} does not match its ${MANIFEST_FILE}: ${problems.join('; ')}`,
    );
  }
}
