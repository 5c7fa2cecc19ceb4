import { Logger } from '@nestjs/common';
import { MongoClient } from 'mongodb';
import type { AppConfig } from '../config/app-config.js';
import { createRedisConnection } from '../infra/redis/redis-connection.factory.js';
import {
  createProgressPrinter,
  formatBytes,
  type ProgressOutput,
} from '../maintenance/backup/backup-progress.js';
import type { BackupManifest } from '../maintenance/backup/backup-manifest.js';
import { MongoBackupService } from '../maintenance/backup/mongo-backup.service.js';
import { MongoRestoreService } from '../maintenance/backup/mongo-restore.service.js';
import { RedisSnapshotService } from '../maintenance/backup/redis-snapshot.service.js';
import { MIGRATIONS } from '../migrations/migration-registry.js';
import { MigrationRunner } from '../migrations/migration-runner.js';
import { emailTakenAdvice, ensureAdmin } from '../users/ensure-admin.js';
import { passwordProblem } from '../users/password-policy.js';
import { reencryptSecrets } from '../users/reencrypt-secrets.js';
import { SecretBoxService } from '../infra/crypto/secret-box.service.js';
import { createBackupStorage } from '../storage/storage.factory.js';

export type CommandOutput = (line: string) => void;

export class CliUsageError extends Error {}

async function withDatabase<T>(
  config: AppConfig,
  work: (client: MongoClient) => Promise<T>,
): Promise<T> {
  const client = new MongoClient(config.mongo.uri, {
    serverSelectionTimeoutMS: config.mongo.serverSelectionTimeoutMS,
  });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.close();
  }
}

function migrationRunner(client: MongoClient, config: AppConfig): MigrationRunner {
  return new MigrationRunner(
    { db: client.db(), config, logger: new Logger('Migrations') },
    MIGRATIONS,
  );
}

export async function migrateCommand(
  config: AppConfig,
  args: string[],
  print: CommandOutput,
): Promise<void> {
  const direction = args[0] ?? 'up';
  if (!['up', 'down', 'status'].includes(direction)) {
    throw new CliUsageError(`unknown migrate direction "${direction}" (up, down or status)`);
  }
  await withDatabase(config, async (client) => {
    const runner = migrationRunner(client, config);
    if (direction === 'up') {
      const applied = await runner.up();
      print(
        applied.length === 0
          ? 'migrations: up to date'
          : `migrations applied: ${applied.join(', ')}`,
      );
    } else if (direction === 'down') {
      const reverted = await runner.down();
      print(reverted ? `migration reverted: ${reverted}` : 'migrations: nothing to revert');
    } else {
      for (const entry of await runner.status()) {
        const state = entry.appliedAt ? `applied ${entry.appliedAt.toISOString()}` : 'pending';
        print(`${state.padEnd(34)} ${entry.id}  ${entry.description}`);
      }
    }
  });
}

function option(args: string[], name: string): string | undefined {
  const index = args.indexOf(`--${name}`);
  return index >= 0 ? args[index + 1] : undefined;
}

export async function createAdminCommand(
  config: AppConfig,
  args: string[],
  print: CommandOutput,
): Promise<void> {
  const email = option(args, 'email') ?? config.admin.email;
  const password = option(args, 'password') ?? config.admin.password;
  if (!email || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) {
    throw new CliUsageError('create-admin needs --email <address> (or ADMIN_EMAIL)');
  }
  if (!password) {
    throw new CliUsageError('create-admin needs --password (or ADMIN_PASSWORD)');
  }
  const problem = passwordProblem(password, '--password');
  if (problem !== undefined) {
    throw new CliUsageError(`create-admin: ${problem}`);
  }
  const outcome = await withDatabase(config, (client) =>
    ensureAdmin(client.db(), email, password, config.bcryptRounds),
  );
  if (outcome === 'email-taken') {
    throw new Error(emailTakenAdvice(email));
  }
  print(
    `admin ${email.toLowerCase()}: ${outcome}${outcome === 'created' ? '' : ' (its password was not changed)'}`,
  );
}

/** Refuses any argument a command does not know, so a typo never runs something else. */
function assertOnlyKnownArguments(args: string[], known: string[], usage: string): void {
  const unknown = args.find((argument) => !known.includes(argument));
  if (unknown !== undefined) {
    throw new CliUsageError(`unexpected argument "${unknown}"; usage: ${usage}`);
  }
}

