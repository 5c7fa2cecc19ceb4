import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGzip, gzip } from 'node:zlib';
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import type { CollectionInfo, Db } from 'mongodb';
import type { AppConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.module.js';
import type { ObjectStorage } from '../../storage/object-storage.js';
import {
  BSON_FILE_SUFFIX,
  IN_PROGRESS_FOLDER,
  MANIFEST_FILE,
  METADATA_FILE_SUFFIX,
  backupDateFolder,
  backupDateName,
  collectionFileStem,
  mongoBackupsFolder,
} from './backup-layout.js';
import {
  type BackupManifest,
  describeServer,
  readAppVersion,
  serializeManifest,
} from './backup-manifest.js';
import { type BackupProgressListener, formatBytes } from './backup-progress.js';
import { type PruneResult, pruneOldBackups } from './backup-retention.js';
import { type BackupUploadSummary, uploadBackup } from './backup-upload.js';
import { BACKUP_DATABASE, BACKUP_STORAGE } from './backup.tokens.js';
import { BackupErrorCode, BackupException } from './backup.exception.js';
import {
  buildCollectionMetadata,
  type IndexDocument,
  serializeCollectionMetadata,
} from './collection-metadata.js';

const gzipAsync = promisify(gzip);

/** Documents per cursor batch: big enough for throughput, small enough to keep memory flat. */
const CURSOR_BATCH_SIZE = 1000;
/** Raw documents are grouped into chunks of about this size before compression. */
const WRITE_CHUNK_BYTES = 64 * 1024;

export interface BackupOptions {
  /** Folder holding `mongodb/YYYY-MM-DD/...`; defaults to BACKUP_DIR. */
  root?: string;
  /** The moment that names the date folder and drives retention (tests pin it). */
  now?: Date;
  onProgress?: BackupProgressListener;
}

export interface CollectionBackupSummary {
  collection: string;
  documents: number;
  /** When this collection's dump began and ended: its documents are as of some moment between. */
  startedAt: Date;
  finishedAt: Date;
  /** Uncompressed BSON. */
  bsonBytes: number;
  /** Both files of the collection on disk. */
  fileBytes: number;
}

export interface BackupSummary {
  database: string;
  /** The finished `<date>/<database>` folder, ready for `restore` or `mongorestore --gzip`. */
  folder: string;
  collections: CollectionBackupSummary[];
  skipped: string[];
  documents: number;
  bytes: number;
  durationMs: number;
  retention: PruneResult;
  /** The copy in object storage (with `STORAGE_DRIVER=s3`). */
  upload?: BackupUploadSummary;
  /** What `backup.json` records next to the dumps. */
  manifest: BackupManifest;
}

/**
 * Dumps every collection of the database in the layout of `mongodump --gzip --out`:
 * `{BACKUP_DIR}/mongodb/YYYY-MM-DD/<db>/<collection>.bson.gz` and `.metadata.json.gz`.
 * Documents stream from a cursor straight into gzip and the file, so memory stays flat
 * whatever the size; the backup only appears in its date folder once complete.
 */
@Injectable()
export class MongoBackupService {
  private readonly logger = new Logger(MongoBackupService.name);

  constructor(
    @Inject(BACKUP_DATABASE) private readonly db: Db,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Optional() @Inject(BACKUP_STORAGE) private readonly storage: ObjectStorage | null = null,
  ) {}

  async backup(options: BackupOptions = {}): Promise<BackupSummary> {
    const started = Date.now();
    const now = options.now ?? new Date();
    const root = resolve(options.root ?? this.config.backup.dir);
    const database = this.db.databaseName;
    const workFolder = join(
      mongoBackupsFolder(root),
      IN_PROGRESS_FOLDER,
      `${backupDateName(now)}-${database}-${randomBytes(4).toString('hex')}`,
    );
    const databaseWorkFolder = join(workFolder, database);
    await mkdir(databaseWorkFolder, { recursive: true });
    const collections: CollectionBackupSummary[] = [];
    const skipped: string[] = [];
    let folder: string;
    let manifest: BackupManifest;
    try {
      const server = await describeServer(this.db);
      const startedAt = new Date();
      for (const info of await this.listCollections()) {
        if (info.type !== undefined && info.type !== 'collection') {
          skipped.push(info.name);
          this.logger.warn(
            `backup: ${info.type} "${info.name}" skipped (only collections hold data)`,
          );
          continue;
        }
        collections.push(await this.backupCollection(info, databaseWorkFolder, options.onProgress));
      }
      manifest = {
        format: 1,
        database,
        startedAt: startedAt.toISOString(),
        finishedAt: new Date().toISOString(),
        appVersion: await readAppVersion(),
        server,
        collections: collections.map((entry) => ({
          name: entry.collection,
          documents: entry.documents,
          startedAt: entry.startedAt.toISOString(),
          finishedAt: entry.finishedAt.toISOString(),
        })),
      };
      // Written last, inside the work folder: a published backup always has its manifest.
      await writeFile(join(databaseWorkFolder, MANIFEST_FILE), serializeManifest(manifest));
      folder = await this.publish(databaseWorkFolder, join(backupDateFolder(root, now), database));
    } catch (error) {
      await rm(workFolder, { recursive: true, force: true });
      throw new BackupException(
        BackupErrorCode.BackupFailed,
        `backup of ${database} failed after ${collections.length} collection(s), nothing was published: ${(error as Error).message}`,
      );
    }
    await rm(workFolder, { recursive: true, force: true });
    const retention = await pruneOldBackups(root, this.config.backup.retentionDays, now);
    const upload = await this.upload(folder, database, now);
    const summary: BackupSummary = {
      database,
      folder,
      collections,
      skipped,
      documents: collections.reduce((sum, entry) => sum + entry.documents, 0),
      bytes: collections.reduce((sum, entry) => sum + entry.fileBytes, 0),
      durationMs: Date.now() - started,
      retention,
      ...(upload === undefined ? {} : { upload }),
      manifest,
    };
    this.logger.log(
      `backup ${database}: ${collections.length} collections, ${summary.documents} documents, ` +
        `${formatBytes(summary.bytes)} in ${summary.durationMs} ms -> ${folder}` +
        (retention.removed.length > 0
          ? `; removed old backups ${retention.removed.join(', ')}`
          : '') +
        (upload === undefined
          ? ''
          : `; copied to ${upload.location} in ${upload.durationMs} ms` +
            (upload.removed.length > 0 ? ` (removed there: ${upload.removed.join(', ')})` : '')),
    );
    return summary;
  }

  /** Copies the finished backup to object storage when there is one; a failure says the local one is fine. */
  private async upload(
    folder: string,
    database: string,
    now: Date,
  ): Promise<BackupUploadSummary | undefined> {
    if (this.storage === null) {
      return undefined;
    }
    try {
      return await uploadBackup({
        storage: this.storage,
        prefix: this.config.storage.backupPrefix,
        folder,
        date: backupDateName(now),
        database,
        retentionDays: this.config.backup.retentionDays,
        now,
      });
    } catch (error) {
      throw new BackupException(
        BackupErrorCode.UploadFailed,
        `backup of ${database} is complete on this machine (${folder}), but its copy to ` +
          `${this.storage.location} failed: ${(error as Error).message}`,
      );
    }
  }

  private async listCollections(): Promise<CollectionInfo[]> {
    const infos = (await this.db.listCollections().toArray()) as CollectionInfo[];
    return infos
      .filter((info) => !info.name.startsWith('system.'))
      .sort((left, right) => left.name.localeCompare(right.name));
  }

  private async backupCollection(
    info: CollectionInfo,
    folder: string,
    onProgress: BackupProgressListener | undefined,
  ): Promise<CollectionBackupSummary> {
    const collection = this.db.collection(info.name);
    const stem = join(folder, collectionFileStem(info.name));
    const total = await this.estimateCount(info.name);
    const startedAt = new Date();
    let documents = 0;
    let bsonBytes = 0;
    // Raw BSON straight from the server: the bytes are written exactly as stored, never re-encoded.
    const cursor = collection.find<Buffer>({}, { raw: true, batchSize: CURSOR_BATCH_SIZE });
    async function* chunks(): AsyncGenerator<Buffer> {
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      for await (const document of cursor) {
        pending.push(document);
        pendingBytes += document.length;
        documents += 1;
        if (documents % CURSOR_BATCH_SIZE === 0) {
          onProgress?.({
            action: 'backup',
            collection: info.name,
            done: documents,
            total,
            finished: false,
          });
        }
        if (pendingBytes >= WRITE_CHUNK_BYTES) {
          bsonBytes += pendingBytes;
          yield Buffer.concat(pending, pendingBytes);
          pending = [];
          pendingBytes = 0;
        }
      }
      if (pendingBytes > 0) {
        bsonBytes += pendingBytes;
        yield Buffer.concat(pending, pendingBytes);
      }
    }
    try {
      await pipeline(chunks, createGzip(), createWriteStream(`${stem}${BSON_FILE_SUFFIX}`));
    } finally {
      await cursor.close();
    }
    const finishedAt = new Date();
    const indexes = (await collection.listIndexes().toArray()) as IndexDocument[];
    const metadata = serializeCollectionMetadata(buildCollectionMetadata(info, indexes));
    await writeFile(`${stem}${METADATA_FILE_SUFFIX}`, await gzipAsync(metadata));
    onProgress?.({
      action: 'backup',
      collection: info.name,
      done: documents,
      total,
      finished: true,
    });
    const fileBytes =
      (await stat(`${stem}${BSON_FILE_SUFFIX}`)).size +
      (await stat(`${stem}${METADATA_FILE_SUFFIX}`)).size;
    return { collection: info.name, documents, startedAt, finishedAt, bsonBytes, fileBytes };
  }

  /**
   * The expected document count, for progress only. `$collStats` reads the stored count on
   * MongoDB and FerretDB alike, where FerretDB answers `count` by scanning the collection.
   * PostgreSQL's stored count is -1 until the table is first analyzed: then the count is asked.
   */
  private async estimateCount(name: string): Promise<number> {
    try {
      const stats = await this.db
        .collection(name)
        .aggregate<{ count?: number }>([{ $collStats: { count: {} } }])
        .toArray();
      const stored = stats.reduce((sum, entry) => sum + (entry.count ?? 0), 0);
      if (stats.every((entry) => (entry.count ?? 0) >= 0)) {
        return stored;
      }
    } catch {
      // fall through to the server's own estimate
    }
    return this.db.collection(name).estimatedDocumentCount();
  }

  /**
   * Moves the finished database folder into its date folder. A backup already there from
   * earlier the same day is replaced, and only after the new one is complete.
   */
  private async publish(databaseWorkFolder: string, target: string): Promise<string> {
    await mkdir(join(target, '..'), { recursive: true });
    const previous = `${databaseWorkFolder}.replaced`;
    let replaced = false;
    try {
      await rename(target, previous);
      replaced = true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw error;
      }
    }
    try {
      await rename(databaseWorkFolder, target);
    } catch (error) {
      if (replaced) {
        await rename(previous, target);
      }
      throw error;
    }
    if (replaced) {
      await rm(previous, { recursive: true, force: true });
    }
    return target;
  }
}
