export interface DatabaseCommandCounts {
  mongo: Record<string, number>;
  redis: Record<string, number>;
  mongoTotal: number;
  redisTotal: number;
}

/**
 * Counts the commands this process sends to MongoDB and Redis, by command name, when
 * COUNT_DATABASE_COMMANDS is on. A round-trip figure holds on any server and machine, so
 * tests assert budgets on it and the benches print it beside their timings.
 */
export class DatabaseCommandCounter {
  private readonly mongo = new Map<string, number>();
  private readonly redis = new Map<string, number>();

  constructor(readonly enabled: boolean) {}

  recordMongo(commandName: string): void {
    this.mongo.set(commandName, (this.mongo.get(commandName) ?? 0) + 1);
  }

  recordRedis(commandName: string): void {
    this.redis.set(commandName, (this.redis.get(commandName) ?? 0) + 1);
  }

  snapshot(): DatabaseCommandCounts {
    const total = (counts: Map<string, number>): number =>
      [...counts.values()].reduce((sum, count) => sum + count, 0);
    return {
      mongo: Object.fromEntries(this.mongo),
      redis: Object.fromEntries(this.redis),
      mongoTotal: total(this.mongo),
      redisTotal: total(this.redis),
    };
  }

  /** Counts sent since `before` (a snapshot taken earlier), by command name. */
  since(before: DatabaseCommandCounts): DatabaseCommandCounts {
    return countsBetween(before, this.snapshot());
  }
}

/** The commands counted from snapshot `before` to snapshot `after`, by name (only those sent). */
export function countsBetween(
  before: DatabaseCommandCounts,
  after: DatabaseCommandCounts,
): DatabaseCommandCounts {
  const difference = (
    now: Record<string, number>,
    then: Record<string, number>,
  ): Record<string, number> =>
    Object.fromEntries(
      Object.entries(now)
        .map(([name, count]): [string, number] => [name, count - (then[name] ?? 0)])
        .filter(([, count]) => count > 0),
    );
  return {
    mongo: difference(after.mongo, before.mongo),
    redis: difference(after.redis, before.redis),
    mongoTotal: after.mongoTotal - before.mongoTotal,
    redisTotal: after.redisTotal - before.redisTotal,
  };
}
