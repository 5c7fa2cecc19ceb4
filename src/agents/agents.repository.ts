import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { type Model, Types } from 'mongoose';
import { type PaginationQueryDto, skipFor } from '../common/pagination/pagination.js';
import { escapeRegex } from '../common/objects/escape-regex.js';
import { DatabaseCapabilities } from '../infra/mongo/database-capabilities.js';
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

/** What adding a call to an agent's stats is fenced on (see AgentsRepository.addCallToStats). */
export interface AgentStatsFence {
  stats?: AgentStats;
  /** The call's marker is there: it was added already. */
  pending: boolean;
}

/** The only code that touches the agents collection; every method is scoped to one user. */
@Injectable()
export class AgentsRepository {
  private readonly searchMode: AgentSearchMode;

  constructor(
    @InjectModel(Agent.name) private readonly agents: Model<Agent>,
    capabilities: DatabaseCapabilities,
  ) {
    this.searchMode = capabilities.agentNameTextSearch ? 'text-index' : 'name-prefix';
  }

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
      Object.assign(query, this.searchCondition(this.searchMode, filter.search));
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

  /** Reads the fence for adding `callLogId`: the stats, and whether the call is added already. Undefined without the agent. */
  async readStatsFence(
    agentId: Types.ObjectId | string,
    callLogId: string,
  ): Promise<AgentStatsFence | undefined> {
    const agent = await this.agents
      .findById(agentId, { stats: 1, pendingStatCallIds: 1 })
      .lean<Pick<AgentDocument, 'stats'> & { pendingStatCallIds?: string[] }>()
      .exec();
    return agent
      ? { stats: agent.stats, pending: agent.pendingStatCallIds?.includes(callLogId) ?? false }
      : undefined;
  }

  /**
   * Adds one finished call to the agent's stats, at most once per call: the call id is pushed
   * in the same atomic update, which only applies while it is absent and while the counters
   * are the ones `fence` read (the same fence as `UsersRepository.chargeCall`: the caller
   * checks on the call log that the call is still due between reading the fence and this).
   * The averages are set from the same counters in the same update. False when the agent
   * moved on since the fence was read (read it again).
   */
  async addCallToStats(
    agentId: Types.ObjectId | string,
    callLogId: string,
    fence: AgentStatsFence,
    call: { durationSec: number; successful: boolean },
  ): Promise<boolean> {
    const before = fence.stats;
    const totalCalls = (before?.totalCalls ?? 0) + 1;
    const totalDuration = (before?.totalDuration ?? 0) + call.durationSec;
    const successfulCalls = (before?.successfulCalls ?? 0) + (call.successful ? 1 : 0);
    const result = await this.agents
      .updateOne(
        {
          _id: agentId,
          pendingStatCallIds: { $ne: callLogId },
          'stats.totalCalls': before === undefined ? { $exists: false } : before.totalCalls,
          'stats.totalDuration': before === undefined ? { $exists: false } : before.totalDuration,
        },
        {
          $set: {
            'stats.totalCalls': totalCalls,
            'stats.totalDuration': totalDuration,
            'stats.successfulCalls': successfulCalls,
            'stats.avgDuration': Math.round((totalDuration / totalCalls) * 100) / 100,
            'stats.successRate': Math.round((successfulCalls / totalCalls) * 10_000) / 10_000,
          },
          $push: { pendingStatCallIds: callLogId },
        },
      )
      .exec();
    return result.modifiedCount === 1;
  }

  async settleCallStats(agentId: Types.ObjectId | string, callLogId: string): Promise<void> {
    await this.agents
      .updateOne({ _id: agentId }, { $pull: { pendingStatCallIds: callLogId } })
      .exec();
  }

  /** Text index on MongoDB; servers without text indexes (FerretDB) get an anchored, case-insensitive name match. */
  searchCondition(mode: AgentSearchMode, search: string): Record<string, unknown> {
    return mode === 'text-index'
      ? { $text: { $search: search } }
      : { name: { $regex: `^${escapeRegex(search)}`, $options: 'i' } };
  }
}
