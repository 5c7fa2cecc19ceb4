import { Logger } from '@nestjs/common';
import { type AppConfig, ConfigValidationError, loadConfig } from './config/app-config.js';
import {
  backupCommand,
  CliUsageError,
  type CommandOutput,
  createAdminCommand,
  migrateCommand,
  redisSnapshotCommand,
  reencryptSecretsCommand,
  restoreCommand,
} from './cli/cli-commands.js';
import {
  cleanupSessionsCommand,
  purgeSessionsCommand,
  purgeRecordingsCommand,
  purgeWebhookDeliveriesCommand,
  reconcileCallsCommand,
  sweepRecordingsCommand,
  sweepWebhooksCommand,
} from './cli/maintenance-commands.js';
import type { ProgressOutput } from './maintenance/backup/backup-progress.js';

type Command = (
  config: AppConfig,
  args: string[],
  print: CommandOutput,
  progress: ProgressOutput,
) => Promise<void>;

const COMMANDS: Record<string, { run: Command; help: string }> = {
  migrate: {
    run: migrateCommand,
    help: 'migrate [up|down|status]   apply, revert one, or list migrations',
  },
  'create-admin': {
    run: createAdminCommand,
    help: 'create-admin --email E --password P   create an admin (an existing account is never promoted)',
  },
  backup: {
    run: backupCommand,
    help: 'backup [--out DIR]   dump every collection to DIR (default BACKUP_DIR)/mongodb/YYYY-MM-DD/<db>/',
  },
  restore: {
    run: restoreCommand,
    help: 'restore <dir> [--drop] [--force]   restore a backup folder into an empty MONGODB_URI database (--force: into a live one; --drop replaces collections)',
  },
  'cleanup-sessions': {
    run: cleanupSessionsCommand,
    help: 'cleanup-sessions   end sessions idle past their timeout (SESSION_TIMEOUT)',
  },
  'reconcile-calls': {
    run: reconcileCallsCommand,
    help: 'reconcile-calls   finish stale calls from Exotel call details; fail never-placed calls',
  },
  'purge-sessions': {
    run: purgeSessionsCommand,
    help: 'purge-sessions   delete ended sessions older than ENDED_SESSION_RETENTION_DAYS',
  },
  'sweep-webhooks': {
    run: sweepWebhooksCommand,
    help: 'sweep-webhooks   dispatch webhook events, analyses and deliveries a crash left unqueued',
  },
  'purge-webhook-deliveries': {
    run: purgeWebhookDeliveriesCommand,
    help: 'purge-webhook-deliveries   delete delivery log entries older than WEBHOOK_DELIVERY_RETENTION_DAYS',
  },
  'sweep-recordings': {
    run: sweepRecordingsCommand,
    help: 'sweep-recordings   queue recording copies a crash left unqueued',
  },
  'purge-recordings': {
    run: purgeRecordingsCommand,
    help: "purge-recordings   delete recording copies past their retention (RECORDING_RETENTION_DAYS or the user's own)",
  },
  'reencrypt-secrets': {
    run: reencryptSecretsCommand,
    help: 'reencrypt-secrets   re-encrypt every stored secret with the current key (ENCRYPTION_KEY_ID)',
  },
  'redis-snapshot': {
    run: redisSnapshotCommand,
    help: 'redis-snapshot   BGSAVE the cache Redis where persistence is enabled',
  },
};

/** Progress is one line rewritten in place on a terminal; in CI or when piped, plain lines. */
function progressOutput(config: AppConfig): ProgressOutput {
  return {
    interactive: process.stdout.isTTY && !config.ci,
    write: (text) => process.stdout.write(text),
  };
}

function usage(): string {
  return [
    'usage: npm run cli -- <command> [options]',
    '',
    ...Object.values(COMMANDS).map((command) => `  ${command.help}`),
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  const print: CommandOutput = (line) => process.stdout.write(`${line}\n`);
  const command = name !== undefined && Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    process.stderr.write(
      `${name === undefined ? 'no command given' : `unknown command "${name}"`}\n\n${usage()}\n`,
    );
    return 2;
  }
  try {
    const { config, warnings } = loadConfig();
    warnings.forEach((warning) => new Logger('Config').warn(warning));
    await command.run(config, args, print, progressOutput(config));
    return 0;
  } catch (error) {
    if (error instanceof CliUsageError || error instanceof ConfigValidationError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    process.stderr.write(
      `${name} failed: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
