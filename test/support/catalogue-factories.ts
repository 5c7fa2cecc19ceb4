import { randomInt } from 'node:crypto';
import type { TestUser } from './factories.js';
import { call } from './http.js';
import type { TestContext } from './test-app.js';

/** A complete, valid agent config; every call returns a fresh copy the caller may mutate. */
export function validAgentConfig(): Record<string, any> {
  return {
    prompt: 'You are a helpful customer support agent for XYZ Company.',
    voice: {
      provider: 'elevenlabs',
      voiceId: '21m00Tcm4TlvDq8ikWAM',
      model: 'eleven_turbo_v2',
      settings: { stability: 0.5, similarityBoost: 0.75 },
    },
    language: 'en',
    llm: { model: 'gpt-4', temperature: 0.7, maxTokens: 500 },
    firstMessage: 'Hello! How can I help you today?',
    sessionTimeout: 300,
    flow: { userStartFirst: false, interruption: { allowed: true }, responseDelay: 500 },
  };
}

/** A valid Indian mobile number in E.164, random enough to be unique within a test database. */
export function randomIndianNumber(): string {
  return `+9198${String(randomInt(0, 100_000_000)).padStart(8, '0')}`;
}

export interface AgentOverrides {
  name?: string;
  isActive?: boolean;
  /** Replaces the whole config when given. */
  config?: Record<string, unknown>;
}

/** Creates an agent through the API as `user`; returns the response body. */
export async function createAgent(
  context: TestContext,
  user: Pick<TestUser, 'token'>,
  overrides: AgentOverrides = {},
): Promise<Record<string, any>> {
  const response = await call(context.app, 'POST', '/api/v1/agents', {
    token: user.token,
    body: {
      name: overrides.name ?? 'Support Bot',
      config: overrides.config ?? validAgentConfig(),
      ...(overrides.isActive !== undefined ? { isActive: overrides.isActive } : {}),
    },
  });
  if (response.status !== 201) {
    throw new Error(`create agent failed: ${response.status} ${response.text}`);
  }
  return response.body as Record<string, any>;
}

/** Creates a phone through the API as `user` (an Indian number unless given); returns the body. */
export async function createPhone(
  context: TestContext,
  user: Pick<TestUser, 'token'>,
  overrides: Record<string, unknown> = {},
): Promise<Record<string, any>> {
  const response = await call(context.app, 'POST', '/api/v1/phones', {
    token: user.token,
    body: { number: randomIndianNumber(), country: 'IN', ...overrides },
  });
  if (response.status !== 201) {
    throw new Error(`create phone failed: ${response.status} ${response.text}`);
  }
  return response.body as Record<string, any>;
}
