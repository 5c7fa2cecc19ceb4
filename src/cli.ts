import { Logger } from '@nestjs/common';
import { type AppConfig, ConfigValidationError, loadConfig } from './config/app-config.js';
import {
  CliUsageError,
  type CommandOutput,
  createAdminCommand,
  migrateCommand,
} from './cli/cli-commands.js';

type Command = (config: AppConfig, args: string[], print: CommandOutput) => Promise<void>;

const COMMANDS: Record<string, { run: Command; help: string }> = {
  migrate: {
    run: migrateCommand,
    help: 'migrate [up|down|status]   apply, revert one, or list migrations',
  },
  'create-admin': {
    run: createAdminCommand,
    help: 'create-admin --email E --password P   create or promote an admin',
  },
};

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
    await command.run(config, args, print);
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
