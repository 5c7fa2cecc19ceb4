import { Injectable } from '@nestjs/common';
import type { Page } from '../common/pagination/pagination.js';
import { toPage } from '../common/pagination/pagination.js';
import type { ListSessionsQueryDto, SessionResponse } from './dto/session.dto.js';
import type { MessageRole, SessionDocument, SessionUsage } from './schemas/session.schema.js';
import { SessionCache } from './session-cache.js';
import { SessionsErrorCode, SessionsException } from './sessions.exception.js';
import { type NewSession, SessionsRepository } from './sessions.repository.js';

export function toSessionResponse(
  session: SessionDocument,
  source: SessionResponse['source'],
): SessionResponse {
  return {
    sessionId: session.sessionId,
    callLogId: session.callLogId.toString(),
    agentId: session.agentId.toString(),
    userPhone: session.userPhone,
    agentPhone: session.agentPhone,
    agentConfig: session.agentConfig,
    conversationHistory: session.conversationHistory,
    status: session.status,
    metadata: session.metadata ?? null,
    exotelCallSid: session.exotelCallSid ?? null,
    startedAt: session.startedAt,
    lastActivityAt: session.lastActivityAt,
    endedAt: session.endedAt ?? null,
    source,
  };
}

/**
 * Live call sessions: durable in MongoDB, hot in Redis. Every write goes to MongoDB first,
 * so losing Redis loses no turn; reads try Redis and re-warm it from MongoDB.
 */
@Injectable()
export class SessionsService {
  constructor(
    private readonly sessions: SessionsRepository,
    private readonly cache: SessionCache,
  ) {}

  /** Creates the session, or returns the existing one with that sessionId (repeated webhooks). */
  async start(session: NewSession): Promise<{ session: SessionDocument; created: boolean }> {
    const created = await this.sessions.create(session);
    const current = created ?? (await this.sessions.findBySessionId(session.sessionId));
    if (!current) {
      throw new SessionsException(
        SessionsErrorCode.NotFound,
        'Session vanished while being created',
      );
    }
    if (current.status === 'active') {
      await this.cache.put(current);
    }
    return { session: current, created: created !== undefined };
  }

  async getForUser(userId: string, sessionId: string): Promise<SessionResponse> {
    const cached = await this.cache.get(sessionId);
    if (cached && cached.userId.toString() === userId) {
      return toSessionResponse(cached, 'cache');
    }
    const stored = await this.sessions.findOwned(userId, sessionId);
    if (!stored) {
      throw new SessionsException(SessionsErrorCode.NotFound, 'Session not found');
    }
    if (stored.status === 'active') {
      await this.cache.put(stored);
    }
    return toSessionResponse(stored, 'database');
  }

  async list(userId: string, query: ListSessionsQueryDto): Promise<Page<SessionResponse>> {
    const { sessions, total } = await this.sessions.list(userId, query.status, query);
    return toPage(
      sessions.map((session) =>
        toSessionResponse({ ...session, conversationHistory: [] }, 'database'),
      ),
      total,
      query,
    );
  }

  /** One conversation turn, stored durably and mirrored to the cache (called by the voice runtime). */
  async appendMessage(
    sessionId: string,
    role: MessageRole,
    content: string,
  ): Promise<SessionDocument> {
    const updated = await this.sessions.appendMessage(sessionId, {
      role,
      content,
      timestamp: new Date(),
    });
    if (!updated) {
      throw await this.missingOrEnded(sessionId);
    }
    await this.cache.put(updated);
    return updated;
  }

  /** Adds usage counters (speech seconds, tokens, characters) that price the call. */
  async recordUsage(sessionId: string, usage: Partial<SessionUsage>): Promise<SessionDocument> {
    const updated = await this.sessions.addUsage(sessionId, usage);
    if (!updated) {
      throw await this.missingOrEnded(sessionId);
    }
    await this.cache.put(updated);
    return updated;
  }

  async setExotelCallSid(sessionId: string, exotelCallSid: string): Promise<void> {
    await this.sessions.setExotelCallSid(sessionId, exotelCallSid);
    const cached = await this.cache.get(sessionId);
    if (cached) {
      await this.cache.put({ ...cached, exotelCallSid });
    }
  }

  /** Ends the session (idempotent) and drops it from the cache; returns it as stored. */
  async end(sessionId: string, endedAt: Date): Promise<SessionDocument | null> {
    const session = await this.sessions.end(sessionId, endedAt);
    await this.cache.drop(sessionId);
    return session;
  }

  private async missingOrEnded(sessionId: string): Promise<SessionsException> {
    const existing = await this.sessions.findBySessionId(sessionId);
    return existing
      ? new SessionsException(SessionsErrorCode.Ended, 'Session has ended')
      : new SessionsException(SessionsErrorCode.NotFound, 'Session not found');
  }
}
