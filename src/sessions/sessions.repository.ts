import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { type Model, Types } from 'mongoose';
import { type PaginationQueryDto, skipFor } from '../common/pagination/pagination.js';
import { isDuplicateKeyError } from '../users/users.repository.js';
import {
  type ConversationMessage,
  Session,
  type SessionDocument,
  type SessionStatus,
  type SessionUsage,
  type TurnLatency,
} from './schemas/session.schema.js';

export type NewSession = Omit<Session, 'conversationHistory' | 'status' | 'usage' | 'endedAt'>;

/** The only code that touches the sessions collection. */
@Injectable()
export class SessionsRepository {
  constructor(@InjectModel(Session.name) private readonly sessions: Model<Session>) {}

  /** Returns undefined when the sessionId exists already (unique index). */
  async create(session: NewSession): Promise<SessionDocument | undefined> {
    try {
      const created = await this.sessions.create({
        ...session,
        status: 'active',
        conversationHistory: [],
      });
      return created.toObject<SessionDocument>();
    } catch (error) {
      if (isDuplicateKeyError(error)) {
        return undefined;
      }
      throw error;
    }
  }

  findBySessionId(sessionId: string): Promise<SessionDocument | null> {
    return this.sessions
      .findOne({ sessionId: { $eq: sessionId } })
      .lean<SessionDocument>()
      .exec();
  }

  findOwned(userId: string, sessionId: string): Promise<SessionDocument | null> {
    return this.sessions
      .findOne({ userId, sessionId: { $eq: sessionId } })
      .lean<SessionDocument>()
      .exec();
  }

  async list(
    userId: string,
    status: SessionStatus | undefined,
    page: PaginationQueryDto,
  ): Promise<{ sessions: SessionDocument[]; total: number }> {
    const query: Record<string, unknown> = { userId: new Types.ObjectId(userId) };
    if (status !== undefined) {
      query.status = status;
    }
    const [sessions, total] = await Promise.all([
      this.sessions
        .find(query, { conversationHistory: 0 })
        .sort({ startedAt: -1, _id: -1 })
        .skip(skipFor(page))
        .limit(page.limit)
        .lean<SessionDocument[]>()
        .exec(),
      this.sessions.countDocuments(query).exec(),
    ]);
    return { sessions, total };
  }

  /**
   * Appends one turn to the session's latest `window` turns; null when the session is missing
   * or already ended. `$slice` keeps the window on MongoDB; a server that ignores `$slice`
   * (FerretDB 1.x does, silently) is caught by the length check and trimmed by `$pop`.
   */
  async appendMessage(
    sessionId: string,
    message: ConversationMessage,
    window: number,
    usage?: Partial<SessionUsage>,
  ): Promise<SessionDocument | null> {
    const increments = usage ? usageIncrements(usage) : {};
    const updated = await this.sessions
      .findOneAndUpdate(
        { sessionId: { $eq: sessionId }, status: 'active' },
        {
          $push: { conversationHistory: { $each: [message], $slice: -window } },
          $set: { lastActivityAt: message.timestamp },
          ...(Object.keys(increments).length > 0 ? { $inc: increments } : {}),
        },
        { returnDocument: 'after' },
      )
      .lean<SessionDocument>()
      .exec();
    if (updated && updated.conversationHistory.length > window) {
      const excess = updated.conversationHistory.length - window;
      for (let index = 0; index < excess; index += 1) {
        await this.sessions
          .updateOne(
            { sessionId: { $eq: sessionId }, [`conversationHistory.${window}`]: { $exists: true } },
            { $pop: { conversationHistory: -1 } },
          )
          .exec();
      }
      updated.conversationHistory = updated.conversationHistory.slice(-window);
    }
    return updated;
  }

  setTurnLatencies(sessionId: string, latencies: TurnLatency[]): Promise<unknown> {
    return this.sessions
      .updateOne({ sessionId: { $eq: sessionId } }, { $set: { turnLatencies: latencies } })
      .exec();
  }

  addUsage(sessionId: string, usage: Partial<SessionUsage>): Promise<SessionDocument | null> {
    const increments = usageIncrements(usage);
    return this.sessions
      .findOneAndUpdate(
        { sessionId: { $eq: sessionId }, status: 'active' },
        { $inc: increments },
        { returnDocument: 'after' },
      )
      .lean<SessionDocument>()
      .exec();
  }

  async setExotelCallSid(sessionId: string, exotelCallSid: string): Promise<void> {
    await this.sessions
      .updateOne({ sessionId: { $eq: sessionId } }, { $set: { exotelCallSid } })
      .exec();
  }

  /** Ends the session once; returns the session as it is afterwards (ended), or null if missing. */
  async end(sessionId: string, endedAt: Date): Promise<SessionDocument | null> {
    const ended = await this.sessions
      .findOneAndUpdate(
        { sessionId: { $eq: sessionId }, status: 'active' },
        { $set: { status: 'ended', endedAt } },
        { returnDocument: 'after' },
      )
      .lean<SessionDocument>()
      .exec();
    return ended ?? this.findBySessionId(sessionId);
  }

  /** Active sessions idle since before `idleSince` (candidates for the timeout job). */
  findActiveIdleSince(idleSince: Date, limit: number): Promise<SessionDocument[]> {
    return this.sessions
      .find({ status: 'active', lastActivityAt: { $lt: idleSince } }, { conversationHistory: 0 })
      .sort({ lastActivityAt: 1 })
      .limit(limit)
      .lean<SessionDocument[]>()
      .exec();
  }

  async deleteEndedBefore(before: Date): Promise<number> {
    const result = await this.sessions
      .deleteMany({ status: 'ended', updatedAt: { $lt: before } })
      .exec();
    return result.deletedCount;
  }
}

/** `$inc` of the usage counters that moved. */
function usageIncrements(usage: Partial<SessionUsage>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(usage)
      .filter(([, value]) => typeof value === 'number' && Number.isFinite(value) && value >= 0)
      .map(([key, value]) => [`usage.${key}`, value]),
  );
}
