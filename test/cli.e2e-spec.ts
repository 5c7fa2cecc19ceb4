import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Logger } from '@nestjs/common';
import { Redis } from 'ioredis';
import { type Db, Int32, MongoClient, ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  backupCommand,
  CliUsageError,
  createAdminCommand,
  restoreCommand,
} from '../src/cli/cli-commands.js';
import { type AppConfig, loadConfig } from '../src/config/app-config.js';
import type { ProgressOutput } from '../src/maintenance/backup/backup-progress.js';
import { buildEntry } from './support/build-entry.js';
import { registerUser } from './support/factories.js';
import { call } from './support/http.js';
import { createTestBucket, s3Environment } from './support/s3.js';
import { createTestContext, migrate, testConfig, uniqueName } from './support/test-app.js';

const projectRoot = resolve(import.meta.dirname, '..');
const CALL_LOGS = 1500;
/** How progress lines print the count. */
const CALL_LOGS_SHOWN = CALL_LOGS.toLocaleString('en-US');

interface Captured {
  lines: string[];
  progress: string;
  output: ProgressOutput;
}

function capture(interactive = false): Captured {
  const captured: Captured = {
    lines: [],
    progress: '',
    output: { interactive, write: (text) => (captured.progress += text) },
  };
  return captured;
}

async function seed(db: Db): Promise<void> {
  const userId = new ObjectId();
  await db.collection('users').insertOne({
    _id: userId,
    email: `${uniqueName('cli')}@example.com`,
    name: 'CLI user',
    role: 'user',
    credits: 12.5,
    isActive: true,
    createdAt: new Date(),
  });
  await db.collection('calllogs').insertMany(
    Array.from({ length: CALL_LOGS }, (_unused, index) => ({
      sessionId: `cli-session-${index}`,
      userId,
      status: 'completed',
      durationSec: new Int32(index % 300),
      costBreakdown: { total: index / 100 },
      createdAt: new Date(Date.UTC(2026, 10, 1) + index * 1000),
    })),
  );
}

/** The one date folder a backup made under `root` (its work folder `.in-progress` aside). */
async function dateFolderOf(root: string): Promise<string> {
  const dates = (await readdir(join(root, 'mongodb'))).filter((name) =>
    /^\d{4}-\d{2}-\d{2}$/.test(name),
  );
  expect(dates).toHaveLength(1);
  return join(root, 'mongodb', dates[0]!);
}

async function counts(db: Db): Promise<Record<string, number>> {
  const result: Record<string, number> = {};
  for (const { name } of await db.listCollections({}, { nameOnly: true }).toArray()) {
    result[name] = await db.collection(name).countDocuments();
  }
  return result;
}

