import type { INestApplication } from '@nestjs/common';
import {
  DatabaseCommandCounter,
  type DatabaseCommandCounts,
} from '../../src/infra/commands/database-command-counter.js';

/**
 * Runs `work` and returns what it cost in MongoDB and Redis commands on `app` (created with
 * COUNT_DATABASE_COMMANDS=true). Work the app does in the background meanwhile (queue workers,
 * crons) counts too: drain it first, or run the budgeted work on an app without workers.
 */
export async function countCommands<T>(
  app: INestApplication,
  work: () => Promise<T>,
): Promise<{ result: T; counts: DatabaseCommandCounts }> {
  const counter = app.get(DatabaseCommandCounter);
  if (!counter.enabled) {
    throw new Error('countCommands needs an app created with COUNT_DATABASE_COMMANDS=true');
  }
  const before = counter.snapshot();
  const result = await work();
  return { result, counts: counter.since(before) };
}
