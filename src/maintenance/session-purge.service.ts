import { Inject, Injectable } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { ConversationTurnsRepository } from '../sessions/conversation-turns.repository.js';
import { SessionsRepository } from '../sessions/sessions.repository.js';

const DAY_MS = 86_400_000;

/**
 * Deletes ended sessions past retention (what MongoDB's TTL index does, for servers without
 * TTL indexes) and their turns: a turn a day older than the retention belongs to a session
 * that ended at least that long ago (sessions time out long before a day).
 */
@Injectable()
export class SessionPurgeService {
  constructor(
    private readonly sessions: SessionsRepository,
    private readonly turns: ConversationTurnsRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async run(now = new Date()): Promise<{ deleted: number; turnsDeleted: number; olderThan: Date }> {
    const olderThan = new Date(
      now.getTime() - this.config.maintenance.endedSessionRetentionDays * DAY_MS,
    );
    const deleted = await this.sessions.deleteEndedBefore(olderThan);
    const turnsDeleted = await this.turns.deleteCreatedBefore(
      new Date(olderThan.getTime() - DAY_MS),
    );
    return { deleted, turnsDeleted, olderThan };
  }
}
