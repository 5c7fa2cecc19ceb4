import { createHash } from 'node:crypto';
import {
  cp,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { Logger } from '@nestjs/common';
import { BSON, type Db, Double, Int32, Long, MongoClient, ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppConfig, loadConfig } from '../src/config/app-config.js';
import { BackupErrorCode } from '../src/maintenance/backup/backup.exception.js';
import { splitBsonDocuments } from '../src/maintenance/backup/bson-stream.js';
import { MongoBackupService } from '../src/maintenance/backup/mongo-backup.service.js';
import { MongoRestoreService } from '../src/maintenance/backup/mongo-restore.service.js';
import { RedisSnapshotService } from '../src/maintenance/backup/redis-snapshot.service.js';
import type { ObjectStorage } from '../src/storage/object-storage.js';
import { createBackupStorage } from '../src/storage/storage.factory.js';
import { registerUser } from './support/factories.js';
import { createTestBucket, s3Environment, testS3Client } from './support/s3.js';
import { createTestContext, type TestContext, uniqueName } from './support/test-app.js';

const gunzipAsync = promisify(gunzip);
const gzipAsync = promisify(gzip);
const BACKUP_MOMENT = new Date('2026-11-20T02:00:00Z');
const SEEDED_CALL_LOGS = 2500;

/** Documents of every collection, with the BSON types a real database holds. */
async function seedEveryCollection(db: Db, userId: ObjectId): Promise<void> {
  const agentId = new ObjectId();
  const agentConfig = {
    prompt: 'You are a helpful assistant',
    voice: { provider: 'elevenlabs', voiceId: 'v-1', speed: 1.15 },
    llm: { model: 'gpt-4o-mini', temperature: 0.7, maxTokens: new Int32(256) },
    firstMessage: 'Hello!',
    turnTaking: { interruptible: true, silenceMs: 800 },
  };
  await db.collection('agents').insertOne({
    _id: agentId,
    userId,
    name: 'Support agent',
    description: 'Answers questions',
    config: agentConfig,
    isActive: true,
    stats: { totalCalls: new Long(5_000_000_000), totalDuration: 1234.5, successRate: 0.925 },
    tags: ['support', 'english'],
    createdAt: new Date('2026-01-02T03:04:05.678Z'),
    updatedAt: new Date(),
  });
  await db.collection('phones').insertMany([
    {
      userId,
      number: '+919876543210',
      agentId,
      status: 'active',
      tags: ['sales', 'india'],
      overrideConfig: { voice: { speed: 0.95 } },
      capabilities: { voice: true, sms: false },
      createdAt: new Date(),
    },
    { userId, number: '+14155550100', agentId: null, status: 'inactive', tags: [] },
  ]);
  const started = Date.UTC(2026, 9, 1);
  const callLogs = Array.from({ length: SEEDED_CALL_LOGS }, (_unused, index) => ({
    sessionId: `session-${index}`,
    userId,
    agentId,
    fromPhone: '+919876543210',
    toPhone: `+9198765${String(index).padStart(5, '0')}`,
    direction: index % 3 === 0 ? 'inbound' : 'outbound',
    status: index % 7 === 0 ? 'failed' : 'completed',
    startedAt: new Date(started + index * 60_000),
    endedAt: new Date(started + index * 60_000 + 42_000),
    durationSec: new Int32(42),
    costBreakdown: { stt: 0.01, llm: 0.125, tts: 0.0333, telephony: 1.5, total: 1.6683 },
    metadata: { campaign: 'november', attempt: index % 3, ratio: new Double(2) },
    transcript: index % 10 === 0 ? 'agent: hello\nuser: hi' : undefined,
    createdAt: new Date(started + index * 60_000),
  }));
  await db.collection('calllogs').insertMany(callLogs);
  const callLogId = new ObjectId();
  await db.collection('sessions').insertOne({
    sessionId: 'session-live',
    userId,
    agentId,
    callLogId,
    userPhone: '+919876500000',
    agentPhone: '+919876543210',
    agentConfig,
    conversationHistory: [
      { role: 'assistant', content: 'Hello!', timestamp: new Date('2026-11-01T10:00:00Z') },
      { role: 'user', content: 'Ça va? 你好', timestamp: new Date('2026-11-01T10:00:03Z') },
    ],
    status: 'active',
    usage: { sttSeconds: 3.25, llmTokens: new Int32(120), ttsCharacters: 64 },
    metadata: { nested: { deeper: { list: [1, 'two', { three: [new ObjectId()] }] } } },
    startedAt: new Date('2026-11-01T10:00:00Z'),
    lastActivityAt: new Date('2026-11-01T10:00:03Z'),
  });
}

/** sha256 of each document's BSON, in _id order, per collection: equal means identical data. */
async function fingerprint(db: Db): Promise<Record<string, string[]>> {
  const result: Record<string, string[]> = {};
  const collections = await db.listCollections({}, { nameOnly: true }).toArray();
  for (const { name } of collections.sort((left, right) => left.name.localeCompare(right.name))) {
    const hashes: string[] = [];
    const cursor = db.collection(name).find<Buffer>({}, { raw: true, sort: { _id: 1 } });
    for await (const raw of cursor) {
      hashes.push(createHash('sha256').update(raw).digest('hex'));
    }
    result[name] = hashes;
  }
  return result;
}

async function readBackupDocuments(file: string): Promise<Buffer[]> {
  const documents: Buffer[] = [];
  async function* once(): AsyncGenerator<Buffer> {
    yield await gunzipAsync(await readFile(file));
  }
  for await (const document of splitBsonDocuments(once())) {
    documents.push(document);
  }
  return documents;
}

async function readMetadata(file: string): Promise<any> {
  return JSON.parse((await gunzipAsync(await readFile(file))).toString('utf8'));
}

function quietLogs(): void {
  Logger.overrideLogger(['error']);
}

describe('MongoDB backup and restore', () => {
  let context: TestContext;
  let client: MongoClient;
  let root: string;
  let backup: MongoBackupService;
  let originalFingerprint: Record<string, string[]>;
  let backupFolder: string;

  /** A fresh empty database on the same server, for restores that must leave it untouched. */
  const emptyDatabase = (): Db => client.db(uniqueName('restore'));
  const restoreInto = (db: Db): MongoRestoreService => new MongoRestoreService(db);
  const collectionsOf = async (db: Db): Promise<string[]> =>
    (await db.listCollections({}, { nameOnly: true }).toArray()).map((entry) => entry.name);

  beforeAll(async () => {
    quietLogs();
    context = await createTestContext();
    client = new MongoClient(context.config.mongo.uri);
    await client.connect();
    root = await mkdtemp(join(tmpdir(), 'backup-e2e-'));
    const user = await registerUser(context);
    await seedEveryCollection(context.db, new ObjectId(user.id));
    originalFingerprint = await fingerprint(context.db);
    backup = new MongoBackupService(context.db, context.config);
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
    const databases = await client.db().admin().listDatabases({ nameOnly: true });
    for (const { name } of databases.databases.filter((entry) =>
      entry.name.startsWith('restore_'),
    )) {
      await client.db(name).dropDatabase();
    }
    await client.close();
    await context.close();
  });

  describe('backup', () => {
    it('writes every collection in the mongodump --gzip layout, with documents and indexes', async () => {
      const progress: string[] = [];
      const summary = await backup.backup({
        root,
        now: BACKUP_MOMENT,
        onProgress: (event) => {
          if (event.finished) {
            progress.push(`${event.collection}:${event.done}/${event.total}`);
          }
        },
      });
      backupFolder = join(root, 'mongodb', '2026-11-20');
      const databaseFolder = join(backupFolder, context.db.databaseName);
      expect(summary.folder).toBe(databaseFolder);

      const collections = (await collectionsOf(context.db)).sort();
      expect(collections).toEqual(
        expect.arrayContaining(['agents', 'calllogs', 'phones', 'sessions', 'users']),
      );
      expect((await readdir(databaseFolder)).sort()).toEqual(
        [
          'backup.json',
          ...collections.flatMap((name) => [`${name}.bson.gz`, `${name}.metadata.json.gz`]),
        ].sort(),
      );
      for (const name of collections) {
        const documents = await readBackupDocuments(join(databaseFolder, `${name}.bson.gz`));
        expect(documents.length, name).toBe(await context.db.collection(name).countDocuments());
        expect(progress).toContain(`${name}:${documents.length}/${documents.length}`);
      }
      expect(summary.collections.find((entry) => entry.collection === 'calllogs')?.documents).toBe(
        SEEDED_CALL_LOGS,
      );
      expect(summary.documents).toBe(
        Object.values(originalFingerprint).reduce((sum, hashes) => sum + hashes.length, 0),
      );
      expect(summary.bytes).toBeGreaterThan(0);
      // Nothing of the work folder is left once the backup is published.
      expect(await readdir(join(root, 'mongodb', '.in-progress'))).toEqual([]);
    });

    it('writes metadata exactly as mongodump does (canonical Extended JSON, indexes, uuid, name)', async () => {
      const databaseFolder = join(backupFolder, context.db.databaseName);
      const text = (
        await gunzipAsync(await readFile(join(databaseFolder, 'users.metadata.json.gz')))
      ).toString('utf8');
      expect(text).toMatch(/^\{"options":\{.*\},"indexes":\[\{"v":\{"\$numberInt":"2"\},"key":/);
      const metadata = JSON.parse(text);
      expect(Object.keys(metadata)).toEqual(
        metadata.uuid === undefined
          ? ['options', 'indexes', 'collectionName', 'type']
          : ['options', 'indexes', 'uuid', 'collectionName', 'type'],
      );
      expect(metadata.collectionName).toBe('users');
      expect(metadata.type).toBe('collection');
      if (metadata.uuid !== undefined) {
        expect(metadata.uuid).toMatch(/^[0-9a-f]{32}$/);
      }
      expect(metadata.indexes).toContainEqual(
        expect.objectContaining({
          key: { email: { $numberInt: '1' } },
          name: 'email_1',
          unique: true,
        }),
      );
      const callLogs = await readMetadata(join(databaseFolder, 'calllogs.metadata.json.gz'));
      expect(callLogs.indexes.map((index: any) => index.name)).toEqual(
        expect.arrayContaining(['_id_', 'sessionId_1', 'userId_1_createdAt_-1']),
      );
    });

    it('records in backup.json the time range the dump covers, its counts and versions', async () => {
      const before = new Date();
      const manifestRoot = await mkdtemp(join(tmpdir(), 'backup-manifest-e2e-'));
      const summary = await backup.backup({ root: manifestRoot, now: BACKUP_MOMENT });
      const after = new Date();
      const manifest = JSON.parse(await readFile(join(summary.folder, 'backup.json'), 'utf8'));
      expect(manifest).toEqual(summary.manifest);
      expect(manifest.format).toBe(1);
      expect(manifest.database).toBe(context.db.databaseName);
      const startedAt = new Date(manifest.startedAt).getTime();
      const finishedAt = new Date(manifest.finishedAt).getTime();
      expect(startedAt).toBeGreaterThanOrEqual(before.getTime());
      expect(finishedAt).toBeGreaterThanOrEqual(startedAt);
      expect(finishedAt).toBeLessThanOrEqual(after.getTime());
      const collections = (await collectionsOf(context.db)).sort();
      expect(manifest.collections.map((entry: any) => entry.name)).toEqual(collections);
      for (const entry of manifest.collections) {
        expect(entry.documents, entry.name).toBe(
          await context.db.collection(entry.name).countDocuments(),
        );
        expect(new Date(entry.startedAt).getTime()).toBeGreaterThanOrEqual(startedAt);
        expect(new Date(entry.finishedAt).getTime()).toBeLessThanOrEqual(finishedAt);
      }
      const packageJson = JSON.parse(await readFile('package.json', 'utf8'));
      expect(manifest.appVersion).toBe(packageJson.version);
      const buildInfo = await context.db.admin().command({ buildInfo: 1 });
      expect(manifest.server).toEqual(
        typeof buildInfo.ferretdbVersion === 'string'
          ? { kind: 'ferretdb', version: buildInfo.ferretdbVersion }
          : { kind: 'mongodb', version: buildInfo.version },
      );
      await rm(manifestRoot, { recursive: true, force: true });
    });

    it('removes date folders older than the retention and keeps the newer ones', async () => {
      const retentionRoot = await mkdtemp(join(tmpdir(), 'backup-retention-e2e-'));
      for (const name of ['2026-10-20', '2026-10-21', '2026-10-22', '2026-10-23', 'manual-copy']) {
        await mkdir(join(retentionRoot, 'mongodb', name), { recursive: true });
      }
      const summary = await backup.backup({ root: retentionRoot, now: BACKUP_MOMENT });
      // BACKUP_RETENTION_DAYS defaults to 30: 2026-10-22 to 2026-11-20 are the last 30 days.
      expect(summary.retention.removed).toEqual(['2026-10-20', '2026-10-21']);
      expect((await readdir(join(retentionRoot, 'mongodb'))).sort()).toEqual([
        '.in-progress',
        '2026-10-22',
        '2026-10-23',
        '2026-11-20',
        'manual-copy',
      ]);
      await rm(retentionRoot, { recursive: true, force: true });
    });

    it('replaces an earlier backup of the same day only with a complete new one', async () => {
      const sameDayRoot = await mkdtemp(join(tmpdir(), 'backup-same-day-e2e-'));
      const first = await backup.backup({ root: sameDayRoot, now: BACKUP_MOMENT });
      await context.db.collection('phones').insertOne({ number: '+14155550199', status: 'active' });
      const second = await backup.backup({ root: sameDayRoot, now: BACKUP_MOMENT });
      expect(second.folder).toBe(first.folder);
      const phones = await readBackupDocuments(join(second.folder, 'phones.bson.gz'));
      expect(phones).toHaveLength(3);
      await context.db.collection('phones').deleteOne({ number: '+14155550199' });
      await rm(sameDayRoot, { recursive: true, force: true });
    });

    it("backs up the app's own database through the backup service the app gives its scheduler", async () => {
      const appRoot = await mkdtemp(join(tmpdir(), 'backup-app-e2e-'));
      const summary = await context.app.get(MongoBackupService).backup({ root: appRoot });
      expect(summary.database).toBe(context.db.databaseName);
      const callLogs = await readBackupDocuments(join(summary.folder, 'calllogs.bson.gz'));
      expect(callLogs).toHaveLength(SEEDED_CALL_LOGS);
      await rm(appRoot, { recursive: true, force: true });
    });
  });

  describe('restore', () => {
    it('rebuilds a wiped database document for document, with its indexes', async () => {
      await context.db.dropDatabase();
      expect(await collectionsOf(context.db)).toEqual([]);

      const summary = await restoreInto(context.db).restore(backupFolder);

      expect(await fingerprint(context.db)).toEqual(originalFingerprint);
      expect(summary.manifest).toEqual(
        JSON.parse(
          await readFile(join(backupFolder, context.db.databaseName, 'backup.json'), 'utf8'),
        ),
      );
      expect(summary.conflicts).toBe(0);
      expect(summary.inserted).toBe(summary.documents);
      const users = summary.collections.find((entry) => entry.collection === 'users');
      expect(users?.indexesCreated).toEqual(expect.arrayContaining(['email_1', 'webhookToken_1']));
      const indexNames = (await context.db.collection('users').indexes()).map(
        (index) => index.name,
      );
      expect(indexNames).toEqual(expect.arrayContaining(['_id_', 'email_1', 'createdAt_-1']));
      // Only index kinds this server lacks may be missing, and they are named in the summary.
      for (const entry of summary.collections) {
        const present = (await context.db.collection(entry.collection).indexes()).map(
          (index) => index.name,
        );
        for (const skipped of entry.indexesSkipped) {
          expect(present).not.toContain(skipped);
        }
      }
      const existing = await context.db.collection('users').findOne({});
      await expect(
        context.db.collection('users').insertOne({ email: existing?.email, name: 'Copy' }),
      ).rejects.toMatchObject({ code: 11000 });
    });

    it.each([
      ['without --drop', {}],
      ['with --drop', { drop: true }],
    ])(
      'refuses to restore into a live database %s unless forced, changing nothing',
      async (_case, options) => {
        await context.db.collection('agents').updateOne({}, { $set: { name: 'Live data' } });
        const before = await fingerprint(context.db);

        const attempt = restoreInto(context.db).restore(backupFolder, options);

        await expect(attempt).rejects.toMatchObject({
          code: BackupErrorCode.TargetInUse,
          details: {
            collectionsInUse: expect.arrayContaining(['agents', 'calllogs', 'phones', 'users']),
          },
        });
        await expect(attempt).rejects.toThrow(
          /is a live database \(documents in agents, calllogs, .*\); nothing was changed.*--force/,
        );
        expect(await fingerprint(context.db)).toEqual(before);
      },
    );

    it('does not count the migrations bookkeeping as live data', async () => {
      const target = emptyDatabase();
      await target.collection('migrations').insertOne({ id: 'bookkeeping-only' });
      await target.collection<{ _id: string }>('migrations_lock').insertOne({ _id: 'lock' });
      await target.collection('sessions').createIndex({ sessionId: 1 }, {}, {});
      expect(await restoreInto(target).collectionsInUse()).toEqual([]);

      const summary = await restoreInto(target).restore(backupFolder);

      expect(summary.collections.find((entry) => entry.collection === 'users')?.inserted).toBe(1);
      expect(await restoreInto(target).collectionsInUse()).toEqual(
        expect.arrayContaining(['agents', 'calllogs', 'users']),
      );
    });

    it('reports documents already present as conflicts and leaves them as they are (forced)', async () => {
      await context.db.collection('agents').updateOne({}, { $set: { name: 'Renamed since' } });
      const before = await fingerprint(context.db);

      const summary = await restoreInto(context.db).restore(backupFolder, { force: true });

      expect(summary.inserted).toBe(0);
      expect(summary.conflicts).toBe(summary.documents);
      const agents = summary.collections.find((entry) => entry.collection === 'agents');
      expect(agents?.conflicts).toBe(1);
      expect(agents?.conflictSamples).toHaveLength(1);
      expect(await fingerprint(context.db)).toEqual(before);
    });

    it('replaces the collections with the backup when asked to drop them', async () => {
      await context.db.collection('calllogs').deleteMany({ status: 'failed' });
      await context.db.collection('users').insertOne({ email: 'extra@example.com', name: 'Extra' });

      const summary = await restoreInto(context.db).restore(backupFolder, {
        drop: true,
        force: true,
      });

      expect(summary.conflicts).toBe(0);
      expect(await fingerprint(context.db)).toEqual(originalFingerprint);
    });

    it('restores from the database folder as well as from its date folder', async () => {
      const target = emptyDatabase();
      await restoreInto(target).restore(join(backupFolder, context.db.databaseName));
      expect(await fingerprint(target)).toEqual(originalFingerprint);
    });

    it('names the collections restored and not restored when it fails part-way', async () => {
      const target = emptyDatabase();
      // An index with the backup's name but other keys makes the calllogs step fail.
      await target.collection('calllogs').createIndex({ other: 1 }, { name: 'sessionId_1' }, {});

      const failure = restoreInto(target).restore(backupFolder);

      await expect(failure).rejects.toMatchObject({ code: BackupErrorCode.RestoreIncomplete });
      await expect(failure).rejects.toThrow(
        /stopped at collection "calllogs" \(0 of 2500 documents inserted\).*Restored: agents\. Not restored: campaigncontacts, campaigns, conversationturns, dailycallstats, dncentries, migrations, migrations_lock, phones, sessions, users, webhookdeliveries, webhookendpoints\./s,
      );
      expect((await collectionsOf(target)).sort()).toEqual(['agents', 'calllogs']);
      // The indexes come first, so the failing one stops calllogs before any document is loaded.
      expect(await target.collection('calllogs').countDocuments()).toBe(0);
    });

    it('creates unique indexes before the data, so duplicates in a backup fail and are not inserted', async () => {
      const copy = join(root, 'duplicate-email');
      await cp(join(backupFolder, context.db.databaseName), copy, { recursive: true });
      const usersFile = join(copy, 'users.bson.gz');
      const [original] = await readBackupDocuments(usersFile);
      const user = BSON.deserialize(original!);
      const duplicate = BSON.serialize({ ...user, _id: new ObjectId(), webhookToken: 'other' });
      await writeFile(usersFile, await gzipAsync(Buffer.concat([original!, duplicate])));
      // An edited backup whose manifest was edited to match: only the unique index can tell.
      const manifestFile = join(copy, 'backup.json');
      const manifest = JSON.parse(await readFile(manifestFile, 'utf8'));
      manifest.collections.find((entry: any) => entry.name === 'users').documents = 2;
      await writeFile(manifestFile, JSON.stringify(manifest));
      const target = emptyDatabase();

      const failure = restoreInto(target).restore(copy);

      await expect(failure).rejects.toMatchObject({ code: BackupErrorCode.RestoreIncomplete });
      await expect(failure).rejects.toThrow(
        /stopped at collection "users" \(1 of 2 documents inserted\): the backup holds 1 document\(s\) that break a unique index of "users", e\.g\. _id [0-9a-f]{24} .*damaged/s,
      );
      expect(await target.collection('users').countDocuments({ email: user.email })).toBe(1);
      expect(await target.collection('users').countDocuments()).toBe(1);
      const emailIndex = (await target.collection('users').indexes()).find(
        (index) => index.name === 'email_1',
      );
      expect(emailIndex?.unique).toBe(true);
    });

    it('restores an older backup without backup.json', async () => {
      const copy = join(root, 'without-manifest');
      await cp(join(backupFolder, context.db.databaseName), copy, { recursive: true });
      await rm(join(copy, 'backup.json'));
      const target = emptyDatabase();

      const summary = await restoreInto(target).restore(copy);

      expect(summary.manifest).toBeUndefined();
      expect(await fingerprint(target)).toEqual(originalFingerprint);
    });
  });

  describe('refuses a bad backup before touching the database', () => {
    let badRoot: string;

    beforeAll(async () => {
      badRoot = await mkdtemp(join(tmpdir(), 'backup-bad-e2e-'));
    });
    afterAll(async () => {
      await rm(badRoot, { recursive: true, force: true });
    });

    async function copyOfBackup(name: string): Promise<string> {
      const copy = join(badRoot, name);
      await cp(join(backupFolder, context.db.databaseName), copy, { recursive: true });
      return copy;
    }

    async function expectRefused(
      folder: string,
      code: BackupErrorCode,
      message: RegExp,
    ): Promise<void> {
      const target = emptyDatabase();
      const attempt = restoreInto(target).restore(folder, { drop: true });
      await expect(attempt).rejects.toMatchObject({ code });
      await expect(attempt).rejects.toThrow(message);
      expect(await collectionsOf(target)).toEqual([]);
    }

    it('refuses a folder that does not exist', async () => {
      await expectRefused(
        join(badRoot, 'no-such-backup'),
        BackupErrorCode.FolderNotFound,
        /backup folder not found: .*no-such-backup/,
      );
    });

    it('refuses a folder without collection backups', async () => {
      const empty = join(badRoot, 'empty');
      await mkdir(join(empty, 'some-database'), { recursive: true });
      await writeFile(join(empty, 'notes.txt'), 'not a backup');
      await expectRefused(empty, BackupErrorCode.NothingToRestore, /no collection backups/);
    });

    it('refuses a truncated .gz file, naming the collection', async () => {
      const copy = await copyOfBackup('truncated-gzip');
      const file = join(copy, 'calllogs.bson.gz');
      const size = (await readFile(file)).length;
      await truncate(file, Math.floor(size / 2));
      await expectRefused(
        copy,
        BackupErrorCode.DataCorrupt,
        /collection "calllogs" is damaged .*truncated/,
      );
    });

    it('refuses a data file that ends inside a document', async () => {
      const copy = await copyOfBackup('truncated-document');
      const file = join(copy, 'sessions.bson.gz');
      const bson = await gunzipAsync(await readFile(file));
      await writeFile(file, await gzipAsync(bson.subarray(0, bson.length - 10)));
      await expectRefused(
        copy,
        BackupErrorCode.DataCorrupt,
        /collection "sessions" is damaged .*truncated: the last document/,
      );
    });

    it('refuses unreadable metadata', async () => {
      const copy = await copyOfBackup('corrupt-metadata');
      await writeFile(join(copy, 'users.metadata.json.gz'), await gzipAsync('{"indexes": [ oops'));
      await expectRefused(
        copy,
        BackupErrorCode.MetadataUnreadable,
        /metadata of collection "users" is unreadable .*not valid Extended JSON/,
      );
    });

    it('refuses metadata that is not gzip', async () => {
      const copy = await copyOfBackup('plain-metadata');
      await writeFile(join(copy, 'phones.metadata.json.gz'), '{"indexes":[]}');
      await expectRefused(
        copy,
        BackupErrorCode.MetadataUnreadable,
        /metadata of collection "phones" is unreadable .*cannot be decompressed/,
      );
    });

    it('refuses a backup whose files do not match its backup.json', async () => {
      const copy = await copyOfBackup('manifest-mismatch');
      await rm(join(copy, 'phones.bson.gz'));
      await rm(join(copy, 'phones.metadata.json.gz'));
      const sessions = join(copy, 'sessions.bson.gz');
      await writeFile(sessions, await gzipAsync(Buffer.alloc(0)));
      await expectRefused(
        copy,
        BackupErrorCode.DataCorrupt,
        /does not match its backup\.json: "phones" is missing; "sessions" holds 0 documents, 1 were dumped/,
      );
    });

    it('refuses an unreadable backup.json', async () => {
      const copy = await copyOfBackup('corrupt-manifest');
      await writeFile(join(copy, 'backup.json'), '{"format": 1, "database": ');
      await expectRefused(
        copy,
        BackupErrorCode.MetadataUnreadable,
        /backup\.json is unreadable .*not JSON/,
      );
    });

    it('refuses a backup that never finished', async () => {
      const unfinished = join(badRoot, 'mongodb', '.in-progress', '2026-11-20-x', 'db');
      await mkdir(unfinished, { recursive: true });
      await writeFile(join(unfinished, 'users.bson.gz'), await gzipAsync(BSON.serialize({ a: 1 })));
      await expectRefused(unfinished, BackupErrorCode.NothingToRestore, /never finished/);
    });
  });
});

describe('backups off the machine: copied to S3 and restored from there', () => {
  let context: TestContext;
  let client: MongoClient;
  let root: string;
  let bucket: string;
  let config: AppConfig;
  let storage: ObjectStorage;
  let originalFingerprint: Record<string, string[]>;
  const s3 = testS3Client();
  const PREFIX = 'prod/';

  const objectsUnder = async (prefix: string): Promise<Map<string, number>> => {
    const found = new Map<string, number>();
    for await (const entry of storage.list(prefix)) {
      found.set(entry.key, entry.size);
    }
    return found;
  };
  const put = (key: string, body: Buffer) => storage.put(key, Readable.from([body]));

  beforeAll(async () => {
    quietLogs();
    context = await createTestContext();
    client = new MongoClient(context.config.mongo.uri);
    await client.connect();
    root = await mkdtemp(join(tmpdir(), 'backup-s3-e2e-'));
    bucket = await createTestBucket('backups');
    config = {
      ...context.config,
      storage: loadConfig({
        NODE_ENV: 'test',
        ...s3Environment(bucket),
        BACKUP_S3_PREFIX: 'prod',
      }).config.storage,
    };
    const created = await createBackupStorage(config.storage);
    if (created === undefined) {
      throw new Error('no backup storage with STORAGE_DRIVER=s3');
    }
    storage = created;
    const user = await registerUser(context);
    await seedEveryCollection(context.db, new ObjectId(user.id));
    originalFingerprint = await fingerprint(context.db);
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
    await client.close();
    await context.close();
    s3.destroy();
  });

  it('uploads the finished backup in its disk layout, checked by size, and keeps 30 days in the bucket', async () => {
    // Left by earlier days: one past the retention, one within it, and a key that is no backup.
    await put(
      `${PREFIX}mongodb/2026-10-01/${context.db.databaseName}/users.bson.gz`,
      Buffer.from('old'),
    );
    await put(
      `${PREFIX}mongodb/2026-11-19/${context.db.databaseName}/users.bson.gz`,
      Buffer.from('recent'),
    );
    await put(`${PREFIX}mongodb/notes/readme.txt`, Buffer.from('not a backup'));
    // Left by an earlier backup the same day, of a collection since dropped.
    const stale = `${PREFIX}mongodb/2026-11-20/${context.db.databaseName}/dropped.bson.gz`;
    await put(stale, Buffer.from('stale'));

    const summary = await new MongoBackupService(context.db, config, storage).backup({
      root,
      now: BACKUP_MOMENT,
    });

    const base = `${PREFIX}mongodb/2026-11-20/${context.db.databaseName}/`;
    expect(summary.upload).toMatchObject({
      location: `s3://${bucket}/${base.slice(0, -1)}`,
      removed: ['2026-10-01'],
      kept: ['2026-11-19', '2026-11-20'],
    });
    const local = await readdir(summary.folder);
    const uploaded = await objectsUnder(base);
    expect([...uploaded.keys()].sort()).toEqual(local.map((name) => `${base}${name}`).sort());
    for (const name of local) {
      expect(uploaded.get(`${base}${name}`), name).toBe(
        (await stat(join(summary.folder, name))).size,
      );
    }
    expect(local).toContain('backup.json');
    expect(summary.upload?.files).toBe(local.length);
    expect(uploaded.has(stale)).toBe(false);
    expect((await objectsUnder(`${PREFIX}mongodb/2026-10-01/`)).size).toBe(0);
    expect((await objectsUnder(`${PREFIX}mongodb/2026-11-19/`)).size).toBe(1);
    expect((await objectsUnder(`${PREFIX}mongodb/notes/`)).size).toBe(1);
    // Byte for byte: the object is the file.
    const object = await s3.send(
      new GetObjectCommand({ Bucket: bucket, Key: `${base}calllogs.bson.gz` }),
    );
    expect(Buffer.from((await object.Body?.transformToByteArray()) ?? [])).toEqual(
      await readFile(join(summary.folder, 'calllogs.bson.gz')),
    );
  });

  it('restores from the bucket into an empty database, document for document', async () => {
    const target = client.db(uniqueName('restore'));
    try {
      const summary = await new MongoRestoreService(target, config).restore(
        `s3://${bucket}/${PREFIX}mongodb/2026-11-20`,
      );
      expect(summary.source).toBe(
        `s3://${bucket}/${PREFIX}mongodb/2026-11-20/${context.db.databaseName}`,
      );
      expect(summary.inserted).toBe(summary.documents);
      expect(summary.manifest?.database).toBe(context.db.databaseName);
      expect(await fingerprint(target)).toEqual(originalFingerprint);
    } finally {
      await target.dropDatabase();
    }
  });

  it('refuses a damaged or missing copy before touching the database', async () => {
    const base = `${PREFIX}mongodb/2026-11-20/${context.db.databaseName}/`;
    const damaged = `${PREFIX}damaged/${context.db.databaseName}/`;
    for await (const entry of storage.list(base)) {
      const bytes = await buffer((await storage.get(entry.key)).body);
      const name = entry.key.slice(base.length);
      await put(
        `${damaged}${name}`,
        name === 'calllogs.bson.gz' ? bytes.subarray(0, bytes.length - 40) : bytes,
      );
    }
    const target = client.db(uniqueName('restore'));
    const restore = new MongoRestoreService(target, config);
    await expect(restore.restore(`s3://${bucket}/${damaged}`)).rejects.toMatchObject({
      code: BackupErrorCode.DataCorrupt,
      message: expect.stringContaining(`s3://${bucket}/${damaged}calllogs.bson.gz`),
    });
    await expect(
      restore.restore(`s3://${bucket}/${PREFIX}mongodb/2020-01-01`),
    ).rejects.toMatchObject({
      code: BackupErrorCode.FolderNotFound,
    });
    await expect(restore.restore('ftp://example.test/backup')).rejects.toMatchObject({
      code: BackupErrorCode.FolderNotFound,
    });
    expect(await target.listCollections().toArray()).toEqual([]);
  });

  it('says the backup is complete on this machine when its copy fails', async () => {
    const missingBucket = loadConfig({
      NODE_ENV: 'test',
      ...s3Environment(`no-such-bucket-${Date.now().toString(36)}`),
    }).config.storage;
    const unreachable = await createBackupStorage(missingBucket);
    const attempt = new MongoBackupService(context.db, config, unreachable).backup({
      root,
      now: new Date('2026-11-21T02:00:00Z'),
    });
    await expect(attempt).rejects.toMatchObject({ code: BackupErrorCode.UploadFailed });
    await expect(attempt).rejects.toThrow(/complete on this machine/);
    expect(await readdir(join(root, 'mongodb', '2026-11-21'))).toEqual([context.db.databaseName]);
  });
});

describe('Redis snapshot', () => {
  let context: TestContext;

  beforeAll(async () => {
    quietLogs();
    context = await createTestContext();
  });
  afterAll(async () => {
    await context.close();
  });

  it('says plainly that persistence is disabled on a Redis run without it', async () => {
    const [, save] = await context.redis.config('GET', 'save');
    const [, appendOnly] = await context.redis.config('GET', 'appendonly');
    const persistent = save !== '' || appendOnly === 'yes';

    const result = await new RedisSnapshotService(context.redis).snapshot();

    expect(result.status).toBe(persistent ? 'completed' : 'disabled');
    if (result.status === 'disabled') {
      expect(result.message).toMatch(/persistence is disabled .*no snapshot taken/);
    }
  });
});
