import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { REDIS_CLIENT } from '../infra/redis/redis.module.js';
import { RedisKeys, RedisTtl } from '../infra/redis/redis-keys.js';
import type { SessionDocument } from './schemas/session.schema.js';

/** Hot copy of sessions in Redis (`session:{sessionId}`, 1 hour); MongoDB stays the truth. */
@Injectable()
export class SessionCache {
  private readonly logger = new Logger(SessionCache.name);

  constructor(@Inject(REDIS_CLIENT) private readonly redis: Redis) {}

  async get(sessionId: string): Promise<SessionDocument | undefined> {
    try {
      const raw = await this.redis.get(RedisKeys.session(sessionId));
      return raw === null ? undefined : reviveSession(raw);
    } catch (error) {
      this.logger.warn(`session cache read failed for ${sessionId}: ${String(error)}`);
      return undefined;
    }
  }

  async put(session: SessionDocument): Promise<void> {
    try {
      await this.redis.set(
        RedisKeys.session(session.sessionId),
        JSON.stringify(session),
        'EX',
        RedisTtl.sessionSeconds,
      );
    } catch (error) {
      // The cache is an accelerator: a Redis hiccup must not fail a durable write.
      this.logger.warn(`session cache write failed for ${session.sessionId}: ${String(error)}`);
    }
  }

  async drop(sessionId: string): Promise<void> {
    await this.redis.del(RedisKeys.session(sessionId));
  }
}

const DATE_FIELDS = new Set([
  'startedAt',
  'lastActivityAt',
  'createdAt',
  'updatedAt',
  'endedAt',
  'timestamp',
]);

function reviveSession(raw: string): SessionDocument {
  return JSON.parse(raw, (key, value: unknown) =>
    DATE_FIELDS.has(key) && typeof value === 'string' ? new Date(value) : value,
  ) as SessionDocument;
}
