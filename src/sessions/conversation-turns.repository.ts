import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model, Types } from 'mongoose';
import { type PaginationQueryDto, skipFor } from '../common/pagination/pagination.js';
import {
  ConversationTurn,
  type ConversationTurnDocument,
} from './schemas/conversation-turn.schema.js';

/** The only code that touches the conversationturns collection. */
@Injectable()
export class ConversationTurnsRepository {
  constructor(
    @InjectModel(ConversationTurn.name) private readonly turns: Model<ConversationTurn>,
  ) {}

  async add(turn: ConversationTurn, id?: Types.ObjectId): Promise<void> {
    await this.turns.create(id ? { _id: id, ...turn } : turn);
  }

  /** These turns (by id), in the order they were said. */
  findByIds(ids: readonly Types.ObjectId[]): Promise<ConversationTurnDocument[]> {
    return this.turns
      .find({ _id: { $in: ids } })
      .sort({ _id: 1 })
      .lean<ConversationTurnDocument[]>()
      .exec();
  }

  /** The session's turns in the order they were said, streamed. */
  streamForSession(sessionId: string): AsyncIterable<ConversationTurnDocument> {
    return this.turns
      .find({ sessionId: { $eq: sessionId } })
      .sort({ _id: 1 })
      .lean<ConversationTurnDocument>()
      .cursor({ batchSize: 500 });
  }

  async pageForUser(
    userId: string | Types.ObjectId,
    sessionId: string,
    page: PaginationQueryDto,
  ): Promise<{ turns: ConversationTurnDocument[]; total: number }> {
    const query = { userId, sessionId: { $eq: sessionId } };
    const [turns, total] = await Promise.all([
      this.turns
        .find(query)
        .sort({ _id: 1 })
        .skip(skipFor(page))
        .limit(page.limit)
        .lean<ConversationTurnDocument[]>()
        .exec(),
      this.turns.countDocuments(query).exec(),
    ]);
    return { turns, total };
  }

  async deleteCreatedBefore(before: Date): Promise<number> {
    const result = await this.turns.deleteMany({ createdAt: { $lt: before } }).exec();
    return result.deletedCount;
  }
}
