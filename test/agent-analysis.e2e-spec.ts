import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgent, validAgentConfig } from './support/catalogue-factories.js';
import { registerUser, type TestUser } from './support/factories.js';
import { call } from './support/http.js';
import { createTestContext, type TestContext } from './support/test-app.js';

const AGENTS_URL = '/api/v1/agents';

type Body = Record<string, any>;

const LEAD_SCHEMA = {
  type: 'object',
  properties: {
    customerName: { type: 'string', description: 'As the caller gave it' },
    interested: { type: 'boolean' },
    budget: { type: 'number', minimum: 0 },
    products: { type: 'array', items: { type: 'string', enum: ['loan', 'card'] } },
  },
  required: ['interested'],
  additionalProperties: false,
};

function analysisSection(): Body {
  return {
    summaryPrompt: 'Summarise the call in two sentences.',
    successRubric: 'The call succeeded if the caller agreed to a follow-up.',
    structuredDataSchema: structuredClone(LEAD_SCHEMA),
  };
}

function configWithAnalysis(analysis: Body = analysisSection()): Body {
  return { ...validAgentConfig(), analysis };
}

/** A schema of `bytes` bytes of JSON, padded in a description. */
function schemaOfBytes(bytes: number): Body {
  const schema = { type: 'object', properties: { note: { type: 'string', description: '' } } };
  schema.properties.note.description = 'd'.repeat(bytes - JSON.stringify(schema).length);
  return schema;
}

const refused: Array<[string, Body, string]> = [
  ['a schema that is not an object', { structuredDataSchema: 'customerName' }, 'must be an object'],
  ['a schema that is an array', { structuredDataSchema: [LEAD_SCHEMA] }, 'must be an object'],
  [
    'a top-level type other than object',
    { structuredDataSchema: { type: 'array', items: { type: 'string' } } },
    'type "object"',
  ],
  ['a schema without properties', { structuredDataSchema: { type: 'object' } }, '"properties"'],
  [
    'a "$ref" key',
    {
      structuredDataSchema: {
        type: 'object',
        properties: { address: { $ref: '#/definitions/address' } },
      },
    },
    '"$ref"',
  ],
  [
    'an unknown keyword (ajv strict mode)',
    {
      structuredDataSchema: {
        type: 'object',
        properties: { name: { type: 'string', maxLenght: 10 } },
      },
    },
    'unknown keyword: "maxLenght"',
  ],
  ['a schema over 8 KiB', { structuredDataSchema: schemaOfBytes(8193) }, '8192 bytes'],
  ['a summaryPrompt over 2000 characters', { summaryPrompt: 's'.repeat(2001) }, ''],
  ['an empty successRubric', { successRubric: '' }, ''],
  ['an unknown field inside analysis', { language: 'hi' }, ''],
];

/** The field each refusal must name (the message starts with it). */
function fieldOf(prefix: string, analysis: Body): string {
  const [field] = Object.keys(analysis);
  return field === 'language' ? `${prefix}.property language` : `${prefix}.${field ?? ''}`;
}

