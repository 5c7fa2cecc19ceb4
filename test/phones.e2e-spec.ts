import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createAgent,
  createPhone,
  randomIndianNumber,
  validAgentConfig,
} from './support/catalogue-factories.js';
import { registerUser, type TestUser } from './support/factories.js';
import { call } from './support/http.js';
import { createTestContext, type TestContext } from './support/test-app.js';

const PHONES_URL = '/api/v1/phones';

type Body = Record<string, any>;

describe('phones', () => {
  let context: TestContext;
  let owner: TestUser;

  const phonesCount = (): Promise<number> => context.db.collection('phones').countDocuments();
  const storedPhone = (id: string) =>
    context.db.collection('phones').findOne({ _id: new ObjectId(id) });
  const post = (body: Body, user: TestUser = owner) =>
    call(context.app, 'POST', PHONES_URL, { token: user.token, body });
  const patch = (id: string, body: Body, user: TestUser = owner) =>
    call(context.app, 'PATCH', `${PHONES_URL}/${id}`, { token: user.token, body });

  beforeAll(async () => {
    context = await createTestContext();
    owner = await registerUser(context);
  });
  afterAll(async () => {
    await context.close();
  });

  describe('POST /phones', () => {
    it('normalises the number to E.164 and applies the defaults', async () => {
      const response = await post({ number: '098765 43210', country: 'IN' });
      expect(response.status).toBe(201);
      expect(response.body).toMatchObject({
        id: expect.stringMatching(/^[0-9a-f]{24}$/),
        number: '+919876543210',
        country: 'IN',
        provider: 'exotel',
        agentId: null,
        tags: [],
        status: 'active',
        exotelData: null,
        agentConfigOverride: null,
      });
      expect(response.body).not.toHaveProperty('_id');
      expect(response.body).not.toHaveProperty('userId');
      const stored = await storedPhone(response.body.id as string);
      expect(stored?.number).toBe('+919876543210');
      expect(stored?.userId).toEqual(new ObjectId(owner.id));
    });

    it('stores every optional field it is given', async () => {
      const agent = await createAgent(context, owner);
      const body = {
        number: randomIndianNumber(),
        country: 'IN',
        provider: 'exotel',
        agentId: agent.id,
        tags: ['sales', 'inbound'],
        status: 'inactive',
        exotelData: { sid: 'EX-123_abc', appId: '98765' },
        agentConfigOverride: { firstMessage: 'Thanks for calling!', llm: { model: 'gpt-4-turbo' } },
      };
      const response = await post(body);
      expect(response.status).toBe(201);
      expect(response.body).toMatchObject(body);
      const stored = await storedPhone(response.body.id as string);
      expect(stored?.agentId).toEqual(new ObjectId(agent.id as string));
      expect(stored?.agentConfigOverride).toEqual(body.agentConfigOverride);
    });

    it('accepts a US number for US and exotelData without appId', async () => {
      const response = await post({
        number: '+1 415-555-0100',
        country: 'US',
        exotelData: { sid: 'EX1' },
      });
      expect(response.status).toBe(201);
      expect(response.body.number).toBe('+14155550100');
      expect(response.body.exotelData).toEqual({ sid: 'EX1' });
    });

    it('trims and de-duplicates tags', async () => {
      const response = await post({
        number: randomIndianNumber(),
        country: 'IN',
        tags: ['  sales ', 'sales', 'vip', 'vip '],
      });
      expect(response.status).toBe(201);
      expect(response.body.tags).toEqual(['sales', 'vip']);
    });

    it('accepts 10 tags and 32-character tags', async () => {
      const tags = Array.from({ length: 9 }, (_, index) => `tag${index}`).concat('t'.repeat(32));
      const response = await post({ number: randomIndianNumber(), country: 'IN', tags });
      expect(response.status).toBe(201);
      expect(response.body.tags).toEqual(tags);
    });

    it.each<[string, Body, string]>([
      ['a number of another country', { number: '+14155550100', country: 'IN' }, 'IN'],
      ['an invalid number', { number: '12345', country: 'IN' }, 'number'],
      ['text as the number', { number: 'call me maybe', country: 'IN' }, 'number'],
      ['a missing number', { country: 'IN' }, 'number'],
      ['a numeric number', { number: 919876543210, country: 'IN' }, 'number'],
      ['country XX', { number: '+919876500001', country: 'XX' }, 'country'],
      ['country in (lower case)', { number: '+919876500001', country: 'in' }, 'country'],
      ['a missing country', { number: '+919876500001' }, 'country'],
      [
        'provider twilio',
        { number: '+919876500001', country: 'IN', provider: 'twilio' },
        'provider',
      ],
      ['status paused', { number: '+919876500001', country: 'IN', status: 'paused' }, 'status'],
      [
        '11 tags',
        {
          number: '+919876500001',
          country: 'IN',
          tags: Array.from({ length: 11 }, (_, index) => `t${index}`),
        },
        'tags',
      ],
      ['an empty tag', { number: '+919876500001', country: 'IN', tags: ['ok', ''] }, 'tags'],
      ['a blank tag', { number: '+919876500001', country: 'IN', tags: ['   '] }, 'tags'],
      [
        'a 33-character tag',
        { number: '+919876500001', country: 'IN', tags: ['t'.repeat(33)] },
        'tags',
      ],
      ['tags as a string', { number: '+919876500001', country: 'IN', tags: 'sales' }, 'tags'],
      ['a non-string tag', { number: '+919876500001', country: 'IN', tags: [7] }, 'tags'],
      [
        'an agentId that is not an ObjectId',
        { number: '+919876500001', country: 'IN', agentId: 'agent-1' },
        'agentId',
      ],
      [
        'an override with temperature 3',
        {
          number: '+919876500001',
          country: 'IN',
          agentConfigOverride: { llm: { temperature: 3 } },
        },
        'agentConfigOverride.llm.temperature',
      ],
      [
        'an override with language EN',
        { number: '+919876500001', country: 'IN', agentConfigOverride: { language: 'EN' } },
        'agentConfigOverride.language',
      ],
      [
        'an override with a "$" settings key',
        {
          number: '+919876500001',
          country: 'IN',
          agentConfigOverride: { voice: { settings: { $where: '1' } } },
        },
        'agentConfigOverride.voice.settings',
      ],
      [
        'an override with an unknown field',
        { number: '+919876500001', country: 'IN', agentConfigOverride: { webhook: 'http://x' } },
        'webhook',
      ],
      [
        'exotelData without sid',
        { number: '+919876500001', country: 'IN', exotelData: { appId: '1' } },
        'exotelData.sid',
      ],
      [
        'exotelData with an unknown field',
        { number: '+919876500001', country: 'IN', exotelData: { sid: 'EX1', token: 'x' } },
        'token',
      ],
      [
        'exotelData.sid with spaces',
        { number: '+919876500001', country: 'IN', exotelData: { sid: 'EX 1' } },
        'exotelData.sid',
      ],
      [
        'a userId in the body',
        { number: '+919876500001', country: 'IN', userId: new ObjectId().toString() },
        'userId',
      ],
    ])('refuses %s with 400 naming it and stores nothing', async (_case, body, named) => {
      const before = await phonesCount();
      const response = await post(body);
      expect(response.status).toBe(400);
      expect(JSON.stringify(response.body.message)).toContain(named);
      expect(await phonesCount()).toBe(before);
    });

    it('refuses another user’s agent with 404 and stores nothing', async () => {
      const stranger = await registerUser(context);
      const strangersAgent = await createAgent(context, stranger);
      const before = await phonesCount();
      const response = await post({
        number: randomIndianNumber(),
        country: 'IN',
        agentId: strangersAgent.id,
      });
      expect(response.status).toBe(404);
      expect(response.body.code).toBe('PHONE_AGENT_NOT_FOUND');
      expect(response.body.message).toContain('agentId');
      expect(await phonesCount()).toBe(before);
    });

    it('refuses a taken number with 409 naming the number but not its owner', async () => {
      const otherOwner = await registerUser(context);
      const taken = await createPhone(context, otherOwner);
      const before = await phonesCount();
      // The same number written another way is the same number.
      const national = `0${(taken.number as string).slice(3)}`;
      const response = await post({ number: national, country: 'IN' });
      expect(response.status).toBe(409);
      expect(response.body.code).toBe('PHONE_NUMBER_TAKEN');
      expect(response.body.message).toContain(taken.number);
      expect(response.text).not.toContain(otherOwner.id);
      expect(response.text).not.toContain(otherOwner.email);
      expect(response.text).not.toContain(taken.id);
      expect(await phonesCount()).toBe(before);
    });

    it('lets exactly one of 20 concurrent creates of one number win', async () => {
      const rival = await registerUser(context);
      const number = randomIndianNumber();
      const responses = await Promise.all(
        Array.from({ length: 20 }, (_, index) =>
          post({ number, country: 'IN', tags: [`racer${index}`] }, index % 2 === 0 ? owner : rival),
        ),
      );
      const statuses = responses.map((response) => response.status);
      expect(statuses.filter((status) => status === 201)).toHaveLength(1);
      expect(statuses.filter((status) => status === 409)).toHaveLength(19);
      expect(await context.db.collection('phones').countDocuments({ number })).toBe(1);
    });
  });

  describe('GET /phones', () => {
    let lister: TestUser;
    let agent: Body;
    let salesActive: Body;
    let salesInactive: Body;
    let supportAssigned: Body;

    beforeAll(async () => {
      lister = await registerUser(context);
      agent = await createAgent(context, lister);
      salesActive = await createPhone(context, lister, { tags: ['sales'] });
      salesInactive = await createPhone(context, lister, {
        tags: ['sales', 'vip'],
        status: 'inactive',
      });
      supportAssigned = await createPhone(context, lister, {
        tags: ['support'],
        agentId: agent.id,
      });
    });

    const list = (query: Record<string, string> = {}) =>
      call(context.app, 'GET', PHONES_URL, { token: lister.token, query });
    const ids = (response: { body: Body }) => response.body.data.map((phone: Body) => phone.id);

    it('lists the caller’s phones newest first with pagination meta', async () => {
      const response = await list();
      expect(response.status).toBe(200);
      expect(ids(response)).toEqual([supportAssigned.id, salesInactive.id, salesActive.id]);
      expect(response.body.meta).toEqual({ page: 1, limit: 20, total: 3 });
      const second = await list({ page: '2', limit: '2' });
      expect(ids(second)).toEqual([salesActive.id]);
      expect(second.body.meta).toEqual({ page: 2, limit: 2, total: 3 });
    });

    it('filters on status, tag and agentId, alone and together', async () => {
      expect(ids(await list({ status: 'inactive' }))).toEqual([salesInactive.id]);
      expect(ids(await list({ tag: 'sales' }))).toEqual([salesInactive.id, salesActive.id]);
      expect(ids(await list({ tag: 'sales', status: 'active' }))).toEqual([salesActive.id]);
      expect(ids(await list({ agentId: agent.id as string }))).toEqual([supportAssigned.id]);
      expect((await list({ tag: 'nobody' })).body.meta.total).toBe(0);
      expect((await list({ agentId: new ObjectId().toString() })).body.meta.total).toBe(0);
    });

    it.each([
      ['an agentId that is not an ObjectId', { agentId: 'nope' }, 'agentId'],
      ['an unknown status', { status: 'paused' }, 'status'],
      ['a 33-character tag', { tag: 't'.repeat(33) }, 'tag'],
      ['limit 101', { limit: '101' }, 'limit'],
    ])('refuses %s with 400', async (_case, query, field) => {
      const response = await list(query);
      expect(response.status).toBe(400);
      expect(JSON.stringify(response.body.message)).toContain(field);
    });

    it('does not treat a tag filter as a query operator', async () => {
      const response = await call(context.app, 'GET', `${PHONES_URL}?tag[$ne]=x`, {
        token: lister.token,
      });
      expect(response.status).toBe(400);
    });
  });

  describe('GET /phones/:id', () => {
    it('returns the phone, 400 for an invalid id and 404 for an unknown one', async () => {
      const phone = await createPhone(context, owner, { tags: ['get'] });
      const found = await call(context.app, 'GET', `${PHONES_URL}/${phone.id}`, {
        token: owner.token,
      });
      expect(found.status).toBe(200);
      expect(found.body).toEqual(phone);
      for (const method of ['GET', 'PATCH', 'DELETE'] as const) {
        const invalid = await call(context.app, method, `${PHONES_URL}/123`, {
          token: owner.token,
          ...(method === 'PATCH' ? { body: { status: 'inactive' } } : {}),
        });
        expect(invalid.status).toBe(400);
        const unknown = await call(
          context.app,
          method,
          `${PHONES_URL}/${new ObjectId().toString()}`,
          {
            token: owner.token,
            ...(method === 'PATCH' ? { body: { status: 'inactive' } } : {}),
          },
        );
        expect(unknown.status).toBe(404);
        expect(unknown.body.code).toBe('PHONE_NOT_FOUND');
      }
      const effective = await call(
        context.app,
        'GET',
        `${PHONES_URL}/${new ObjectId().toString()}/effective-config`,
        { token: owner.token },
      );
      expect(effective.status).toBe(404);
    });
  });

  describe('PATCH /phones/:id', () => {
    it('changes the number, normalised again', async () => {
      const phone = await createPhone(context, owner);
      const response = await patch(phone.id as string, { number: '098765 11111' });
      expect(response.status).toBe(200);
      expect(response.body.number).toBe('+919876511111');
      expect((await storedPhone(phone.id as string))?.number).toBe('+919876511111');
    });

    it('refuses a number someone else holds with 409 and keeps the old one', async () => {
      const other = await registerUser(context);
      const taken = await createPhone(context, other);
      const phone = await createPhone(context, owner);
      const before = await storedPhone(phone.id as string);
      const response = await patch(phone.id as string, { number: taken.number });
      expect(response.status).toBe(409);
      expect(response.body.message).toContain(taken.number);
      expect(response.text).not.toContain(other.id);
      expect(await storedPhone(phone.id as string)).toEqual(before);
    });

    it('refuses a country the number does not belong to and keeps the phone', async () => {
      const phone = await createPhone(context, owner);
      const before = await storedPhone(phone.id as string);
      const response = await patch(phone.id as string, { country: 'US' });
      expect(response.status).toBe(400);
      expect(response.body.code).toBe('PHONE_INVALID_NUMBER');
      expect(await storedPhone(phone.id as string)).toEqual(before);
    });

    it('assigns and unassigns the agent with agentId null', async () => {
      const agent = await createAgent(context, owner);
      const phone = await createPhone(context, owner);
      const assigned = await patch(phone.id as string, { agentId: agent.id });
      expect(assigned.status).toBe(200);
      expect(assigned.body.agentId).toBe(agent.id);
      const unassigned = await patch(phone.id as string, { agentId: null });
      expect(unassigned.status).toBe(200);
      expect(unassigned.body.agentId).toBeNull();
      expect((await storedPhone(phone.id as string))?.agentId ?? null).toBeNull();
    });

    it('refuses another user’s agent with 404 and keeps the phone', async () => {
      const stranger = await registerUser(context);
      const strangersAgent = await createAgent(context, stranger);
      const phone = await createPhone(context, owner);
      const before = await storedPhone(phone.id as string);
      const response = await patch(phone.id as string, { agentId: strangersAgent.id });
      expect(response.status).toBe(404);
      expect(response.body.code).toBe('PHONE_AGENT_NOT_FOUND');
      expect(await storedPhone(phone.id as string)).toEqual(before);
    });

    it('replaces tags, trimmed and de-duplicated, and changes the status', async () => {
      const phone = await createPhone(context, owner, { tags: ['old'] });
      const response = await patch(phone.id as string, {
        tags: [' new ', 'new', 'other'],
        status: 'inactive',
      });
      expect(response.status).toBe(200);
      expect(response.body.tags).toEqual(['new', 'other']);
      expect(response.body.status).toBe('inactive');
      expect(response.body.number).toBe(phone.number);
    });

    it.each<[string, Body, string]>([
      ['11 tags', { tags: Array.from({ length: 11 }, (_, index) => `t${index}`) }, 'tags'],
      ['an empty tag', { tags: [''] }, 'tags'],
      ['status paused', { status: 'paused' }, 'status'],
      ['an invalid number', { number: '12' }, 'number'],
      [
        'an override with temperature 3',
        { agentConfigOverride: { llm: { temperature: 3 } } },
        'agentConfigOverride.llm.temperature',
      ],
      ['an agentId that is not an ObjectId', { agentId: 'x' }, 'agentId'],
      ['an unknown field', { owner: 'someone' }, 'owner'],
    ])('refuses %s with 400 and changes nothing', async (_case, body, named) => {
      const phone = await createPhone(context, owner, { tags: ['keep'] });
      const before = await storedPhone(phone.id as string);
      const response = await patch(phone.id as string, body);
      expect(response.status).toBe(400);
      expect(JSON.stringify(response.body.message)).toContain(named);
      expect(await storedPhone(phone.id as string)).toEqual(before);
    });
  });

  describe('DELETE /phones/:id', () => {
    it('deletes with 204, after which the phone is 404 and its number free again', async () => {
      const phone = await createPhone(context, owner);
      const url = `${PHONES_URL}/${phone.id}`;
      const response = await call(context.app, 'DELETE', url, { token: owner.token });
      expect(response.status).toBe(204);
      expect(await storedPhone(phone.id as string)).toBeNull();
      expect((await call(context.app, 'GET', url, { token: owner.token })).status).toBe(404);
      expect((await call(context.app, 'DELETE', url, { token: owner.token })).status).toBe(404);
      expect((await post({ number: phone.number, country: 'IN' })).status).toBe(201);
    });
  });

  describe('GET /phones/:id/effective-config', () => {
    it('deep-merges the phone’s override into the agent’s config', async () => {
      const agent = await createAgent(context, owner);
      const phone = await createPhone(context, owner, {
        agentId: agent.id,
        agentConfigOverride: {
          firstMessage: 'Namaste! Thanks for calling.',
          llm: { model: 'gpt-4-turbo' },
          voice: { settings: { speed: 1.2 } },
        },
      });
      const response = await call(
        context.app,
        'GET',
        `${PHONES_URL}/${phone.id}/effective-config`,
        { token: owner.token },
      );
      expect(response.status).toBe(200);
      const expected = validAgentConfig();
      expected.firstMessage = 'Namaste! Thanks for calling.';
      expected.llm.model = 'gpt-4-turbo';
      expected.voice.settings = { stability: 0.5, similarityBoost: 0.75, speed: 1.2 };
      expect(response.body).toEqual({ phoneId: phone.id, agentId: agent.id, config: expected });
      expect(response.body.config.llm.temperature).toBe(0.7);
    });

    it('returns the agent’s config unchanged when the phone has no override', async () => {
      const agent = await createAgent(context, owner);
      const phone = await createPhone(context, owner, { agentId: agent.id });
      const response = await call(
        context.app,
        'GET',
        `${PHONES_URL}/${phone.id}/effective-config`,
        { token: owner.token },
      );
      expect(response.status).toBe(200);
      expect(response.body.config).toEqual(agent.config);
    });

    it('answers 409 when the phone has no agent', async () => {
      const phone = await createPhone(context, owner);
      const response = await call(
        context.app,
        'GET',
        `${PHONES_URL}/${phone.id}/effective-config`,
        { token: owner.token },
      );
      expect(response.status).toBe(409);
      expect(response.body.code).toBe('PHONE_NO_AGENT');
      expect(response.body.message).toContain(phone.number);
    });
  });
});
