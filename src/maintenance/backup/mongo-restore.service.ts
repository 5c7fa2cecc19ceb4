import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import {
  BSON,
  type Collection,
  type Db,
  type Document,
  MongoBulkWriteError,
  type MongoServerError,
  ObjectId,
  type WriteError,
} from 'mongodb';
import type { AppConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.module.js';
import { isUnsupportedByServer } from '../../migrations/server-capabilities.js';
import { storageForLocation } from '../../storage/storage.factory.js';
import { type CollectionBackupFiles, inspectBackup } from './backup-inspection.js';
import type { BackupManifest } from './backup-manifest.js';
import type { BackupProgressListener } from './backup-progress.js';
import { BACKUP_DATABASE } from './backup.tokens.js';
import { BackupErrorCode, BackupException } from './backup.exception.js';
import { type BackupSource, localBackupSource, StorageBackupSource } from './backup-source.js';
import { readBsonGzip } from './bson-stream.js';

const INSERT_BATCH_SIZE = 1000;
const DUPLICATE_KEY = 11000;
const NAMESPACE_EXISTS = 48;
const NAMESPACE_NOT_FOUND = 26;
const CONFLICT_SAMPLES = 5;

/**
 * Bookkeeping a freshly migrated database already holds: documents here alone do not make a
 * database live. Every other collection counts, including any the application adds later.
 */
const BOOKKEEPING_COLLECTIONS = new Set(['migrations', 'migrations_lock']);

/**
 * Keeps every BSON type as it was stored (int32 vs double vs int64, regular expressions with
 * flags JavaScript lacks), so the restored documents are byte-for-byte the backed-up ones.
 */
const EXACT_DESERIALIZE: BSON.DeserializeOptions = { promoteValues: false, bsonRegExp: true };

export interface RestoreOptions {
  /** Drop each collection before restoring it, so the result is exactly the backup. */
  drop?: boolean;
  /**
   * Restore even into a live database (one whose collections, bookkeeping aside, hold any
   * document). Without it such a restore is refused before anything is written.
   */
  force?: boolean;
  onProgress?: BackupProgressListener;
}

export interface CollectionRestoreSummary {
  collection: string;
  /** Documents in the backup. */
  documents: number;
  inserted: number;
  /** Documents refused because one with the same _id or unique key already exists. */
  conflicts: number;
  /** _ids of a few refused documents, to show the operator. */
  conflictSamples: string[];
  indexesCreated: string[];
  /** Indexes this server cannot build (FerretDB: text, TTL, partial). */
  indexesSkipped: string[];
}

export interface RestoreSummary {
  database: string;
  /** The backup's database folder that was restored. */
  source: string;
  collections: CollectionRestoreSummary[];
  documents: number;
  inserted: number;
  conflicts: number;
  durationMs: number;
  /** The backup's `backup.json`; absent for older backups and mongodump's. */
  manifest?: BackupManifest;
}

function codeOf(error: unknown): number | undefined {
  return (error as Partial<MongoServerError> | undefined)?.code as number | undefined;
}

function describeId(document: Document | undefined): string {
  const id: unknown = document?._id;
  if (id === undefined) {
    return '?';
  }
  return id instanceof ObjectId ? id.toHexString() : JSON.stringify(id);
}

/**
 * Restores a backup written by `MongoBackupService` or `mongodump --gzip`: refuses a live
 * target database unless forced, checks all of the backup first (nothing is touched when it
 * is missing, truncated or corrupt), then for each collection creates its indexes and streams
 * its documents back in batches. Indexes come first so that unique keys hold during the load:
 * a backup with duplicates fails on them instead of loading them and then failing to build
 * the index. When something fails part-way, the error names the collections restored and
 * those not.
 */
@Injectable()
export class MongoRestoreService {
  private readonly logger = new Logger(MongoRestoreService.name);

  constructor(
    @Inject(BACKUP_DATABASE) private readonly db: Db,
    @Optional() @Inject(APP_CONFIG) private readonly config?: AppConfig,
  ) {}

  /**
   * `location`: a folder on this machine, or `s3://bucket/prefix` (the S3 settings of the
   * configuration: region, endpoint, credentials), read as a stream object by object.
   */
  async restore(location: string, options: RestoreOptions = {}): Promise<RestoreSummary> {
    const started = Date.now();
    const database = this.db.databaseName;
    const { source, path } = await this.sourceOf(location);
    if (options.force !== true) {
      await this.refuseLiveDatabase(options);
    }
    const backup = await inspectBackup(path, database, source);
    const restored: CollectionRestoreSummary[] = [];
    for (const [position, files] of backup.collections.entries()) {
      const progress = { inserted: 0 };
      try {
        restored.push(await this.restoreCollection(source, files, options, progress));
      } catch (error) {
        const notRestored = backup.collections.slice(position + 1).map((entry) => entry.collection);
        throw new BackupException(
          BackupErrorCode.RestoreIncomplete,
          `restore into ${database} stopped at collection "${files.collection}" ` +
            `(${progress.inserted} of ${files.documents} documents inserted): ${(error as Error).message}. ` +
            `Restored: ${restored.map((entry) => entry.collection).join(', ') || 'none'}. ` +
            `Not restored: ${notRestored.join(', ') || 'none'}.`,
          {
            restored: restored.map((entry) => entry.collection),
            partial: files.collection,
            notRestored,
          },
        );
      }
    }
    const summary: RestoreSummary = {
      database,
      source: backup.folder,
      collections: restored,
      documents: restored.reduce((sum, entry) => sum + entry.documents, 0),
      inserted: restored.reduce((sum, entry) => sum + entry.inserted, 0),
      conflicts: restored.reduce((sum, entry) => sum + entry.conflicts, 0),
      durationMs: Date.now() - started,
      ...(backup.manifest === undefined ? {} : { manifest: backup.manifest }),
    };
    this.logger.log(
      `restore ${backup.folder} -> ${database}: ${restored.length} collections, ` +
        `${summary.inserted} of ${summary.documents} documents inserted` +
        (summary.conflicts > 0 ? `, ${summary.conflicts} already present (conflicts)` : '') +
        ` in ${summary.durationMs} ms`,
    );
    return summary;
  }

  /** Collections (bookkeeping aside) that hold at least one document. */
  async collectionsInUse(): Promise<string[]> {
    const infos = await this.db.listCollections({}, { nameOnly: true }).toArray();
    const inUse: string[] = [];
    for (const { name } of infos) {
      if (name.startsWith('system.') || BOOKKEEPING_COLLECTIONS.has(name)) {
        continue;
      }
      if ((await this.db.collection(name).findOne({}, { projection: { _id: 1 } })) !== null) {
        inUse.push(name);
      }
    }
    return inUse.sort();
  }

  private async refuseLiveDatabase(options: RestoreOptions): Promise<void> {
    const inUse = await this.collectionsInUse();
    if (inUse.length === 0) {
      return;
    }
    const database = this.db.databaseName;
    throw new BackupException(
      BackupErrorCode.TargetInUse,
      `refused: ${database} is a live database (documents in ${inUse.join(', ')}); nothing was ` +
        `changed. ` +
        (options.drop === true
          ? '--drop would delete those collections and replace them with the backup. '
          : 'The backup would be mixed into the data already there. ') +
        'Restore into an empty database, or add --force if this is really what you want.',
      { collectionsInUse: inUse },
    );
  }

  private async sourceOf(location: string): Promise<{ source: BackupSource; path: string }> {
    const stored =
      this.config === undefined
        ? undefined
        : await storageForLocation(this.config.storage, location);
    if (stored !== undefined) {
      return { source: new StorageBackupSource(stored.storage), path: stored.prefix };
    }
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) {
      throw new BackupException(
        BackupErrorCode.FolderNotFound,
        `cannot restore from ${location}: give a folder on this machine or s3://bucket/prefix`,
      );
    }
    return { source: localBackupSource, path: location };
  }

  private async restoreCollection(
    source: BackupSource,
    files: CollectionBackupFiles,
    options: RestoreOptions,
    progress: { inserted: number },
  ): Promise<CollectionRestoreSummary> {
    const name = files.collection;
    if (options.drop === true) {
      await this.db.dropCollection(name).catch((error: unknown) => {
        if (codeOf(error) !== NAMESPACE_NOT_FOUND) {
          throw error;
        }
      });
    }
    await this.ensureCollection(name, files.metadata?.options ?? {});
    const collection = this.db.collection(name);
    // Read before the load: a duplicate key in a collection that started empty can only come
    // from the backup itself, never from data that was already there.
    const startedEmpty = (await collection.findOne({}, { projection: { _id: 1 } })) === null;
    const summary: CollectionRestoreSummary = {
      collection: name,
      documents: files.documents,
      inserted: 0,
      conflicts: 0,
      conflictSamples: [],
      indexesCreated: [],
      indexesSkipped: [],
    };
    const report = (finished: boolean): void =>
      options.onProgress?.({
        action: 'restore',
        collection: name,
        done: summary.inserted + summary.conflicts,
        total: files.documents,
        finished,
      });
    await this.restoreIndexes(collection, files, summary);
    let batch: Document[] = [];
    const flush = async (): Promise<void> => {
      try {
        await this.insertBatch(collection, batch, summary, startedEmpty);
      } finally {
        progress.inserted = summary.inserted;
      }
      batch = [];
      report(false);
    };
    for await (const raw of readBsonGzip(await source.open(files.bsonFile))) {
      batch.push(BSON.deserialize(raw, EXACT_DESERIALIZE));
      if (batch.length === INSERT_BATCH_SIZE) {
        await flush();
      }
    }
    if (batch.length > 0) {
      await flush();
    }
    report(true);
    if (summary.conflicts > 0) {
      this.logger.warn(
        `restore ${name}: ${summary.conflicts} documents already present were left as they are ` +
          `(e.g. _id ${summary.conflictSamples.join(', ')}); use --drop to replace the collection`,
      );
    }
    return summary;
  }

  private async ensureCollection(name: string, options: Document): Promise<void> {
    const existing = await this.db.listCollections({ name }, { nameOnly: true }).toArray();
    if (existing.length > 0) {
      return;
    }
    try {
      await this.db.createCollection(name, options);
    } catch (error) {
      if (codeOf(error) === NAMESPACE_EXISTS) {
        return;
      }
      if (!isUnsupportedByServer(error)) {
        throw error;
      }
      this.logger.warn(
        `restore ${name}: this server does not support the collection's options ` +
          `(${Object.keys(options).join(', ')}); created without them (${(error as Error).message})`,
      );
      await this.db.createCollection(name);
    }
  }

  /**
   * Inserts what is new; documents already present are counted as conflicts, not failures.
   * Into a collection that started empty a duplicate key means the backup contradicts its own
   * unique indexes: that fails, naming the document and the index, and the duplicate is not
   * inserted.
   */
  private async insertBatch(
    collection: Collection,
    documents: Document[],
    summary: CollectionRestoreSummary,
    startedEmpty: boolean,
  ): Promise<void> {
    try {
      const result = await collection.insertMany(documents, {
        ordered: false,
        // The documents were valid when backed up; a validator changed since must not refuse them.
        bypassDocumentValidation: true,
      });
      summary.inserted += result.insertedCount;
    } catch (error) {
      if (!(error instanceof MongoBulkWriteError)) {
        throw error;
      }
      const writeErrors = ([] as WriteError[]).concat(error.writeErrors);
      const failures = writeErrors.filter((writeError) => writeError.code !== DUPLICATE_KEY);
      if (failures.length > 0 || writeErrors.length === 0) {
        throw error;
      }
      if (startedEmpty) {
        const first = writeErrors[0];
        summary.inserted += error.insertedCount;
        throw new Error(
          `the backup holds ${writeErrors.length} document(s) that break a unique index of ` +
            `"${collection.collectionName}", e.g. _id ${describeId(first && documents[first.index])} ` +
            `(${first?.errmsg ?? 'duplicate key'}); they were not inserted. A backup taken from a ` +
            'database with these indexes cannot hold them, so this one is damaged or was edited',
          { cause: error },
        );
      }
      summary.inserted += error.insertedCount;
      summary.conflicts += writeErrors.length;
      for (const writeError of writeErrors) {
        if (summary.conflictSamples.length < CONFLICT_SAMPLES) {
          summary.conflictSamples.push(describeId(documents[writeError.index]));
        }
      }
    }
  }

  private async restoreIndexes(
    collection: Collection,
    files: CollectionBackupFiles,
    summary: CollectionRestoreSummary,
  ): Promise<void> {
    for (const index of files.metadata?.indexes ?? []) {
      if (index.name === '_id_') {
        continue;
      }
      // `v` and `ns` describe the old server's copy; the new server chooses its own.
      const { key, v: _version, ns: _namespace, ...options } = index;
      try {
        await collection.createIndex(key, options, {});
        summary.indexesCreated.push(index.name);
      } catch (error) {
        if (!isUnsupportedByServer(error)) {
          throw new Error(`index ${index.name} could not be created: ${(error as Error).message}`, {
            cause: error,
          });
        }
        summary.indexesSkipped.push(index.name);
        this.logger.warn(
          `restore ${collection.collectionName}: index ${index.name} not created, this server does ` +
            `not support it (${(error as Error).message}); the application uses its fallback`,
        );
      }
    }
  }
}