describe('operator CLI: backup and restore commands', () => {
  let config: AppConfig;
  let client: MongoClient;
  let db: Db;
  let root: string;
  let backupFolder: string;
  let seededCounts: Record<string, number>;

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    config = testConfig();
    client = new MongoClient(config.mongo.uri);
    await client.connect();
    db = client.db();
    await migrate(db, config);
    await seed(db);
    seededCounts = await counts(db);
    root = await mkdtemp(join(tmpdir(), 'cli-e2e-'));
  });

  afterAll(async () => {
    await db.dropDatabase();
    await client.close();
    await rm(root, { recursive: true, force: true });
  });

  it('backs up to --out and prints plain progress lines when not on a terminal', async () => {
    const output = capture(false);

    await backupCommand(config, ['--out', root], (line) => output.lines.push(line), output.output);

    backupFolder = await dateFolderOf(root);
    const documents = Object.values(seededCounts).reduce((sum, count) => sum + count, 0);
    expect(output.lines).toEqual([
      expect.stringMatching(
        new RegExp(
          `^backup complete: .*${db.databaseName} \\(\\d+ collections, ${documents} documents`,
        ),
      ),
    ]);
    expect(output.progress).toContain(
      `backup calllogs: ${CALL_LOGS_SHOWN}/${CALL_LOGS_SHOWN} documents (100%)\n`,
    );
    expect(output.progress).toContain('backup users: 1/1 documents (100%)\n');
    expect(output.progress).not.toContain('\r');
  });

  it('rewrites one progress line in place on a terminal', async () => {
    const target = client.db(uniqueName('restore'));
    const output = capture(true);

    await restoreCommand(
      { ...config, mongo: { ...config.mongo, uri: uriOf(config, target.databaseName) } },
      [backupFolder],
      (line) => output.lines.push(line),
      output.output,
    );

    expect(output.progress).toContain(
      `\rrestore calllogs: 1,000/${CALL_LOGS_SHOWN} documents (66%)\u001b[K`,
    );
    expect(output.progress).toContain(
      `\rrestore calllogs: ${CALL_LOGS_SHOWN}/${CALL_LOGS_SHOWN} documents (100%)\u001b[K\n`,
    );
    expect(await counts(target)).toEqual(seededCounts);
    await target.dropDatabase();
  });

  it('copies the backup to S3 when configured, and restores from an s3:// location', async () => {
    const bucket = await createTestBucket('cli');
    const withS3: AppConfig = {
      ...config,
      storage: loadConfig({ NODE_ENV: 'test', ...s3Environment(bucket) }).config.storage,
    };
    const backupOutput = capture(false);
    await backupCommand(
      withS3,
      ['--out', await mkdtemp(join(tmpdir(), 'cli-s3-'))],
      (line) => backupOutput.lines.push(line),
      backupOutput.output,
    );
    const copied = backupOutput.lines.find((line) => line.startsWith('copied to '));
    const location = /^copied to (s3:\/\/\S+) \(\d+ files, .*checked by size/.exec(
      copied ?? '',
    )?.[1];
    expect(location).toMatch(
      new RegExp(`^s3://${bucket}/mongodb/\\d{4}-\\d{2}-\\d{2}/${db.databaseName}$`),
    );

    const target = client.db(uniqueName('restore'));
    const restoreOutput = capture(false);
    await restoreCommand(
      { ...withS3, mongo: { ...withS3.mongo, uri: uriOf(withS3, target.databaseName) } },
      [location ?? ''],
      (line) => restoreOutput.lines.push(line),
      restoreOutput.output,
    );
    expect(restoreOutput.lines.at(-1)).toMatch(
      new RegExp(`^restore complete: ${location ?? ''} -> ${target.databaseName}`),
    );
    expect(await counts(target)).toEqual(seededCounts);
    await target.dropDatabase();
  });

  it.each([
    ['without --drop', []],
    ['with --drop', ['--drop']],
  ])(
    'refuses a restore %s into the live database without --force, changing nothing',
    async (_case, flags) => {
      await db.collection('users').updateMany({}, { $set: { name: 'changed since' } });
      const before = await counts(db);
      const output = capture(false);

      const attempt = restoreCommand(
        config,
        [backupFolder, ...flags],
        (line) => output.lines.push(line),
        output.output,
      );

      await expect(attempt).rejects.toThrow(
        new RegExp(
          `refused: ${db.databaseName} is a live database \\(documents in calllogs, users\\); nothing was changed.*--force`,
        ),
      );
      expect(await counts(db)).toEqual(before);
      expect((await db.collection('users').findOne({}))?.name).toBe('changed since');
      expect(output.progress).toBe('');
    },
  );

  it('restores with --drop --force over changed data and prints one line per collection', async () => {
    await db.collection('calllogs').deleteMany({});
    await db.collection('users').updateMany({}, { $set: { name: 'changed' } });
    const output = capture(false);

    await restoreCommand(
      config,
      [backupFolder, '--drop', '--force'],
      (line) => output.lines.push(line),
      output.output,
    );

    expect(await counts(db)).toEqual(seededCounts);
    expect((await db.collection('users').findOne({}))?.name).toBe('CLI user');
    expect(output.lines).toContain(
      `calllogs: ${CALL_LOGS}/${CALL_LOGS} documents, 15 indexes created`,
    );
    expect(output.lines.at(-1)).toMatch(
      new RegExp(`^restore complete: .* -> ${db.databaseName} \\(\\d+ documents, \\d+ ms\\)$`),
    );
    const documents = Object.values(seededCounts).reduce((sum, count) => sum + count, 0);
    expect(output.lines[0]).toMatch(
      new RegExp(
        `^backup of ${db.databaseName} taken between \\S+Z and \\S+Z \\(\\d+ collections, ${documents} documents; (mongodb|ferretdb) \\S+, app \\d+\\.\\d+\\.\\d+\\)$`,
      ),
    );
  });

  it('fails clearly, after restoring the rest, when documents already exist and only --force is given', async () => {
    await db
      .collection('calllogs')
      .deleteMany({ sessionId: { $in: ['cli-session-1', 'cli-session-2'] } });
    const output = capture(false);

    await expect(
      restoreCommand(
        config,
        [backupFolder, '--force'],
        (line) => output.lines.push(line),
        output.output,
      ),
    ).rejects.toThrow(
      /documents were not restored because they already exist .*calllogs: 1498.*Run again with --drop --force/,
    );
    expect(await counts(db)).toEqual(seededCounts);
    expect(output.lines).toContain(`calllogs: 2/${CALL_LOGS} documents, 15 indexes created`);
  });

  it('refuses a create-admin password over 72 bytes (37 characters, 73 bytes) naming --password', async () => {
    const email = `${uniqueName('bytes')}@example.com`;
    const output = capture(false);
    const attempt = createAdminCommand(
      config,
      ['--email', email, '--password', `${'é'.repeat(36)}a`],
      (line) => output.lines.push(line),
    );
    await expect(attempt).rejects.toBeInstanceOf(CliUsageError);
    await expect(attempt).rejects.toThrow(/--password must be at most 72 bytes/);
    expect(await db.collection('users').countDocuments({ email })).toBe(0);
  });

  it.each([
    ['restore without a folder', restoreCommand, [], /restore needs the backup folder/],
    [
      'restore with an unknown flag',
      restoreCommand,
      ['/tmp', '--forse'],
      /unexpected argument "--forse"/,
    ],
    ['backup --out without a folder', backupCommand, ['--out'], /--out needs a folder/],
    ['backup with an unknown argument', backupCommand, ['now'], /unexpected argument "now"/],
  ])('refuses %s as a usage error', async (_case, command, args, message) => {
    const before = await counts(db);
    const output = capture(false);
    const attempt = command(config, args, (line) => output.lines.push(line), output.output);
    await expect(attempt).rejects.toBeInstanceOf(CliUsageError);
    await expect(attempt).rejects.toThrow(message);
    expect(await counts(db)).toEqual(before);
  });
});

