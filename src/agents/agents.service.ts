import { Injectable } from '@nestjs/common';
import type { JsonText } from '../common/decorators/json-text.decorator.js';
import { type Page, toPage } from '../common/pagination/pagination.js';
import { toPlainData, toSetPaths } from '../common/objects/deep-merge.js';
import { ApiCacheService } from '../infra/cache/api-cache.service.js';
import { PhonesRepository } from '../phones/phones.repository.js';
import { toAgentResponse } from './agent.response.js';
import { AgentsErrorCode, AgentsException } from './agents.exception.js';
import { AgentsRepository } from './agents.repository.js';
import type {
  AgentResponse,
  CreateAgentDto,
  ListAgentsQueryDto,
  UpdateAgentDto,
} from './dto/agent.dto.js';
import { type AgentConfig, OPAQUE_AGENT_CONFIG_KEYS } from './schemas/agent-config.schema.js';

export const AGENTS_LIST_CACHE_ROUTE = 'agents:list';
const AGENTS_LIST_TTL_SECONDS = 60;

@Injectable()
export class AgentsService {
  constructor(
    private readonly agents: AgentsRepository,
    private readonly phones: PhonesRepository,
    private readonly cache: ApiCacheService,
  ) {}

  async create(userId: string, dto: CreateAgentDto): Promise<AgentResponse> {
    const agent = await this.agents.create(userId, {
      name: dto.name,
      config: toPlainData<AgentConfig>(dto.config),
      isActive: dto.isActive ?? true,
    });
    await this.cache.invalidate(AGENTS_LIST_CACHE_ROUTE, userId);
    return toAgentResponse(agent);
  }

  list(userId: string, query: ListAgentsQueryDto): Promise<JsonText<Page<AgentResponse>>> {
    return this.cache.getOrLoad(
      AGENTS_LIST_CACHE_ROUTE,
      userId,
      { page: query.page, limit: query.limit, q: query.q, isActive: query.isActive },
      AGENTS_LIST_TTL_SECONDS,
      async () => {
        const { agents, total } = await this.agents.list(
          userId,
          { search: query.q, isActive: query.isActive },
          query,
        );
        return toPage(agents.map(toAgentResponse), total, query);
      },
    );
  }

  async get(userId: string, agentId: string): Promise<AgentResponse> {
    const agent = await this.agents.findOwned(userId, agentId);
    if (!agent) {
      throw AgentsException.notFound();
    }
    return toAgentResponse(agent);
  }

  async update(userId: string, agentId: string, dto: UpdateAgentDto): Promise<AgentResponse> {
    const setPaths: Record<string, unknown> = {
      ...(dto.name !== undefined ? { name: dto.name } : {}),
      ...(dto.isActive !== undefined ? { isActive: dto.isActive } : {}),
      ...(dto.config
        ? toSetPaths(
            'config',
            toPlainData(dto.config) as unknown as Record<string, unknown>,
            OPAQUE_AGENT_CONFIG_KEYS,
          )
        : {}),
    };
    const agent =
      Object.keys(setPaths).length === 0
        ? await this.agents.findOwned(userId, agentId)
        : await this.agents.updateOwned(userId, agentId, setPaths);
    if (!agent) {
      throw AgentsException.notFound();
    }
    await this.cache.invalidate(AGENTS_LIST_CACHE_ROUTE, userId);
    return toAgentResponse(agent);
  }

  async remove(userId: string, agentId: string): Promise<void> {
    if (!(await this.agents.findOwned(userId, agentId))) {
      throw AgentsException.notFound();
    }
    const assigned = await this.phones.numbersAssignedToAgent(userId, agentId);
    if (assigned.length > 0) {
      throw new AgentsException(
        AgentsErrorCode.AssignedToPhones,
        `Agent is assigned to ${assigned.length} phone number(s): ${assigned.join(', ')}; unassign it first`,
        { phones: assigned },
      );
    }
    if (!(await this.agents.deleteOwned(userId, agentId))) {
      throw AgentsException.notFound();
    }
    await this.cache.invalidate(AGENTS_LIST_CACHE_ROUTE, userId);
  }
}