export async function backupCommand(
  config: AppConfig,
  args: string[],
  print: CommandOutput,
  progress: ProgressOutput,
): Promise<void> {
  const usage = 'backup [--out DIR]';
  const outIndex = args.indexOf('--out');
  const root = outIndex >= 0 ? args[outIndex + 1] : undefined;
  if (outIndex >= 0 && (root === undefined || root.startsWith('--'))) {
    throw new CliUsageError(`--out needs a folder; usage: ${usage}`);
  }
  const rest = outIndex >= 0 ? [...args.slice(0, outIndex), ...args.slice(outIndex + 2)] : args;
  assertOnlyKnownArguments(rest, [], usage);
  const storage = await createBackupStorage(config.storage);
  const summary = await withDatabase(config, (client) =>
    new MongoBackupService(client.db(), config, storage).backup({
      ...(root === undefined ? {} : { root }),
      onProgress: createProgressPrinter(progress),
    }),
  );
  print(
    `backup complete: ${summary.folder} (${summary.collections.length} collections, ` +
      `${summary.documents} documents, ${formatBytes(summary.bytes)}, ${summary.durationMs} ms)`,
  );
  if (summary.retention.removed.length > 0) {
    print(`old backups removed: ${summary.retention.removed.join(', ')}`);
  }
  if (summary.upload !== undefined) {
    print(
      `copied to ${summary.upload.location} (${summary.upload.files} files, ` +
        `${formatBytes(summary.upload.bytes)}, checked by size, ${summary.upload.durationMs} ms)`,
    );
    if (summary.upload.removed.length > 0) {
      print(`old backups removed from the bucket: ${summary.upload.removed.join(', ')}`);
    }
  }
}

/** One line saying what the backup covers, from its backup.json when it has one. */
function describeBackup(manifest: BackupManifest | undefined): string {
  if (manifest === undefined) {
    return 'backup without backup.json (older backup or mongodump): time range unknown';
  }
  const documents = manifest.collections.reduce((sum, entry) => sum + entry.documents, 0);
  return (
    `backup of ${manifest.database} taken between ${manifest.startedAt} and ${manifest.finishedAt} ` +
    `(${manifest.collections.length} collections, ${documents} documents; ` +
    `${manifest.server.kind} ${manifest.server.version}, app ${manifest.appVersion})`
  );
}

export async function restoreCommand(
  config: AppConfig,
  args: string[],
  print: CommandOutput,
  progress: ProgressOutput,
): Promise<void> {
  const usage = 'restore <dir | s3://bucket/prefix> [--drop] [--force]';
  const [folder, ...flags] = args;
  if (folder === undefined || folder.startsWith('--')) {
    throw new CliUsageError(`restore needs the backup folder or storage location; usage: ${usage}`);
  }
  assertOnlyKnownArguments(flags, ['--drop', '--force'], usage);
  const summary = await withDatabase(config, (client) =>
    new MongoRestoreService(client.db(), config).restore(folder, {
      drop: flags.includes('--drop'),
      force: flags.includes('--force'),
      onProgress: createProgressPrinter(progress),
    }),
  );
  print(describeBackup(summary.manifest));
  for (const collection of summary.collections) {
    const skipped =
      collection.indexesSkipped.length > 0
        ? `, not supported by this server: ${collection.indexesSkipped.join(', ')}`
        : '';
    print(
      `${collection.collection}: ${collection.inserted}/${collection.documents} documents, ` +
        `${collection.indexesCreated.length} indexes created${skipped}`,
    );
  }
  const conflicting = summary.collections.filter((collection) => collection.conflicts > 0);
  if (conflicting.length > 0) {
    throw new Error(
      `${summary.conflicts} documents were not restored because they already exist in ` +
        `${summary.database} (${conflicting.map((entry) => `${entry.collection}: ${entry.conflicts}`).join(', ')}); ` +
        'everything else was restored. Run again with --drop --force to replace the collections with the backup',
    );
  }
  print(
    `restore complete: ${summary.source} -> ${summary.database} ` +
      `(${summary.inserted} documents, ${summary.durationMs} ms)`,
  );
}

export async function reencryptSecretsCommand(
  config: AppConfig,
  args: string[],
  print: CommandOutput,
): Promise<void> {
  assertOnlyKnownArguments(args, [], 'reencrypt-secrets');
  const summary = await withDatabase(config, (client) =>
    reencryptSecrets(client.db(), new SecretBoxService(config)),
  );
  print(
    `secrets re-encrypted with key "${config.encryption.currentKeyId}": ${summary.reencrypted} ` +
      `(already current: ${summary.alreadyCurrent}, changed meanwhile: ${summary.changedMeanwhile})`,
  );
  if (summary.unreadable.length > 0) {
    throw new Error(
      `${summary.unreadable.length} stored secrets open with no configured key ` +
        `(${summary.unreadable.join(', ')}); keep their old key in ENCRYPTION_KEYS, or have ` +
        'those users enter their Exotel token again or rotate their webhook secret',
    );
  }
}

export async function redisSnapshotCommand(
  config: AppConfig,
  args: string[],
  print: CommandOutput,
): Promise<void> {
  assertOnlyKnownArguments(args, [], 'redis-snapshot');
  const redis = createRedisConnection(config.redis.url, 'cache', 'ai-calling-platform-cli');
  try {
    const result = await new RedisSnapshotService(redis).snapshot();
    if (result.status === 'failed' || result.status === 'unavailable') {
      throw new Error(result.message);
    }
    print(`redis snapshot: ${result.status}`);
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}
