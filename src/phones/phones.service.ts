import { Injectable } from '@nestjs/common';
import { AgentsRepository } from '../agents/agents.repository.js';
import type { AgentConfig } from '../agents/schemas/agent-config.schema.js';
import type { AgentDocument } from '../agents/schemas/agent.schema.js';
import { deepMerge, toPlainData } from '../common/objects/deep-merge.js';
import type { JsonText } from '../common/decorators/json-text.decorator.js';
import { type Page, toPage } from '../common/pagination/pagination.js';
import { ApiCacheService } from '../infra/cache/api-cache.service.js';
import type {
  CreatePhoneDto,
  EffectiveConfigResponse,
  ListPhonesQueryDto,
  PhoneResponse,
  UpdatePhoneDto,
} from './dto/phone.dto.js';
import { checkPhoneNumber } from './phone-number.js';
import { toPhoneResponse } from './phone.response.js';
import { PhonesErrorCode, PhonesException } from './phones.exception.js';
import { NumberTakenError, PhonesRepository } from './phones.repository.js';
import type { PhoneDocument } from './schemas/phone.schema.js';

/**
 * A phone's override merges into its agent's config (voice.settings keys included), except a
 * structured-data schema: merging two JSON Schemas makes a third nobody validated.
 */
const OVERRIDE_OPAQUE_KEYS: ReadonlySet<string> = new Set(['structuredDataSchema']);

export const PHONES_LIST_CACHE_ROUTE = 'phones:list';
const PHONES_LIST_TTL_SECONDS = 60;

export interface PhoneWithAgent {
  phone: PhoneDocument;
  agent: AgentDocument;
  /** The agent's config with the phone's override deep-merged. */
  config: AgentConfig;
}

@Injectable()
export class PhonesService {
  constructor(
    private readonly phones: PhonesRepository,
    private readonly agents: AgentsRepository,
    private readonly cache: ApiCacheService,
  ) {}

  async create(userId: string, dto: CreatePhoneDto): Promise<PhoneResponse> {
    const number = this.normalisedNumber(dto.number, dto.country);
    if (dto.agentId) {
      await this.requireOwnAgent(userId, dto.agentId);
    }
    const phone = await this.saving(number, () =>
      this.phones.create(userId, {
        number,
        country: dto.country,
        provider: dto.provider ?? 'exotel',
        agentId: dto.agentId,
        tags: dto.tags ?? [],
        status: dto.status ?? 'active',
        exotelData: dto.exotelData,
        agentConfigOverride: dto.agentConfigOverride && toPlainData(dto.agentConfigOverride),
      }),
    );
    await this.cache.invalidate(PHONES_LIST_CACHE_ROUTE, userId);
    return toPhoneResponse(phone);
  }

  list(userId: string, query: ListPhonesQueryDto): Promise<JsonText<Page<PhoneResponse>>> {
    return this.cache.getOrLoad(
      PHONES_LIST_CACHE_ROUTE,
      userId,
      {
        page: query.page,
        limit: query.limit,
        status: query.status,
        tag: query.tag,
        agentId: query.agentId,
      },
      PHONES_LIST_TTL_SECONDS,
      async () => {
        const { phones, total } = await this.phones.list(
          userId,
          { status: query.status, tag: query.tag, agentId: query.agentId },
          query,
        );
        return toPage(phones.map(toPhoneResponse), total, query);
      },
    );
  }

  async get(userId: string, phoneId: string): Promise<PhoneResponse> {
    return toPhoneResponse(await this.owned(userId, phoneId));
  }

  async update(userId: string, phoneId: string, dto: UpdatePhoneDto): Promise<PhoneResponse> {
    const current = await this.owned(userId, phoneId);
    const set: Record<string, unknown> = {};
    const unset: string[] = [];
    let number = current.number;
    if (dto.number !== undefined || dto.country !== undefined) {
      const country = dto.country ?? current.country;
      number = this.normalisedNumber(dto.number ?? current.number, country);
      set.number = number;
      set.country = country;
    }
    if (dto.agentId === null) {
      unset.push('agentId');
    } else if (dto.agentId !== undefined) {
      await this.requireOwnAgent(userId, dto.agentId);
      set.agentId = dto.agentId;
    }
    for (const field of [
      'provider',
      'tags',
      'status',
      'exotelData',
      'agentConfigOverride',
    ] as const) {
      if (dto[field] !== undefined) {
        set[field] = toPlainData(dto[field]);
      }
    }
    const phone = await this.saving(number, () =>
      this.phones.updateOwned(userId, phoneId, set, unset),
    );
    if (!phone) {
      throw PhonesException.notFound();
    }
    await this.cache.invalidate(PHONES_LIST_CACHE_ROUTE, userId);
    return toPhoneResponse(phone);
  }

  async remove(userId: string, phoneId: string): Promise<void> {
    if (!(await this.phones.deleteOwned(userId, phoneId))) {
      throw PhonesException.notFound();
    }
    await this.cache.invalidate(PHONES_LIST_CACHE_ROUTE, userId);
  }

  async effectiveConfig(userId: string, phoneId: string): Promise<EffectiveConfigResponse> {
    const { phone, agent, config } = await this.withAgent(
      userId,
      await this.owned(userId, phoneId),
    );
    return { phoneId: phone._id.toString(), agentId: agent._id.toString(), config };
  }

  /** The phone's agent (or `agentId` when given) and the config a call on this phone runs with. */
  async withAgent(userId: string, phone: PhoneDocument, agentId?: string): Promise<PhoneWithAgent> {
    const chosenAgentId = agentId ?? phone.agentId?.toString();
    if (!chosenAgentId) {
      throw new PhonesException(
        PhonesErrorCode.NoAgent,
        `Phone ${phone.number} has no agent assigned`,
      );
    }
    const agent = await this.agents.findOwned(userId, chosenAgentId);
    if (!agent) {
      throw new PhonesException(
        agentId ? PhonesErrorCode.AgentNotFound : PhonesErrorCode.NoAgent,
        agentId
          ? 'Agent not found'
          : `The agent assigned to phone ${phone.number} no longer exists`,
      );
    }
    return {
      phone,
      agent,
      config: deepMerge(
        agent.config as unknown as Record<string, unknown>,
        phone.agentConfigOverride as Record<string, unknown> | undefined,
        OVERRIDE_OPAQUE_KEYS,
      ) as unknown as AgentConfig,
    };
  }

  async owned(userId: string, phoneId: string): Promise<PhoneDocument> {
    const phone = await this.phones.findOwned(userId, phoneId);
    if (!phone) {
      throw PhonesException.notFound();
    }
    return phone;
  }

  private normalisedNumber(raw: string, country: string): string {
    const check = checkPhoneNumber(raw, country);
    if (!check.ok) {
      throw new PhonesException(PhonesErrorCode.InvalidNumber, check.problem);
    }
    return check.e164;
  }

  private async requireOwnAgent(userId: string, agentId: string): Promise<void> {
    if (!(await this.agents.findOwned(userId, agentId))) {
      throw new PhonesException(PhonesErrorCode.AgentNotFound, 'agentId: agent not found');
    }
  }

  private async saving<T>(number: string, save: () => Promise<T>): Promise<T> {
    try {
      return await save();
    } catch (error) {
      if (error instanceof NumberTakenError) {
        throw new PhonesException(
          PhonesErrorCode.NumberTaken,
          `Number ${number} is already registered`,
        );
      }
      throw error;
    }
  }
}
