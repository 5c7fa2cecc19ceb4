import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import {
  BSON_FILE_SUFFIX,
  IN_PROGRESS_FOLDER,
  METADATA_FILE_SUFFIX,
  collectionNameFromStem,
} from './backup-layout.js';
import { assertMatchesManifest, type BackupManifest, readManifest } from './backup-manifest.js';
import { BackupErrorCode, BackupException } from './backup.exception.js';
import { BsonStreamError, readBsonGzipFile } from './bson-stream.js';
import {
  type CollectionMetadata,
  MetadataFormatError,
  parseCollectionMetadata,
} from './collection-metadata.js';

const gunzipAsync = promisify(gunzip);

export interface CollectionBackupFiles {
  collection: string;
  bsonFile: string;
  /** Absent when the backup has no metadata file: the data is restored without indexes. */
  metadata?: CollectionMetadata;
  /** Documents in the file, counted while checking it. */
  documents: number;
}

export interface InspectedBackup {
  /** The `<database>` folder whose files are restored. */
  folder: string;
  /** The database the backup was taken from (its folder name). */
  database: string;
  collections: CollectionBackupFiles[];
  /** Absent for backups made before `backup.json` existed, and for mongodump's. */
  manifest?: BackupManifest;
}

async function listFolder(path: string): Promise<{ files: string[]; folders: string[] }> {
  const entries = await readdir(path, { withFileTypes: true });
  return {
    files: entries.filter((entry) => entry.isFile()).map((entry) => entry.name),
    folders: entries
      .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.'))
      .map((entry) => entry.name),
  };
}

const hasBsonFiles = (files: string[]): boolean =>
  files.some((file) => file.endsWith(BSON_FILE_SUFFIX));

async function assertFolder(path: string): Promise<void> {
  let isFolder: boolean;
  try {
    isFolder = (await stat(path)).isDirectory();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new BackupException(BackupErrorCode.FolderNotFound, `backup folder not found: ${path}`);
    }
    throw error;
  }
  if (!isFolder) {
    throw new BackupException(BackupErrorCode.FolderNotFound, `not a backup folder: ${path}`);
  }
}

function nothingToRestore(path: string, files: string[]): BackupException {
  const uncompressed = files.some((file) => file.endsWith('.bson'));
  return new BackupException(
    BackupErrorCode.NothingToRestore,
    uncompressed
      ? `${path} holds uncompressed .bson files; only gzip backups (*.bson.gz, mongodump --gzip) can be restored`
      : `no collection backups (*.bson.gz) in ${path}: give a backup's date folder or its database folder`,
  );
}

/** The database folder: the path itself, or the one database folder of a date folder. */
async function findDatabaseFolder(path: string, preferredDatabase: string): Promise<string> {
  const { files, folders } = await listFolder(path);
  if (hasBsonFiles(files)) {
    return path;
  }
  const candidates: string[] = [];
  for (const folder of folders) {
    if (hasBsonFiles((await listFolder(join(path, folder))).files)) {
      candidates.push(folder);
    }
  }
  const chosen = candidates.includes(preferredDatabase)
    ? preferredDatabase
    : candidates.length === 1
      ? candidates[0]
      : undefined;
  if (chosen !== undefined) {
    return join(path, chosen);
  }
  if (candidates.length > 1) {
    throw new BackupException(
      BackupErrorCode.NothingToRestore,
      `${path} holds backups of several databases (${candidates.join(', ')}): give the folder of the one to restore`,
    );
  }
  throw nothingToRestore(path, files);
}

async function readMetadata(path: string, collection: string): Promise<CollectionMetadata> {
  try {
    const text = (await gunzipAsync(await readFile(path))).toString('utf8');
    return parseCollectionMetadata(text, collection);
  } catch (error) {
    const reason =
      error instanceof MetadataFormatError
        ? error.message
        : `cannot be decompressed (${(error as Error).message})`;
    throw new BackupException(
      BackupErrorCode.MetadataUnreadable,
      `metadata of collection "${collection}" is unreadable (${path}): ${reason}`,
    );
  }
}

async function countDocuments(path: string, collection: string): Promise<number> {
  let documents = 0;
  try {
    for await (const _document of readBsonGzipFile(path)) {
      documents += 1;
    }
  } catch (error) {
    if (error instanceof BsonStreamError) {
      throw new BackupException(
        BackupErrorCode.DataCorrupt,
        `backup of collection "${collection}" is damaged (${path}): ${error.message}`,
      );
    }
    throw error;
  }
  return documents;
}

/**
 * Checks a backup completely before anything touches the database: the folder, every
 * metadata file, and every data file read to its end (a truncated or corrupt file is found
 * here, not half-way through a restore). Accepts a date folder or a database folder.
 */
export async function inspectBackup(
  path: string,
  preferredDatabase: string,
): Promise<InspectedBackup> {
  const requested = resolve(path);
  if (requested.split(sep).includes(IN_PROGRESS_FOLDER)) {
    throw new BackupException(
      BackupErrorCode.NothingToRestore,
      `${requested} is a backup that never finished; it cannot be restored`,
    );
  }
  await assertFolder(requested);
  const folder = await findDatabaseFolder(requested, preferredDatabase);
  const { files } = await listFolder(folder);
  const manifest = await readManifest(folder);
  const collections: CollectionBackupFiles[] = [];
  for (const file of files.filter((name) => name.endsWith(BSON_FILE_SUFFIX)).sort()) {
    const stem = file.slice(0, -BSON_FILE_SUFFIX.length);
    let collection = collectionNameFromStem(stem);
    const metadataFile = `${stem}${METADATA_FILE_SUFFIX}`;
    const metadata = files.includes(metadataFile)
      ? await readMetadata(join(folder, metadataFile), collection)
      : undefined;
    collection = metadata?.collectionName ?? collection;
    const bsonFile = join(folder, file);
    collections.push({
      collection,
      bsonFile,
      ...(metadata === undefined ? {} : { metadata }),
      documents: await countDocuments(bsonFile, collection),
    });
  }
  if (manifest !== undefined) {
    assertMatchesManifest(manifest, collections, folder);
  }
  return {
    folder,
    database: basename(folder),
    collections,
    ...(manifest === undefined ? {} : { manifest }),
  };
}
