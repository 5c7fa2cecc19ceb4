import { Inject, Injectable } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import type { Redis } from 'ioredis';
import type { Connection } from 'mongoose';
import { REDIS_CLIENT } from '../infra/redis/redis.module.js';
import type { LivenessResponse, ReadinessResponse } from './health.response.js';
import { livenessBody } from './liveness-shortcut.js';

const CHECK_TIMEOUT_MS = 2000;

function withTimeout(check: Promise<unknown>): Promise<'up' | 'down'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'down'>((resolve) => {
    timer = setTimeout(() => resolve('down'), CHECK_TIMEOUT_MS);
  });
  return Promise.race([
    check.then(
      () => 'up' as const,
      () => 'down' as const,
    ),
    timeout,
  ]).finally(() => clearTimeout(timer));
}

@Injectable()
export class HealthService {
  constructor(
    @InjectConnection() private readonly mongo: Connection,
    @Inject(REDIS_CLIENT) private readonly redis: Redis,
  ) {}

  live(): LivenessResponse {
    return livenessBody();
  }

  async ready(): Promise<ReadinessResponse> {
    const [mongodb, redis] = await Promise.all([
      withTimeout(this.pingMongo()),
      withTimeout(this.redis.ping()),
    ]);
    const checks = { mongodb, redis };
    const down = Object.entries(checks)
      .filter(([, state]) => state === 'down')
      .map(([name]) => name);
    return { status: down.length === 0 ? 'ok' : 'error', checks, down };
  }

  private async pingMongo(): Promise<void> {
    const database = this.mongo.db;
    if (!database) {
      throw new Error('MongoDB not connected');
    }
    await database.admin().command({ ping: 1 });
  }
}
