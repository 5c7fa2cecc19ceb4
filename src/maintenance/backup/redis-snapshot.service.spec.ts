import type { Redis } from 'ioredis';
import { beforeAll, describe, expect, it } from 'vitest';
import { Logger } from '@nestjs/common';
import { RedisSnapshotService } from './redis-snapshot.service.js';

interface StubState {
  save?: string;
  appendOnly?: string;
  configRefused?: boolean;
  bgsaveError?: string;
  /** INFO answers while the save runs before reporting it finished. */
  pollsUntilDone?: number;
  lastBgsaveStatus?: 'ok' | 'err';
  lastSave?: number;
}

/** Just the commands the service sends, answering like Redis 7 does. */
function stubRedis(state: StubState): { redis: Redis; commands: string[] } {
  const commands: string[] = [];
  let polls = 0;
  const stub = {
    config: (_get: string, name: string) => {
      commands.push(`CONFIG GET ${name}`);
      if (state.configRefused === true) {
        return Promise.reject(new Error("ERR unknown command 'CONFIG'"));
      }
      return Promise.resolve([
        name,
        name === 'save' ? (state.save ?? '') : (state.appendOnly ?? 'no'),
      ]);
    },
    bgsave: () => {
      commands.push('BGSAVE');
      return state.bgsaveError === undefined
        ? Promise.resolve('Background saving started')
        : Promise.reject(new Error(state.bgsaveError));
    },
    info: (section: string) => {
      commands.push(`INFO ${section}`);
      polls += 1;
      const running = polls <= (state.pollsUntilDone ?? 0) ? 1 : 0;
      return Promise.resolve(
        `# Persistence\r\nloading:0\r\nrdb_bgsave_in_progress:${running}\r\n` +
          `rdb_last_bgsave_status:${state.lastBgsaveStatus ?? 'ok'}\r\n`,
      );
    },
    lastsave: () => {
      commands.push('LASTSAVE');
      return Promise.resolve(state.lastSave ?? 1_795_000_000);
    },
  };
  return { redis: stub as unknown as Redis, commands };
}

const fast = { pollIntervalMs: 1, timeoutMs: 200 };

describe('RedisSnapshotService', () => {
  beforeAll(() => {
    Logger.overrideLogger(false);
  });

  it('runs BGSAVE, waits for it to finish and records LASTSAVE when RDB snapshots are on', async () => {
    const { redis, commands } = stubRedis({
      save: '3600 1 300 100',
      pollsUntilDone: 3,
      lastSave: 1_795_000_123,
    });

    const result = await new RedisSnapshotService(redis).snapshot(fast);

    expect(result).toMatchObject({ status: 'completed', lastSave: new Date(1_795_000_123_000) });
    expect(commands.filter((command) => command === 'INFO persistence')).toHaveLength(4);
    expect(commands.indexOf('BGSAVE')).toBeLessThan(commands.indexOf('LASTSAVE'));
  });

  it('snapshots a Redis that persists through the append-only file only', async () => {
    const { redis, commands } = stubRedis({ save: '', appendOnly: 'yes' });
    expect((await new RedisSnapshotService(redis).snapshot(fast)).status).toBe('completed');
    expect(commands).toContain('BGSAVE');
  });

  it('waits for a save Redis already started instead of failing', async () => {
    const { redis } = stubRedis({
      save: '60 1',
      bgsaveError: 'ERR Background save already in progress',
      pollsUntilDone: 2,
    });
    expect((await new RedisSnapshotService(redis).snapshot(fast)).status).toBe('completed');
  });

  it('says persistence is disabled and sends no BGSAVE when save is "" and appendonly no', async () => {
    const { redis, commands } = stubRedis({ save: '', appendOnly: 'no' });

    const result = await new RedisSnapshotService(redis).snapshot(fast);

    expect(result).toEqual({
      status: 'disabled',
      message: expect.stringMatching(/persistence is disabled .*no snapshot taken/),
    });
    expect(commands).not.toContain('BGSAVE');
  });

  it('reports a Redis that refuses CONFIG as unavailable, without guessing', async () => {
    const { redis, commands } = stubRedis({ configRefused: true });

    const result = await new RedisSnapshotService(redis).snapshot(fast);

    expect(result.status).toBe('unavailable');
    expect(result.message).toMatch(/CONFIG GET is refused/);
    expect(commands).not.toContain('BGSAVE');
  });

  it('reports a background save that failed', async () => {
    const { redis } = stubRedis({ save: '60 1', lastBgsaveStatus: 'err' });
    const result = await new RedisSnapshotService(redis).snapshot(fast);
    expect(result).toEqual({
      status: 'failed',
      message: 'redis snapshot: background save failed (rdb_last_bgsave_status:err)',
    });
  });

  it('reports a refused BGSAVE', async () => {
    const { redis } = stubRedis({
      save: '60 1',
      bgsaveError: 'NOPERM this user has no permissions',
    });
    const result = await new RedisSnapshotService(redis).snapshot(fast);
    expect(result.status).toBe('failed');
    expect(result.message).toMatch(/BGSAVE refused: NOPERM/);
  });

  it('gives up on a save that outlasts the timeout', async () => {
    const { redis } = stubRedis({ save: '60 1', pollsUntilDone: 1_000_000 });
    const result = await new RedisSnapshotService(redis).snapshot({
      pollIntervalMs: 5,
      timeoutMs: 30,
    });
    expect(result).toEqual({
      status: 'failed',
      message: 'redis snapshot: background save still running after 30 ms',
    });
  });
});