function uriOf(config: AppConfig, database: string): string {
  const uri = new URL(config.mongo.uri);
  uri.pathname = `/${database}`;
  return uri.toString();
}

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('operator CLI: the built program', () => {
  let buildFolder: string;
  let cliScript: string;
  let config: AppConfig;
  let client: MongoClient;
  let root: string;

  async function buildCli(): Promise<void> {
    const built = await buildEntry('cli');
    buildFolder = built.folder;
    cliScript = built.script;
  }

  function run(command: string, args: string[], env: Record<string, string>): Promise<CliRun> {
    return new Promise((resolveRun, reject) => {
      const child = spawn(command, args, {
        cwd: projectRoot,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolveRun({ code, stdout, stderr }));
    });
  }

  /** The CLI as an operator runs it in CI: its own environment, no terminal. */
  function cli(
    args: string[],
    database: string,
    environment: Record<string, string> = {},
  ): Promise<CliRun> {
    return run(process.execPath, [cliScript, ...args], {
      ...environment,
      NODE_ENV: 'test',
      CI: 'true',
      MONGODB_URI: uriOf(config, database),
      REDIS_URL: config.redis.url,
      JWT_SECRET: randomBytes(32).toString('hex'),
      ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    });
  }

  beforeAll(async () => {
    config = testConfig();
    client = new MongoClient(config.mongo.uri);
    await client.connect();
    root = await mkdtemp(join(tmpdir(), 'cli-spawn-e2e-'));
    await buildCli();
  });

  afterAll(async () => {
    await client.close();
    await rm(root, { recursive: true, force: true });
    await rm(buildFolder, { recursive: true, force: true });
  });

  it('exits 2 with the usage for an unknown command', async () => {
    const result = await cli(['backpu'], 'unused');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('unknown command "backpu"');
    expect(result.stderr).toMatch(/backup \[--out DIR\]/);
    expect(result.stderr).toMatch(/restore <dir> \[--drop\]/);
    expect(result.stderr).toMatch(/redis-snapshot/);
  });

  it('exits 2 for a restore without a folder', async () => {
    const result = await cli(['restore'], 'unused');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('restore needs the backup folder');
  });

  it('backs up and restores into an empty database with exit code 0', async () => {
    const source = client.db(uniqueName('cli_source'));
    const target = client.db(uniqueName('cli_target'));
    await seed(source);

    const backup = await cli(['backup', '--out', root], source.databaseName);
    expect(backup.stderr).toBe('');
    expect(backup.code).toBe(0);
    expect(backup.stdout).toContain(
      `backup calllogs: ${CALL_LOGS_SHOWN}/${CALL_LOGS_SHOWN} documents (100%)`,
    );
    const folder = join(await dateFolderOf(root), source.databaseName);

    const restore = await cli(['restore', folder, '--drop'], target.databaseName);
    expect(restore.stderr).toBe('');
    expect(restore.code).toBe(0);
    expect(restore.stdout).toContain('restore complete');
    expect(restore.stdout).toContain(`backup of ${source.databaseName} taken between `);
    expect(await counts(target)).toEqual(await counts(source));

    await source.dropDatabase();
    await target.dropDatabase();
  });

  it('exits 1 refusing a restore into a live database, and restores it with --drop --force', async () => {
    const source = client.db(uniqueName('cli_live_source'));
    const target = client.db(uniqueName('cli_live_target'));
    await seed(source);
    await seed(target);
    const backupRoot = join(root, 'live');
    expect((await cli(['backup', '--out', backupRoot], source.databaseName)).code).toBe(0);
    const folder = join(await dateFolderOf(backupRoot), source.databaseName);
    const before = await counts(target);

    const refused = await cli(['restore', folder, '--drop'], target.databaseName);

    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /^restore failed: refused: \S+ is a live database \(documents in calllogs, users\); nothing was changed\. --drop would delete those collections.*add --force/,
    );
    expect(await counts(target)).toEqual(before);

    const forced = await cli(['restore', folder, '--drop', '--force'], target.databaseName);

    expect(forced.stderr).toBe('');
    expect(forced.code).toBe(0);
    expect(await counts(target)).toEqual(await counts(source));
    expect(await target.collection('users').findOne({})).toEqual(
      await source.collection('users').findOne({}),
    );
    await source.dropDatabase();
    await target.dropDatabase();
  });

  it('exits 1 with a clear message for a missing backup folder and changes nothing', async () => {
    const target = client.db(uniqueName('cli_untouched'));
    const result = await cli(['restore', join(root, 'does-not-exist')], target.databaseName);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^restore failed: backup folder not found: .*does-not-exist\n$/);
    expect(await counts(target)).toEqual({});
  });

  it('exits 1 naming the damaged collection of a truncated backup and changes nothing', async () => {
    const source = client.db(uniqueName('cli_truncated'));
    await seed(source);
    const backup = await cli(['backup', '--out', join(root, 'truncated')], source.databaseName);
    expect(backup.code).toBe(0);
    const folder = join(await dateFolderOf(join(root, 'truncated')), source.databaseName);
    const file = join(folder, 'calllogs.bson.gz');
    await truncate(file, Math.floor((await readFile(file)).length / 2));
    const target = client.db(uniqueName('cli_untouched'));

    const result = await cli(['restore', folder, '--drop'], target.databaseName);

    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /restore failed: backup of collection "calllogs" is damaged .*truncated/,
    );
    expect(await counts(target)).toEqual({});
    await source.dropDatabase();
  });

  it('says whether the Redis keeps snapshots, exit code 0', async () => {
    const redisConfig = new Redis(config.redis.url);
    const [, save] = await redisConfig.config('GET', 'save');
    const [, appendOnly] = await redisConfig.config('GET', 'appendonly');
    redisConfig.disconnect();

    const result = await cli(['redis-snapshot'], 'unused');

    expect(result.code).toBe(0);
    expect(result.stdout).toContain(
      save === '' && appendOnly === 'no' ? 'redis snapshot: disabled' : 'redis snapshot: completed',
    );
  });

  it('creates an admin with exit code 0, and reports it unchanged the second time', async () => {
    const database = client.db(uniqueName('cli_admin'));
    await migrate(database, config);
    const email = `${uniqueName('root')}@example.com`;
    try {
      const created = await cli(
        ['create-admin', '--email', email, '--password', 'root password 1'],
        database.databaseName,
      );
      const again = await cli(
        ['create-admin', '--email', email, '--password', 'other password 2'],
        database.databaseName,
      );
      expect([created.code, again.code]).toEqual([0, 0]);
      expect(created.stdout).toContain(`admin ${email}: created`);
      expect(again.stdout).toContain(`admin ${email}: unchanged (its password was not changed)`);
      expect(await database.collection('users').findOne({ email })).toMatchObject({
        role: 'admin',
        isActive: true,
      });
    } finally {
      await database.dropDatabase();
    }
  });

  it('never promotes an account someone registered with ADMIN_EMAIL: exit 1, it stays a user', async () => {
    const context = await createTestContext();
    try {
      const squatter = await registerUser(context);
      const result = await cli(['create-admin'], context.db.databaseName, {
        ADMIN_EMAIL: squatter.email.toUpperCase(),
        ADMIN_PASSWORD: 'operator password 1',
      });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`${squatter.email} already belongs to an account`);
      expect(result.stderr).toContain('Choose another email');
      expect(result.stderr).toContain('PATCH /api/v1/admin/users/:id');
      expect(await context.db.collection('users').findOne({ email: squatter.email })).toMatchObject(
        { role: 'user', isActive: true },
      );
      const asOperator = await call(context.app, 'POST', '/api/v1/auth/login', {
        body: { email: squatter.email, password: 'operator password 1' },
      });
      expect(asOperator.status).toBe(401);
      expect(await context.db.collection('users').countDocuments({ role: 'admin' })).toBe(0);
    } finally {
      await context.close();
    }
  });
});
