import { describe, expect, it } from 'vitest';
import { DatabaseCommandCounter } from './database-command-counter.js';

describe('DatabaseCommandCounter', () => {
  it('counts commands by name and reports only what was sent since a snapshot', () => {
    const counter = new DatabaseCommandCounter(true);
    counter.recordMongo('find');
    counter.recordRedis('get');
    const before = counter.snapshot();
    counter.recordMongo('find');
    counter.recordMongo('update');
    counter.recordRedis('set');

    const since = counter.since(before);

    expect(since).toEqual({
      mongo: { find: 1, update: 1 },
      redis: { set: 1 },
      mongoTotal: 2,
      redisTotal: 1,
    });
    expect(counter.snapshot().mongoTotal).toBe(3);
  });
});
