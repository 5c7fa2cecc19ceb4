import { Injectable, Logger } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { type Model, Types } from 'mongoose';
import { type PaginationQueryDto, skipFor } from '../common/pagination/pagination.js';
import { escapeRegex } from '../common/objects/escape-regex.js';
import type { AgentConfig } from './schemas/agent-config.schema.js';
import {
  Agent,
  type AgentDocument,
  type AgentStats,
  zeroAgentStats,
} from './schemas/agent.schema.js';

export interface AgentListFilter {
  search?: string;
  isActive?: boolean;
}

export type AgentSearchMode = 'text-index' | 'name-prefix';

const TEXT_INDEX_NAME = 'name_text';

/** The only code that touches the agents collection; every method is scoped to one user. */
@Injectable()
export class AgentsRepository {
  private readonly logger = new Logger(AgentsRepository.name);
  private searchMode?: Promise<AgentSearchMode>;

  constructor(@InjectModel(Agent.name) private readonly agents: Model<Agent>) {}

  async create(
    userId: string,
    agent: { name: string; config: AgentConfig; isActive: boolean },
  ): Promise<AgentDocument> {
    const created = await this.agents.create({
      ...agent,
      userId: new Types.ObjectId(userId),
      stats: zeroAgentStats(),
    });
    return created.toObject<AgentDocument>();
  }

  findOwned(userId: string, agentId: string): Promise<AgentDocument | null> {
    return this.agents.findOne({ _id: agentId, userId }).lean<AgentDocument>().exec();
  }

  async list(
    userId: string,
    filter: AgentListFilter,
    page: PaginationQueryDto,
  ): Promise<{ agents: AgentDocument[]; total: number }> {
    const query: Record<string, unknown> = { userId: new Types.ObjectId(userId) };
    if (filter.isActive !== undefined) {
      query.isActive = filter.isActive;
    }
    if (filter.search !== undefined) {
      Object.assign(query, this.searchCondition(await this.detectSearchMode(), filter.search));
    }
    const [agents, total] = await Promise.all([
      this.agents
        .find(query)
        .sort({ createdAt: -1, _id: -1 })
        .skip(skipFor(page))
        .limit(page.limit)
        .lean<AgentDocument[]>()
        .exec(),
      this.agents.countDocuments(query).exec(),
    ]);
    return { agents, total };
  }

  /** Applies dotted `$set` paths atomically; null when the agent is not the user's. */
  updateOwned(
    userId: string,
    agentId: string,
    setPaths: Record<string, unknown>,
  ): Promise<AgentDocument | null> {
    return this.agents
      .findOneAndUpdate(
        { _id: agentId, userId },
        { $set: setPaths },
        { returnDocument: 'after', runValidators: true },
      )
      .lean<AgentDocument>()
      .exec();
  }

  async deleteOwned(userId: string, agentId: string): Promise<boolean> {
    const result = await this.agents.deleteOne({ _id: agentId, userId }).exec();
    return result.deletedCount === 1;
  }

  /**
   * Adds one finished call to the agent's stats, at most once per call: the call id is pushed
   * in the same atomic update, which only applies while it is absent and while
   * `stats.totalCalls` is the count read before `stillDue` was asked (the same fence as
   * `UsersRepository.chargeCallOnce`, for a finalizer that lost its lock). Then refreshes the
   * derived averages from the counters. False when the call was no longer due.
   */
  async addCallToStatsOnce(
    agentId: Types.ObjectId | string,
    callLogId: string,
    call: { durationSec: number; successful: boolean },
    stillDue: () => Promise<boolean>,
  ): Promise<boolean> {
    for (let attempt = 0; attempt < 50; attempt += 1) {
      const agent = await this.agents
        .findById(agentId, { 'stats.totalCalls': 1, pendingStatCallIds: 1 })
        .lean<Pick<AgentDocument, 'stats'> & { pendingStatCallIds?: string[] }>()
        .exec();
      if (!agent || agent.pendingStatCallIds?.includes(callLogId)) {
        break;
      }
      if (!(await stillDue())) {
        return false;
      }
      const totalCalls = agent.stats?.totalCalls;
      const result = await this.agents
        .updateOne(
          {
            _id: agentId,
            pendingStatCallIds: { $ne: callLogId },
            'stats.totalCalls': totalCalls === undefined ? { $exists: false } : totalCalls,
          },
          {
            $inc: {
              'stats.totalCalls': 1,
              'stats.totalDuration': call.durationSec,
              'stats.successfulCalls': call.successful ? 1 : 0,
            },
            $push: { pendingStatCallIds: callLogId },
          },
        )
        .exec();
      if (result.modifiedCount === 1) {
        break;
      }
    }
    await this.refreshDerivedStats(agentId);
    return true;
  }

  async settleCallStats(agentId: Types.ObjectId | string, callLogId: string): Promise<void> {
    await this.agents
      .updateOne({ _id: agentId }, { $pull: { pendingStatCallIds: callLogId } })
      .exec();
  }

  // Conditional on the counters read, so a concurrent update never leaves stale averages behind.
  private async refreshDerivedStats(agentId: Types.ObjectId | string): Promise<void> {
    for (let attempt = 0; attempt < 10; attempt += 1) {
      const agent = await this.agents
        .findById(agentId, { stats: 1 })
        .lean<Pick<AgentDocument, 'stats'>>()
        .exec();
      const stats: AgentStats | undefined = agent?.stats;
      if (!stats || stats.totalCalls === 0) {
        return;
      }
      const result = await this.agents
        .updateOne(
          {
            _id: agentId,
            'stats.totalCalls': stats.totalCalls,
            'stats.totalDuration': stats.totalDuration,
          },
          {
            $set: {
              'stats.avgDuration': Math.round((stats.totalDuration / stats.totalCalls) * 100) / 100,
              'stats.successRate':
                Math.round(((stats.successfulCalls ?? 0) / stats.totalCalls) * 10_000) / 10_000,
            },
          },
        )
        .exec();
      if (result.matchedCount === 1) {
        return;
      }
    }
  }

  /** Text index on MongoDB; servers without text indexes (FerretDB) get an anchored, case-insensitive name match. */
  searchCondition(mode: AgentSearchMode, search: string): Record<string, unknown> {
    return mode === 'text-index'
      ? { $text: { $search: search } }
      : { name: { $regex: `^${escapeRegex(search)}`, $options: 'i' } };
  }

  detectSearchMode(): Promise<AgentSearchMode> {
    this.searchMode ??= this.agents.collection
      .indexes()
      .then((indexes): AgentSearchMode =>
        indexes.some((index) => index.name === TEXT_INDEX_NAME) ? 'text-index' : 'name-prefix',
      )
      .then((mode) => {
        this.logger.log(
          `agent search uses ${mode === 'text-index' ? 'the text index' : 'a name-prefix match (no text index on this server)'}`,
        );
        return mode;
      })
      .catch(() => {
        this.searchMode = undefined;
        return 'name-prefix' as const;
      });
    return this.searchMode;
  }
}