describe('agent analysis config', () => {
  let context: TestContext;
  let owner: TestUser;

  const get = (id: string) =>
    call(context.app, 'GET', `${AGENTS_URL}/${id}`, { token: owner.token });
  const patch = (id: string, body: Body) =>
    call(context.app, 'PATCH', `${AGENTS_URL}/${id}`, { token: owner.token, body });
  const messagesOf = (body: Body): string[] => ([] as string[]).concat(body.message);

  beforeAll(async () => {
    context = await createTestContext();
    owner = await registerUser(context);
  });
  afterAll(async () => {
    await context.close();
  });

  describe('on create', () => {
    it('stores a valid analysis section and returns it on GET', async () => {
      const agent = await createAgent(context, owner, { config: configWithAnalysis() });
      expect(agent.config.analysis).toEqual(analysisSection());
      const response = await get(agent.id as string);
      expect(response.status).toBe(200);
      expect(response.body.config).toEqual(configWithAnalysis());
    });

    it('accepts an agent without an analysis section, or with only a prompt', async () => {
      const without = await createAgent(context, owner);
      expect(without.config).not.toHaveProperty('analysis');
      const promptOnly = await createAgent(context, owner, {
        config: configWithAnalysis({ summaryPrompt: 'One line, please.' }),
      });
      expect((await get(promptOnly.id as string)).body.config.analysis).toEqual({
        summaryPrompt: 'One line, please.',
      });
    });

    it('accepts a schema of exactly 8 KiB and prompts of 2000 characters', async () => {
      const analysis = {
        summaryPrompt: 's'.repeat(2000),
        successRubric: 'r'.repeat(2000),
        structuredDataSchema: schemaOfBytes(8192),
      };
      const agent = await createAgent(context, owner, { config: configWithAnalysis(analysis) });
      expect((await get(agent.id as string)).body.config.analysis).toEqual(analysis);
    });

    it.each(refused)(
      'refuses %s with 400 naming the field and stores nothing',
      async (_case, analysis, reason) => {
        const before = await context.db.collection('agents').countDocuments();
        const response = await call(context.app, 'POST', AGENTS_URL, {
          token: owner.token,
          body: { name: 'Analyst', config: configWithAnalysis(analysis) },
        });
        expect(response.status).toBe(400);
        const field = fieldOf('config.analysis', analysis);
        const message = messagesOf(response.body).find((line) => line.startsWith(field));
        expect(message, JSON.stringify(response.body.message)).toBeDefined();
        expect(message).toContain(reason);
        expect(await context.db.collection('agents').countDocuments()).toBe(before);
      },
    );

    it('refuses an analysis section that is not an object', async () => {
      const response = await call(context.app, 'POST', AGENTS_URL, {
        token: owner.token,
        body: { name: 'Analyst', config: { ...validAgentConfig(), analysis: ['summary'] } },
      });
      expect(response.status).toBe(400);
      expect(messagesOf(response.body).some((line) => line.startsWith('config.analysis '))).toBe(
        true,
      );
    });
  });

  describe('on PATCH', () => {
    it('merges a partial analysis section, keeping the fields it does not name', async () => {
      const agent = await createAgent(context, owner, { config: configWithAnalysis() });
      const response = await patch(agent.id as string, {
        config: { analysis: { summaryPrompt: 'Summarise in one line.' } },
      });
      expect(response.status).toBe(200);
      const expected = { ...analysisSection(), summaryPrompt: 'Summarise in one line.' };
      expect(response.body.config.analysis).toEqual(expected);
      expect((await get(agent.id as string)).body.config).toEqual(configWithAnalysis(expected));
    });

    it('adds an analysis section to an agent that had none', async () => {
      const agent = await createAgent(context, owner);
      const response = await patch(agent.id as string, { config: { analysis: analysisSection() } });
      expect(response.status).toBe(200);
      expect((await get(agent.id as string)).body.config).toEqual(configWithAnalysis());
    });

    // A merge would keep the old schema's fields beside the new ones, never validated together.
    it('replaces the structured-data schema whole', async () => {
      const agent = await createAgent(context, owner, { config: configWithAnalysis() });
      const replacement = {
        type: 'object',
        properties: { callbackDay: { type: 'string', enum: ['monday', 'friday'] } },
        required: ['callbackDay'],
      };
      const response = await patch(agent.id as string, {
        config: { analysis: { structuredDataSchema: replacement } },
      });
      expect(response.status).toBe(200);
      expect((await get(agent.id as string)).body.config.analysis).toEqual({
        ...analysisSection(),
        structuredDataSchema: replacement,
      });
    });

    it.each(refused)(
      'refuses %s with 400 naming the field and changes nothing',
      async (_case, analysis, reason) => {
        const agent = await createAgent(context, owner, { config: configWithAnalysis() });
        const response = await patch(agent.id as string, { config: { analysis } });
        expect(response.status).toBe(400);
        const field = fieldOf('config.analysis', analysis);
        const message = messagesOf(response.body).find((line) => line.startsWith(field));
        expect(message, JSON.stringify(response.body.message)).toBeDefined();
        expect(message).toContain(reason);
        expect((await get(agent.id as string)).body.config).toEqual(configWithAnalysis());
      },
    );
  });

  it('documents every analysis field with an example', async () => {
    const document = (await call(context.app, 'GET', '/docs-json')).body;
    const schemas = document.components.schemas;
    expect(schemas.AgentConfigDto.properties.analysis).toBeDefined();
    const analysis = schemas.AnalysisConfigDto;
    expect(Object.keys(analysis.properties).sort()).toEqual([
      'structuredDataSchema',
      'successRubric',
      'summaryPrompt',
    ]);
    for (const property of Object.values<Body>(analysis.properties)) {
      expect(property.example).toBeDefined();
    }
    expect(analysis.required ?? []).toEqual([]);
  });

  describe('as a phone override', () => {
    it('accepts a partial analysis section and refuses an invalid schema', async () => {
      const accepted = await call(context.app, 'POST', '/api/v1/phones', {
        token: owner.token,
        body: {
          number: '+919876512345',
          country: 'IN',
          agentConfigOverride: { analysis: { successRubric: 'A sale was made.' } },
        },
      });
      expect(accepted.status).toBe(201);
      expect(accepted.body.agentConfigOverride).toEqual({
        analysis: { successRubric: 'A sale was made.' },
      });

      const refusedOverride = await call(context.app, 'POST', '/api/v1/phones', {
        token: owner.token,
        body: {
          number: '+919876512346',
          country: 'IN',
          agentConfigOverride: { analysis: { structuredDataSchema: { type: 'string' } } },
        },
      });
      expect(refusedOverride.status).toBe(400);
      expect(
        messagesOf(refusedOverride.body).some((line) =>
          line.startsWith('agentConfigOverride.analysis.structuredDataSchema '),
        ),
      ).toBe(true);
    });

    it("replaces the agent's structured-data schema whole in the effective config", async () => {
      const agent = await createAgent(context, owner, { config: configWithAnalysis() });
      const replacement = {
        type: 'object',
        properties: { callbackDay: { type: 'string' } },
      };
      const phone = await call(context.app, 'POST', '/api/v1/phones', {
        token: owner.token,
        body: {
          number: '+919876512347',
          country: 'IN',
          agentId: agent.id,
          agentConfigOverride: { analysis: { structuredDataSchema: replacement } },
        },
      });
      expect(phone.status).toBe(201);
      const effective = await call(
        context.app,
        'GET',
        `/api/v1/phones/${phone.body.id as string}/effective-config`,
        { token: owner.token },
      );
      expect(effective.status).toBe(200);
      expect(effective.body.config.analysis).toEqual({
        ...analysisSection(),
        structuredDataSchema: replacement,
      });
    });
  });
});
