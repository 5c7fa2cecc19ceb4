import { Logger } from '@nestjs/common';
import { MongoClient } from 'mongodb';
import type { AppConfig } from '../config/app-config.js';
import { MIGRATIONS } from '../migrations/migration-registry.js';
import { MigrationRunner } from '../migrations/migration-runner.js';
import { ensureAdmin } from '../users/ensure-admin.js';

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
  if (!password || password.length < 8) {
    throw new CliUsageError(
      'create-admin needs --password with at least 8 characters (or ADMIN_PASSWORD)',
    );
  }
  const outcome = await withDatabase(config, (client) =>
    ensureAdmin(client.db(), email, password, config.bcryptRounds),
  );
  print(`admin ${email.toLowerCase()}: ${outcome}`);
}
