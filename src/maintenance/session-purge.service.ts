import { Inject, Injectable } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { SessionsRepository } from '../sessions/sessions.repository.js';

/** Deletes ended sessions past retention: what MongoDB's TTL index does, for servers without TTL indexes. */
@Injectable()
export class SessionPurgeService {
  constructor(
    private readonly sessions: SessionsRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async run(now = new Date()): Promise<{ deleted: number; olderThan: Date }> {
    const olderThan = new Date(
      now.getTime() - this.config.maintenance.endedSessionRetentionDays * 86_400_000,
    );
    return { deleted: await this.sessions.deleteEndedBefore(olderThan), olderThan };
  }
}
