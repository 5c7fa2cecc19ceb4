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
import { type BackupSource, localBackupSource } from './backup-source.js';
import { BsonStreamError, readBsonGzip } from './bson-stream.js';
import {
  type CollectionMetadata,
  MetadataFormatError,
  parseCollectionMetadata,
} from './collection-metadata.js';

const gunzipAsync = promisify(gunzip);

export interface CollectionBackupFiles {
  collection: string;
  /** The data file, a path of the backup's source. */
  bsonFile: string;
  /** Absent when the backup has no metadata file: the data is restored without indexes. */
  metadata?: CollectionMetadata;
  /** Documents in the file, counted while checking it. */
  documents: number;
}

export interface InspectedBackup {
  /** The `<database>` folder whose files are restored, as the operator names it. */
  folder: string;
  /** The database the backup was taken from (its folder name). */
  database: string;
  collections: CollectionBackupFiles[];
  /** Absent for backups made before `backup.json` existed, and for mongodump's. */
  manifest?: BackupManifest;
  /** Where the files are read from (a local folder, object storage). */
  source: BackupSource;
}

const hasBsonFiles = (files: string[]): boolean =>
  files.some((file) => file.endsWith(BSON_FILE_SUFFIX));

async function assertFolder(source: BackupSource, path: string): Promise<void> {
  const kind = await source.kind(path);
  if (kind === 'missing') {
    throw new BackupException(
      BackupErrorCode.FolderNotFound,
      `backup folder not found: ${source.describe(path)}`,
    );
  }
  if (kind !== 'folder') {
    throw new BackupException(
      BackupErrorCode.FolderNotFound,
      `not a backup folder: ${source.describe(path)}`,
    );
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
async function findDatabaseFolder(
  source: BackupSource,
  path: string,
  preferredDatabase: string,
): Promise<string> {
  const { files, folders } = await source.list(path);
  if (hasBsonFiles(files)) {
    return path;
  }
  const candidates: string[] = [];
  for (const folder of folders) {
    if (hasBsonFiles((await source.list(source.join(path, folder))).files)) {
      candidates.push(folder);
    }
  }
  const chosen = candidates.includes(preferredDatabase)
    ? preferredDatabase
    : candidates.length === 1
      ? candidates[0]
      : undefined;
  if (chosen !== undefined) {
    return source.join(path, chosen);
  }
  if (candidates.length > 1) {
    throw new BackupException(
      BackupErrorCode.NothingToRestore,
      `${source.describe(path)} holds backups of several databases (${candidates.join(', ')}): give the folder of the one to restore`,
    );
  }
  throw nothingToRestore(source.describe(path), files);
}

async function readMetadata(
  source: BackupSource,
  path: string,
  collection: string,
): Promise<CollectionMetadata> {
  try {
    const bytes = await source.read(path);
    if (bytes === undefined) {
      throw new Error('the file is gone');
    }
    const text = (await gunzipAsync(bytes)).toString('utf8');
    return parseCollectionMetadata(text, collection);
  } catch (error) {
    const reason =
      error instanceof MetadataFormatError
        ? error.message
        : `cannot be decompressed (${(error as Error).message})`;
    throw new BackupException(
      BackupErrorCode.MetadataUnreadable,
      `metadata of collection "${collection}" is unreadable (${source.describe(path)}): ${reason}`,
    );
  }
}

async function countDocuments(
  source: BackupSource,
  path: string,
  collection: string,
): Promise<number> {
  let documents = 0;
  try {
    for await (const _document of readBsonGzip(await source.open(path))) {
      documents += 1;
    }
  } catch (error) {
    if (error instanceof BsonStreamError) {
      throw new BackupException(
        BackupErrorCode.DataCorrupt,
        `backup of collection "${collection}" is damaged (${source.describe(path)}): ${error.message}`,
      );
    }
    throw error;
  }
  return documents;
}

/**
 * Checks a backup completely before anything touches the database: the folder, every
 * metadata file, and every data file read to its end (a truncated or corrupt file is found
 * here, not half-way through a restore). Accepts a date folder or a database folder, on this
 * machine or in object storage (`source`).
 */
export async function inspectBackup(
  path: string,
  preferredDatabase: string,
  source: BackupSource = localBackupSource,
): Promise<InspectedBackup> {
  const requested = source.normalize(path);
  if (source.segments(requested).includes(IN_PROGRESS_FOLDER)) {
    throw new BackupException(
      BackupErrorCode.NothingToRestore,
      `${source.describe(requested)} is a backup that never finished; it cannot be restored`,
    );
  }
  await assertFolder(source, requested);
  const folder = await findDatabaseFolder(source, requested, preferredDatabase);
  const { files } = await source.list(folder);
  const manifest = await readManifest(folder, source);
  const collections: CollectionBackupFiles[] = [];
  for (const file of files.filter((name) => name.endsWith(BSON_FILE_SUFFIX)).sort()) {
    const stem = file.slice(0, -BSON_FILE_SUFFIX.length);
    let collection = collectionNameFromStem(stem);
    const metadataFile = `${stem}${METADATA_FILE_SUFFIX}`;
    const metadata = files.includes(metadataFile)
      ? await readMetadata(source, source.join(folder, metadataFile), collection)
      : undefined;
    collection = metadata?.collectionName ?? collection;
    const bsonFile = source.join(folder, file);
    collections.push({
      collection,
      bsonFile,
      ...(metadata === undefined ? {} : { metadata }),
      documents: await countDocuments(source, bsonFile, collection),
    });
  }
  if (manifest !== undefined) {
    assertMatchesManifest(manifest, collections, source.describe(folder));
  }
  return {
    folder: source.describe(folder),
    database: source.basename(folder),
    collections,
    ...(manifest === undefined ? {} : { manifest }),
    source,
  };
}
