import type { AgentResponse } from './dto/agent.dto.js';
import type { AgentDocument } from './schemas/agent.schema.js';
import { currentAgentStats } from './schemas/agent.schema.js';

export function toAgentResponse(agent: AgentDocument): AgentResponse {
  return {
    id: agent._id.toString(),
    name: agent.name,
    config: agent.config,
    isActive: agent.isActive,
    stats: currentAgentStats(agent.stats),
    createdAt: agent.createdAt,
    updatedAt: agent.updatedAt,
  };
}
