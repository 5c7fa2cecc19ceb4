import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgent, createPhone, validAgentConfig } from './support/catalogue-factories.js';
import { registerUser, type TestUser } from './support/factories.js';
import { call } from './support/http.js';
import { createTestContext, type TestContext } from './support/test-app.js';

const AGENTS_URL = '/api/v1/agents';

type Body = Record<string, any>;
type Mutation = (body: Body) => void;

/** A valid create body changed by `mutate`. */
function agentBody(mutate: Mutation = () => undefined): Body {
  const body: Body = { name: 'Support Bot', config: validAgentConfig() };
  mutate(body);
  return body;
}

const ZERO_STATS = { totalCalls: 0, totalDuration: 0, avgDuration: 0, successRate: 0 };

describe('agents', () => {
  let context: TestContext;
  let owner: TestUser;

  const agentsCount = (): Promise<number> => context.db.collection('agents').countDocuments();
  const storedAgent = (id: string) =>
    context.db.collection('agents').findOne({ _id: new ObjectId(id) });
  const post = (body: Body, user: TestUser = owner) =>
    call(context.app, 'POST', AGENTS_URL, { token: user.token, body });

  beforeAll(async () => {
    context = await createTestContext();
    owner = await registerUser(context);
  });
  afterAll(async () => {
    await context.close();
  });

  describe('POST /agents', () => {
    it('creates an active agent with zeroed stats and a clean response', async () => {
      const response = await post(agentBody());
      expect(response.status).toBe(201);
      expect(response.body).toMatchObject({
        id: expect.stringMatching(/^[0-9a-f]{24}$/),
        name: 'Support Bot',
        config: validAgentConfig(),
        isActive: true,
        stats: ZERO_STATS,
      });
      expect(response.body).not.toHaveProperty('_id');
      expect(response.body).not.toHaveProperty('__v');
      expect(response.body).not.toHaveProperty('userId');
      const stored = await storedAgent(response.body.id as string);
      expect(stored?.userId).toEqual(new ObjectId(owner.id));
      expect(stored?.stats).toMatchObject(ZERO_STATS);
      expect(stored?.createdAt).toBeInstanceOf(Date);
    });

    it('refuses stats sent by the client with 400 and stores nothing', async () => {
      const before = await agentsCount();
      const response = await post(
        agentBody((body) => {
          body.stats = { totalCalls: 1000, totalDuration: 1, avgDuration: 1, successRate: 1 };
        }),
      );
      expect(response.status).toBe(400);
      expect(JSON.stringify(response.body.message)).toContain('stats');
      expect(await agentsCount()).toBe(before);
    });

    it('refuses unknown fields inside the config with 400', async () => {
      const before = await agentsCount();
      const response = await post(
        agentBody((body) => {
          body.config.llm.apiKey = 'sk-secret';
        }),
      );
      expect(response.status).toBe(400);
      expect(JSON.stringify(response.body.message)).toContain('apiKey');
      expect(await agentsCount()).toBe(before);
    });

    it('requires a token', async () => {
      const before = await agentsCount();
      const response = await call(context.app, 'POST', AGENTS_URL, { body: agentBody() });
      expect(response.status).toBe(401);
      expect(await agentsCount()).toBe(before);
    });

    const accepted: Array<[string, Mutation]> = [
      ['a 1-character name', (b) => (b.name = 'a')],
      ['a 100-character name', (b) => (b.name = 'n'.repeat(100))],
      ['a 10-character prompt', (b) => (b.config.prompt = 'p'.repeat(10))],
      ['a 5000-character prompt', (b) => (b.config.prompt = 'p'.repeat(5000))],
      ['voice provider openai', (b) => (b.config.voice.provider = 'openai')],
      ['voice provider cartesia', (b) => (b.config.voice.provider = 'cartesia')],
      ['language en', (b) => (b.config.language = 'en')],
      ['language hi', (b) => (b.config.language = 'hi')],
      ['language en-IN', (b) => (b.config.language = 'en-IN')],
      ['llm model gpt-3.5-turbo', (b) => (b.config.llm.model = 'gpt-3.5-turbo')],
      ['llm model gpt-4-turbo', (b) => (b.config.llm.model = 'gpt-4-turbo')],
      ['temperature 0', (b) => (b.config.llm.temperature = 0)],
      ['temperature 2', (b) => (b.config.llm.temperature = 2)],
      ['maxTokens 1', (b) => (b.config.llm.maxTokens = 1)],
      ['maxTokens 4096', (b) => (b.config.llm.maxTokens = 4096)],
      ['a 1000-character firstMessage', (b) => (b.config.firstMessage = 'f'.repeat(1000))],
      ['sessionTimeout 10', (b) => (b.config.sessionTimeout = 10)],
      ['sessionTimeout 3600', (b) => (b.config.sessionTimeout = 3600)],
      ['responseDelay 0', (b) => (b.config.flow.responseDelay = 0)],
      ['responseDelay 5000', (b) => (b.config.flow.responseDelay = 5000)],
      ['voice settings 3 levels deep', (b) => (b.config.voice.settings = { a: { b: { c: 1 } } })],
      // {"b":"x…"} is 8 bytes of JSON around the string.
      [
        'voice settings of exactly 2048 bytes',
        (b) => (b.config.voice.settings = { b: 'x'.repeat(2040) }),
      ],
      [
        'no optional fields',
        (b) =>
          (b.config = {
            prompt: 'p'.repeat(10),
            voice: { provider: 'openai', voiceId: 'alloy' },
            language: 'en',
            llm: { model: 'gpt-4', temperature: 1 },
          }),
      ],
    ];

    it.each(accepted)('accepts %s', async (_case, mutate) => {
      const body = agentBody(mutate);
      const response = await post(body);
      expect(response.status).toBe(201);
      expect(response.body.name).toBe(body.name);
      expect(response.body.config).toEqual(body.config);
      expect((await storedAgent(response.body.id as string))?.config).toEqual(body.config);
    });

    const refused: Array<[string, Mutation, string]> = [
      ['an empty name', (b) => (b.name = ''), 'name'],
      ['a blank name', (b) => (b.name = '   '), 'name'],
      ['a 101-character name', (b) => (b.name = 'n'.repeat(101)), 'name'],
      ['a missing name', (b) => delete b.name, 'name'],
      ['a 9-character prompt', (b) => (b.config.prompt = 'p'.repeat(9)), 'config.prompt'],
      ['a 5001-character prompt', (b) => (b.config.prompt = 'p'.repeat(5001)), 'config.prompt'],
      [
        'an unknown voice provider',
        (b) => (b.config.voice.provider = 'azure'),
        'config.voice.provider',
      ],
      ['a missing voiceId', (b) => delete b.config.voice.voiceId, 'config.voice.voiceId'],
      ['an empty voiceId', (b) => (b.config.voice.voiceId = ''), 'config.voice.voiceId'],
      ['language english', (b) => (b.config.language = 'english'), 'config.language'],
      ['language EN', (b) => (b.config.language = 'EN'), 'config.language'],
      ['language en-in', (b) => (b.config.language = 'en-in'), 'config.language'],
      ['language xx', (b) => (b.config.language = 'xx'), 'config.language'],
      ['a missing language', (b) => delete b.config.language, 'config.language'],
      ['an unknown llm model', (b) => (b.config.llm.model = 'gpt-5'), 'config.llm.model'],
      ['temperature -0.01', (b) => (b.config.llm.temperature = -0.01), 'config.llm.temperature'],
      ['temperature 2.01', (b) => (b.config.llm.temperature = 2.01), 'config.llm.temperature'],
      ['a string temperature', (b) => (b.config.llm.temperature = '1'), 'config.llm.temperature'],
      ['maxTokens 0', (b) => (b.config.llm.maxTokens = 0), 'config.llm.maxTokens'],
      ['maxTokens 4097', (b) => (b.config.llm.maxTokens = 4097), 'config.llm.maxTokens'],
      ['maxTokens 1.5', (b) => (b.config.llm.maxTokens = 1.5), 'config.llm.maxTokens'],
      [
        'a 1001-character firstMessage',
        (b) => (b.config.firstMessage = 'f'.repeat(1001)),
        'config.firstMessage',
      ],
      ['sessionTimeout 9', (b) => (b.config.sessionTimeout = 9), 'config.sessionTimeout'],
      ['sessionTimeout 3601', (b) => (b.config.sessionTimeout = 3601), 'config.sessionTimeout'],
      ['responseDelay -1', (b) => (b.config.flow.responseDelay = -1), 'config.flow.responseDelay'],
      [
        'responseDelay 5001',
        (b) => (b.config.flow.responseDelay = 5001),
        'config.flow.responseDelay',
      ],
      [
        'voice settings as an array',
        (b) => (b.config.voice.settings = [1, 2]),
        'config.voice.settings',
      ],
      [
        'a "$where" key in voice settings',
        (b) => (b.config.voice.settings = { $where: 'sleep(1000)' }),
        'config.voice.settings',
      ],
      [
        'a nested "$gt" key in voice settings',
        (b) => (b.config.voice.settings = { a: { $gt: 1 } }),
        'config.voice.settings',
      ],
      [
        'a dotted key in voice settings',
        (b) => (b.config.voice.settings = { 'a.b': 1 }),
        'config.voice.settings',
      ],
      [
        'voice settings 4 levels deep',
        (b) => (b.config.voice.settings = { a: { b: { c: { d: 1 } } } }),
        'config.voice.settings',
      ],
      [
        'voice settings over 2 KB',
        (b) => (b.config.voice.settings = { b: 'x'.repeat(2041) }),
        'config.voice.settings',
      ],
      ['a missing config', (b) => delete b.config, 'config'],
      ['a missing voice', (b) => delete b.config.voice, 'config.voice'],
      ['a missing llm', (b) => delete b.config.llm, 'config.llm'],
      [
        'a missing interruption.allowed',
        (b) => delete b.config.flow.interruption.allowed,
        'config.flow.interruption.allowed',
      ],
    ];

    it.each(refused)(
      'refuses %s with 400 naming the field and stores nothing',
      async (_case, mutate, field) => {
        const before = await agentsCount();
        const response = await post(agentBody(mutate));
        expect(response.status).toBe(400);
        const messages = ([] as string[]).concat(response.body.message as string | string[]);
        expect(messages.some((message) => message.startsWith(`${field} `))).toBe(true);
        expect(response.body.requestId).toEqual(expect.any(String));
        expect(await agentsCount()).toBe(before);
      },
    );

    it('lists every failing field at once', async () => {
      const response = await post(
        agentBody((body) => {
          body.name = '';
          body.config.llm.temperature = 5;
          body.config.language = 'english';
        }),
      );
      expect(response.status).toBe(400);
      const messages = (response.body.message as string[]).join('\n');
      expect(messages).toContain('name');
      expect(messages).toContain('config.llm.temperature');
      expect(messages).toContain('config.language');
    });
  });

  describe('GET /agents', () => {
    let lister: TestUser;
    const names = ['Support Bot', 'Sales Agent', 'supervisor', 'a.*b literal', 'Night Shift'];

    beforeAll(async () => {
      lister = await registerUser(context);
      for (const name of names) {
        await createAgent(context, lister, { name, isActive: name !== 'Night Shift' });
      }
    });

    const list = (query: Record<string, string> = {}) =>
      call(context.app, 'GET', AGENTS_URL, { token: lister.token, query });

    it('lists the caller’s agents newest first with the default page', async () => {
      const response = await list();
      expect(response.status).toBe(200);
      expect(response.body.data.map((agent: Body) => agent.name)).toEqual([...names].reverse());
      expect(response.body.meta).toEqual({ page: 1, limit: 20, total: names.length });
      expect(response.body.data[0]).not.toHaveProperty('_id');
    });

    it('pages with page and limit and reports the total', async () => {
      const first = await list({ page: '1', limit: '2' });
      const third = await list({ page: '3', limit: '2' });
      const beyond = await list({ page: '4', limit: '2' });
      expect(first.body.data.map((agent: Body) => agent.name)).toEqual([
        'Night Shift',
        'a.*b literal',
      ]);
      expect(first.body.meta).toEqual({ page: 1, limit: 2, total: 5 });
      expect(third.body.data.map((agent: Body) => agent.name)).toEqual(['Support Bot']);
      expect(beyond.body.data).toEqual([]);
      expect(beyond.body.meta.total).toBe(5);
    });

    it.each([
      ['limit 0', { limit: '0' }, 'limit'],
      ['limit 101', { limit: '101' }, 'limit'],
      ['page 0', { page: '0' }, 'page'],
      ['a non-boolean isActive', { isActive: 'maybe' }, 'isActive'],
      ['an empty q', { q: '' }, 'q'],
      ['an unknown parameter', { sort: 'name' }, 'sort'],
    ])('refuses %s with 400', async (_case, query, field) => {
      const response = await list(query);
      expect(response.status).toBe(400);
      expect(JSON.stringify(response.body.message)).toContain(field);
    });

    it('filters on isActive', async () => {
      const inactive = await list({ isActive: 'false' });
      const active = await list({ isActive: 'true' });
      expect(inactive.body.data.map((agent: Body) => agent.name)).toEqual(['Night Shift']);
      expect(inactive.body.meta.total).toBe(1);
      expect(active.body.meta.total).toBe(4);
      expect(active.body.data.every((agent: Body) => agent.isActive === true)).toBe(true);
    });

    it('searches names with q (prefix, case-insensitive without a text index)', async () => {
      const indexes = await context.db.collection('agents').indexes();
      const hasTextIndex = indexes.some((index) => index.name === 'name_text');
      if (hasTextIndex) {
        // MongoDB: the text index matches whole words.
        const response = await list({ q: 'support' });
        expect(response.body.data.map((agent: Body) => agent.name)).toEqual(['Support Bot']);
        return;
      }
      const response = await list({ q: 'sup' });
      expect(response.status).toBe(200);
      expect(response.body.data.map((agent: Body) => agent.name)).toEqual([
        'supervisor',
        'Support Bot',
      ]);
      expect(response.body.meta.total).toBe(2);
      // Anchored: a word in the middle of a name does not match.
      expect((await list({ q: 'bot' })).body.meta.total).toBe(0);
      expect((await list({ q: 'sup', isActive: 'false' })).body.meta.total).toBe(0);
    });

    it('treats regular-expression characters in q as literal text', async () => {
      const indexes = await context.db.collection('agents').indexes();
      const hasTextIndex = indexes.some((index) => index.name === 'name_text');
      const wildcard = await list({ q: '.*' });
      expect(wildcard.status).toBe(200);
      expect(wildcard.body.meta.total).toBe(0);
      expect((await list({ q: '(' })).status).toBe(200);
      expect((await list({ q: '[' })).body.meta.total).toBe(0);
      if (!hasTextIndex) {
        const literal = await list({ q: 'a.*' });
        expect(literal.body.data.map((agent: Body) => agent.name)).toEqual(['a.*b literal']);
      }
    });

    it('never lists another user’s agents', async () => {
      const stranger = await registerUser(context);
      await createAgent(context, stranger, { name: 'Support Stranger' });
      const response = await list({ limit: '100' });
      expect(response.body.data.map((agent: Body) => agent.name)).not.toContain('Support Stranger');
      expect(response.body.meta.total).toBe(names.length);
    });
  });

  describe('GET /agents/:id', () => {
    it('returns the agent', async () => {
      const agent = await createAgent(context, owner, { name: 'Getter' });
      const response = await call(context.app, 'GET', `${AGENTS_URL}/${agent.id}`, {
        token: owner.token,
      });
      expect(response.status).toBe(200);
      expect(response.body).toEqual(agent);
    });

    it('answers 400 for an id that is not an ObjectId and 404 for an unknown one', async () => {
      for (const method of ['GET', 'PATCH', 'DELETE'] as const) {
        const invalid = await call(context.app, method, `${AGENTS_URL}/not-an-id`, {
          token: owner.token,
          ...(method === 'PATCH' ? { body: { name: 'x' } } : {}),
        });
        expect(invalid.status).toBe(400);
        const unknown = await call(
          context.app,
          method,
          `${AGENTS_URL}/${new ObjectId().toString()}`,
          {
            token: owner.token,
            ...(method === 'PATCH' ? { body: { name: 'x' } } : {}),
          },
        );
        expect(unknown.status).toBe(404);
        expect(unknown.body.code).toBe('AGENT_NOT_FOUND');
      }
    });
  });

  describe('PATCH /agents/:id', () => {
    const patch = (id: string, body: Body) =>
      call(context.app, 'PATCH', `${AGENTS_URL}/${id}`, { token: owner.token, body });

    it('deep-merges config: changing llm.temperature keeps the rest', async () => {
      const agent = await createAgent(context, owner);
      const response = await patch(agent.id as string, { config: { llm: { temperature: 1.3 } } });
      expect(response.status).toBe(200);
      const expected = validAgentConfig();
      expected.llm.temperature = 1.3;
      expect(response.body.config).toEqual(expected);
      expect(response.body.name).toBe(agent.name);
      expect((await storedAgent(agent.id as string))?.config).toEqual(expected);
    });

    it('replaces voice.settings whole while keeping the other voice fields', async () => {
      const agent = await createAgent(context, owner);
      const response = await patch(agent.id as string, {
        config: { voice: { settings: { speed: 1.1 } } },
      });
      expect(response.status).toBe(200);
      expect(response.body.config.voice).toEqual({
        provider: 'elevenlabs',
        voiceId: '21m00Tcm4TlvDq8ikWAM',
        model: 'eleven_turbo_v2',
        settings: { speed: 1.1 },
      });
    });

    it('updates name and isActive and keeps stats', async () => {
      const agent = await createAgent(context, owner);
      const response = await patch(agent.id as string, { name: 'Renamed', isActive: false });
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({ name: 'Renamed', isActive: false, stats: ZERO_STATS });
      expect(response.body.config).toEqual(agent.config);
      expect(new Date(response.body.updatedAt as string).getTime()).toBeGreaterThanOrEqual(
        new Date(agent.updatedAt as string).getTime(),
      );
    });

    it.each<[string, Body, string]>([
      ['temperature 3', { config: { llm: { temperature: 3 } } }, 'config.llm.temperature'],
      ['an empty name', { name: '' }, 'name'],
      ['a 9-character prompt', { config: { prompt: 'short' } }, 'config.prompt'],
      [
        'an unknown voice provider',
        { config: { voice: { provider: 'azure' } } },
        'config.voice.provider',
      ],
      [
        'a "$set" settings key',
        { config: { voice: { settings: { $set: 1 } } } },
        'config.voice.settings',
      ],
      ['stats', { stats: { totalCalls: 99 } }, 'stats'],
      ['an unknown field', { owner: 'me' }, 'owner'],
    ])('refuses %s with 400 and changes nothing', async (_case, body, field) => {
      const agent = await createAgent(context, owner);
      const before = await storedAgent(agent.id as string);
      const response = await patch(agent.id as string, body);
      expect(response.status).toBe(400);
      expect(JSON.stringify(response.body.message)).toContain(field);
      expect(await storedAgent(agent.id as string)).toEqual(before);
    });
  });

  describe('DELETE /agents/:id', () => {
    it('deletes with 204, after which the agent is 404', async () => {
      const agent = await createAgent(context, owner);
      const url = `${AGENTS_URL}/${agent.id}`;
      const response = await call(context.app, 'DELETE', url, { token: owner.token });
      expect(response.status).toBe(204);
      expect(response.text).toBe('');
      expect(await storedAgent(agent.id as string)).toBeNull();
      expect((await call(context.app, 'GET', url, { token: owner.token })).status).toBe(404);
      expect((await call(context.app, 'DELETE', url, { token: owner.token })).status).toBe(404);
    });

    it('refuses with 409 listing the numbers while phones use the agent', async () => {
      const agent = await createAgent(context, owner);
      const first = await createPhone(context, owner, { agentId: agent.id });
      const second = await createPhone(context, owner, { agentId: agent.id });
      const url = `${AGENTS_URL}/${agent.id}`;
      const response = await call(context.app, 'DELETE', url, { token: owner.token });
      expect(response.status).toBe(409);
      expect(response.body.code).toBe('AGENT_ASSIGNED_TO_PHONES');
      expect(response.body.message).toContain(first.number);
      expect(response.body.message).toContain(second.number);
      expect(response.body.phones).toEqual([first.number, second.number].sort());
      expect(await storedAgent(agent.id as string)).not.toBeNull();

      // Once unassigned, the agent can go.
      for (const phone of [first, second]) {
        await call(context.app, 'PATCH', `/api/v1/phones/${phone.id}`, {
          token: owner.token,
          body: { agentId: null },
        });
      }
      expect((await call(context.app, 'DELETE', url, { token: owner.token })).status).toBe(204);
    });
  });
});
