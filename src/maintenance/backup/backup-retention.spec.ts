import { mkdir, mkdtemp, readdir, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pruneOldBackups } from './backup-retention.js';

describe('pruneOldBackups', () => {
  let root: string;
  const now = new Date('2026-11-24T02:00:00Z');
  const folders = async (): Promise<string[]> => (await readdir(join(root, 'mongodb'))).sort();

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'backup-retention-spec-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function makeFolders(...names: string[]): Promise<void> {
    for (const name of names) {
      await mkdir(join(root, 'mongodb', name, 'ai-calling-platform'), { recursive: true });
    }
  }

  it('keeps the last N days, today included, and removes older date folders', async () => {
    await makeFolders('2026-11-24', '2026-11-18', '2026-11-17', '2026-11-16', '2025-01-01');

    const result = await pruneOldBackups(root, 7, now);

    expect(result.removed).toEqual(['2025-01-01', '2026-11-16', '2026-11-17']);
    expect(result.kept).toEqual(['2026-11-18', '2026-11-24']);
    expect(await folders()).toEqual(['2026-11-18', '2026-11-24']);
  });

  it('never touches folders that are not backup dates', async () => {
    await makeFolders('2020-01-01', 'keep-me', '2020-13-45', 'latest');

    const result = await pruneOldBackups(root, 30, now);

    expect(result.removed).toEqual(['2020-01-01']);
    expect(await folders()).toEqual(['2020-13-45', 'keep-me', 'latest']);
  });

  it('removes backups that never finished after a day, not the one running now', async () => {
    const abandoned = join(root, 'mongodb', '.in-progress', 'abandoned');
    const running = join(root, 'mongodb', '.in-progress', 'running');
    await mkdir(abandoned, { recursive: true });
    await mkdir(running, { recursive: true });
    const twoDaysAgo = new Date(now.getTime() - 2 * 24 * 60 * 60 * 1000);
    await utimes(abandoned, twoDaysAgo, twoDaysAgo);
    await utimes(running, now, now);

    const result = await pruneOldBackups(root, 30, now);

    expect(result.abandonedRemoved).toEqual(['abandoned']);
    expect(await readdir(join(root, 'mongodb', '.in-progress'))).toEqual(['running']);
  });

  it('does nothing when no backup was ever made', async () => {
    expect(await pruneOldBackups(root, 30, now)).toEqual({
      removed: [],
      kept: [],
      abandonedRemoved: [],
    });
  });
});
