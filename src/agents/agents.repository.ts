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
  averageDuration,
  successRate,
  zeroAgentStats,
} from './schemas/agent.schema.js';

export interface AgentListFilter {
  search?: string;
  isActive?: boolean;
}

export type AgentSearchMode = 'text-index' | 'name-prefix';

/** One counted call whose marker may go (see AgentsRepository.removeStatsMarkers). */
export interface StatsMarker {
  agentId: Types.ObjectId;
  callLogId: string;
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

  /** The agent's config as it is now (the post-call analysis of a call whose session is gone). */
  async readConfig(agentId: Types.ObjectId): Promise<AgentConfig | undefined> {
    const agent = await this.agents
      .findById(agentId, { config: 1 })
      .lean<{ config?: AgentConfig }>()
      .exec();
    return agent?.config;
  }

  /** The agent's stats as they are now (what addCallToStats starts from); null without the agent. */
  async readStats(agentId: Types.ObjectId): Promise<{ stats?: AgentStats } | null> {
    return this.agents.findById(agentId, { stats: 1 }).lean<{ stats?: AgentStats }>().exec();
  }

  /**
   * Adds one finished call to the agent's stats, at most once per call: the totals move with
   * `$inc` and the call id is pushed in the same atomic update, which only applies while the
   * id is absent. So concurrent calls of one agent never conflict (no retry), and a repeat is
   * turned away. The stored averages are set from `before` (read just earlier) plus this call:
   * exact unless another call of the agent was counted in between, when they lag by that call
   * until the next one; responses derive both from the totals (`toAgentResponse`). False when
   * it did not apply: the call was counted already, or the agent is gone.
   */
  async addCallToStats(
    agentId: Types.ObjectId,
    callLogId: string,
    before: AgentStats | undefined,
    call: { durationSec: number; successful: boolean },
  ): Promise<boolean> {
    const success = call.successful ? 1 : 0;
    const totalCalls = (before?.totalCalls ?? 0) + 1;
    const totalDuration = (before?.totalDuration ?? 0) + call.durationSec;
    const successfulCalls = (before?.successfulCalls ?? 0) + success;
    const result = await this.agents
      .updateOne(
        { _id: agentId, pendingStatCallIds: { $ne: callLogId } },
        {
          $inc: {
            'stats.totalCalls': 1,
            'stats.totalDuration': call.durationSec,
            'stats.successfulCalls': success,
          },
          $set: {
            'stats.avgDuration': averageDuration(totalDuration, totalCalls),
            'stats.successRate': successRate(successfulCalls, totalCalls),
          },
          $push: { pendingStatCallIds: callLogId },
        },
      )
      .exec();
    return result.modifiedCount === 1;
  }

  /**
   * Removes the markers of counted calls (one `$pullAll` per agent, in one bulk write); only
   * for calls finalized longer ago than any finalizer may still act (see CallLifecycleService).
   */
  async removeStatsMarkers(markers: readonly StatsMarker[]): Promise<void> {
    const byAgent = new Map<string, { agentId: Types.ObjectId; ids: string[] }>();
    for (const marker of markers) {
      const key = marker.agentId.toString();
      const group = byAgent.get(key) ?? { agentId: marker.agentId, ids: [] };
      group.ids.push(marker.callLogId);
      byAgent.set(key, group);
    }
    if (byAgent.size === 0) {
      return;
    }
    await this.agents.bulkWrite(
      [...byAgent.values()].map((group) => ({
        updateOne: {
          filter: { _id: group.agentId },
          update: { $pullAll: { pendingStatCallIds: group.ids } },
        },
      })),
      { ordered: false },
    );
  }

  /** Text index on MongoDB; servers without text indexes (FerretDB) get an anchored, case-insensitive name match. */
  searchCondition(mode: AgentSearchMode, search: string): Record<string, unknown> {
    return mode === 'text-index'
      ? { $text: { $search: search } }
      : { name: { $regex: `^${escapeRegex(search)}`, $options: 'i' } };
  }
}
