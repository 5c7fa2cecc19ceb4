import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { IN_PROGRESS_FOLDER, mongoBackupsFolder, parseBackupDateName } from './backup-layout.js';

const DAY_MS = 24 * 60 * 60 * 1000;
/** A backup still "in progress" after a day was left by a process that died. */
const STALE_IN_PROGRESS_MS = DAY_MS;

export interface PruneResult {
  /** Date folders removed, oldest first. */
  removed: string[];
  /** Date folders kept, oldest first. */
  kept: string[];
  /** Leftovers of backups that never finished. */
  abandonedRemoved: string[];
}

async function entriesOf(folder: string): Promise<string[]> {
  try {
    return (await readdir(folder, { withFileTypes: true }))
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return [];
    }
    throw error;
  }
}

/**
 * Keeps the date folders of the last `retentionDays` days (today included) under
 * `{root}/mongodb/` and removes older ones; folders that are not dates are never touched.
 */
export async function pruneOldBackups(
  root: string,
  retentionDays: number,
  now: Date,
): Promise<PruneResult> {
  const folder = mongoBackupsFolder(root);
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const oldestKept = today - (retentionDays - 1) * DAY_MS;
  const result: PruneResult = { removed: [], kept: [], abandonedRemoved: [] };
  for (const name of await entriesOf(folder)) {
    const date = parseBackupDateName(name);
    if (date === undefined) {
      continue;
    }
    if (date.getTime() < oldestKept) {
      await rm(join(folder, name), { recursive: true, force: true });
      result.removed.push(name);
    } else {
      result.kept.push(name);
    }
  }
  const inProgress = join(folder, IN_PROGRESS_FOLDER);
  for (const name of await entriesOf(inProgress)) {
    const path = join(inProgress, name);
    if (now.getTime() - (await stat(path)).mtimeMs > STALE_IN_PROGRESS_MS) {
      await rm(path, { recursive: true, force: true });
      result.abandonedRemoved.push(name);
    }
  }
  return result;
}
