import { Injectable } from '@nestjs/common';
import { Types } from 'mongoose';
import type { Page, PaginationQueryDto } from '../common/pagination/pagination.js';
import { toPage } from '../common/pagination/pagination.js';
import { ConversationTurnsRepository } from './conversation-turns.repository.js';
import type { ListSessionsQueryDto, SessionResponse } from './dto/session.dto.js';
import type {
  ConversationMessage,
  MessageRole,
  SessionDocument,
  SessionUsage,
  TurnLatency,
} from './schemas/session.schema.js';
import { SessionCache } from './session-cache.js';
import { SessionsErrorCode, SessionsException } from './sessions.exception.js';
import { type NewSession, SessionsRepository } from './sessions.repository.js';

/** Latest turns a session keeps (the agent's context; the cache copies it every turn). */
export const HISTORY_WINDOW = 50;
export const MAX_MESSAGE_CHARACTERS = 4_000;
/** Longest transcript copied into a call log. */
export const MAX_TRANSCRIPT_CHARACTERS = 200_000;

function transcriptLine(message: { role: MessageRole; content: string }): string {
  return `${message.role === 'user' ? 'User' : 'Agent'}: ${message.content}`;
}

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
    usage: {
      sttSeconds: session.usage?.sttSeconds ?? 0,
      llmTokens: session.usage?.llmTokens ?? 0,
      llmPromptTokens: session.usage?.llmPromptTokens ?? 0,
      llmCompletionTokens: session.usage?.llmCompletionTokens ?? 0,
      ttsCharacters: session.usage?.ttsCharacters ?? 0,
    },
    turnLatencies: session.turnLatencies ?? [],
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
    private readonly turns: ConversationTurnsRepository,
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

  /**
   * A session by id for the real-time paths (media stream, voicebot URL): Redis first, MongoDB
   * only when the cache misses. Null when there is no such session.
   */
  async findLive(sessionId: string): Promise<SessionDocument | null> {
    const cached = await this.cache.get(sessionId);
    if (cached) {
      return cached;
    }
    const stored = await this.sessions.findBySessionId(sessionId);
    if (stored?.status === 'active') {
      await this.cache.put(stored);
    }
    return stored;
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

  /**
   * One conversation turn (called by the voice runtime): kept whole in the turns collection,
   * and in the session's window of latest turns, which the cache mirrors. Content beyond
   * MAX_MESSAGE_CHARACTERS is cut, so no turn can bloat the session or its cache entry. Usage
   * the turn cost can ride along in the same write.
   */
  async appendMessage(
    sessionId: string,
    role: MessageRole,
    content: string,
    usage?: Partial<SessionUsage>,
    /** The turn's id in conversationturns, when the caller needs to refer to it. */
    turnId?: Types.ObjectId,
  ): Promise<SessionDocument> {
    const message = {
      role,
      content: content.slice(0, MAX_MESSAGE_CHARACTERS),
      timestamp: new Date(),
    };
    const updated = await this.sessions.appendMessage(sessionId, message, HISTORY_WINDOW, usage);
    if (!updated) {
      throw await this.missingOrEnded(sessionId);
    }
    await this.turns.add({ sessionId, userId: updated.userId, ...message }, turnId);
    await this.cache.put(updated);
    return updated;
  }

  /**
   * The whole conversation as text ("User: ...", "Agent: ..."), up to MAX_TRANSCRIPT_CHARACTERS
   * (the call log keeps it; longer ones say they were cut). Sessions older than the turns
   * collection fall back to their own history.
   */
  async transcript(session: SessionDocument): Promise<string> {
    // A window below its size was never trimmed: it holds every turn, no need to read them.
    const turns =
      session.conversationHistory.length < HISTORY_WINDOW
        ? session.conversationHistory
        : this.turns.streamForSession(session.sessionId);
    const lines: string[] = [];
    let length = 0;
    let omitted = 0;
    for await (const turn of turns) {
      if (turn.role === 'system') {
        continue;
      }
      const line = transcriptLine(turn);
      if (omitted > 0 || length + line.length + 1 > MAX_TRANSCRIPT_CHARACTERS) {
        omitted += 1;
        continue;
      }
      lines.push(line);
      length += line.length + 1;
    }
    if (lines.length === 0 && omitted === 0) {
      return session.conversationHistory
        .filter((message) => message.role !== 'system')
        .map(transcriptLine)
        .join('\n');
    }
    if (omitted > 0) {
      lines.push(`[transcript cut here: ${omitted} more turns]`);
    }
    return lines.join('\n');
  }

  /** Every turn of one of the user's sessions, oldest first. */
  async messagesForUser(
    userId: string,
    sessionId: string,
    page: PaginationQueryDto,
  ): Promise<Page<ConversationMessage>> {
    const { turns, total } = await this.turns.pageForUser(
      new Types.ObjectId(userId),
      sessionId,
      page,
    );
    if (total === 0 && !(await this.sessions.findOwned(userId, sessionId))) {
      throw new SessionsException(SessionsErrorCode.NotFound, 'Session not found');
    }
    return toPage(
      turns.map(({ role, content, timestamp }) => ({ role, content, timestamp })),
      total,
      page,
    );
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

  /** The conversation's per-turn latencies, written once when it ends. */
  async recordTurnLatencies(sessionId: string, latencies: TurnLatency[]): Promise<void> {
    await this.sessions.setTurnLatencies(sessionId, latencies);
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
