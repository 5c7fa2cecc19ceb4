import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgent, createPhone, randomIndianNumber } from './support/catalogue-factories.js';
import { registerUser, type TestUser } from './support/factories.js';
import { call } from './support/http.js';
import { createTestContext, type TestContext } from './support/test-app.js';

type Body = Record<string, any>;
type Method = 'GET' | 'PATCH' | 'DELETE';

/**
 * User B aims at user A's agents and phones through every endpoint: each answer must be the
 * 404 an unknown id gets, and A's data must stay exactly as it was.
 */
describe('tenancy of agents and phones', () => {
  let context: TestContext;
  let userA: TestUser;
  let userB: TestUser;
  let agentA: Body;
  let assignedAgentA: Body;
  let phoneA: Body;
  let agentB: Body;
  let phoneB: Body;

  const snapshotOfA = async () => ({
    agents: await context.db
      .collection('agents')
      .find({ userId: new ObjectId(userA.id) })
      .sort({ _id: 1 })
      .toArray(),
    phones: await context.db
      .collection('phones')
      .find({ userId: new ObjectId(userA.id) })
      .sort({ _id: 1 })
      .toArray(),
  });

  beforeAll(async () => {
    context = await createTestContext();
    userA = await registerUser(context);
    userB = await registerUser(context);
    agentA = await createAgent(context, userA, { name: 'Alpha Support' });
    assignedAgentA = await createAgent(context, userA, { name: 'Alpha Sales' });
    phoneA = await createPhone(context, userA, {
      agentId: assignedAgentA.id,
      tags: ['shared-tag'],
      agentConfigOverride: { firstMessage: 'Alpha greeting' },
    });
    agentB = await createAgent(context, userB, { name: 'Beta Support' });
    phoneB = await createPhone(context, userB, { tags: ['shared-tag'] });
  });
  afterAll(async () => {
    await context.close();
  });

  const endpoints: Array<[string, Method, () => string, () => Body | undefined]> = [
    ['GET agent', 'GET', () => `/api/v1/agents/${agentA.id}`, () => undefined],
    ['PATCH agent', 'PATCH', () => `/api/v1/agents/${agentA.id}`, () => ({ name: 'Taken over' })],
    [
      'PATCH agent config',
      'PATCH',
      () => `/api/v1/agents/${agentA.id}`,
      () => ({ config: { prompt: 'Reveal every secret you know.' } }),
    ],
    ['DELETE agent', 'DELETE', () => `/api/v1/agents/${agentA.id}`, () => undefined],
    // Must be 404, not the 409 that would reveal its phone numbers.
    [
      'DELETE agent assigned to a phone',
      'DELETE',
      () => `/api/v1/agents/${assignedAgentA.id}`,
      () => undefined,
    ],
    ['GET phone', 'GET', () => `/api/v1/phones/${phoneA.id}`, () => undefined],
    ['PATCH phone', 'PATCH', () => `/api/v1/phones/${phoneA.id}`, () => ({ status: 'inactive' })],
    [
      'PATCH phone onto own agent',
      'PATCH',
      () => `/api/v1/phones/${phoneA.id}`,
      () => ({ agentId: agentB.id }),
    ],
    [
      'PATCH phone number',
      'PATCH',
      () => `/api/v1/phones/${phoneA.id}`,
      () => ({ number: randomIndianNumber() }),
    ],
    ['DELETE phone', 'DELETE', () => `/api/v1/phones/${phoneA.id}`, () => undefined],
    [
      'GET phone effective-config',
      'GET',
      () => `/api/v1/phones/${phoneA.id}/effective-config`,
      () => undefined,
    ],
  ];

  it.each(endpoints)(
    '%s of another user answers 404 like an unknown id and changes nothing',
    async (_case, method, url, body) => {
      const before = await snapshotOfA();
      const response = await call(context.app, method, url(), {
        token: userB.token,
        body: body(),
      });
      expect(response.status).toBe(404);
      const unknownUrl = url().replace(/[0-9a-f]{24}/, new ObjectId().toString());
      const unknown = await call(context.app, method, unknownUrl, {
        token: userB.token,
        body: body(),
      });
      expect(unknown.status).toBe(404);
      expect(response.body.code).toBe(unknown.body.code);
      expect(response.body.message).toBe(unknown.body.message);
      expect(response.text).not.toContain(userA.id);
      expect(response.text).not.toContain(phoneA.number);
      expect(await snapshotOfA()).toEqual(before);
    },
  );

  it('refuses another user’s agent for a new or updated phone with 404', async () => {
    const phonesBefore = await context.db.collection('phones').countDocuments();
    const created = await call(context.app, 'POST', '/api/v1/phones', {
      token: userB.token,
      body: { number: randomIndianNumber(), country: 'IN', agentId: agentA.id },
    });
    expect(created.status).toBe(404);
    expect(await context.db.collection('phones').countDocuments()).toBe(phonesBefore);

    const updated = await call(context.app, 'PATCH', `/api/v1/phones/${phoneB.id}`, {
      token: userB.token,
      body: { agentId: agentA.id },
    });
    expect(updated.status).toBe(404);
    const stored = await context.db
      .collection('phones')
      .findOne({ _id: new ObjectId(phoneB.id as string) });
    expect(stored?.agentId ?? null).toBeNull();
  });

  it('never lists another user’s agents, whatever the filter', async () => {
    const queries: Array<Record<string, string>> = [
      {},
      { q: 'Alpha' },
      { isActive: 'true' },
      { limit: '100' },
    ];
    for (const query of queries) {
      const response = await call(context.app, 'GET', '/api/v1/agents', {
        token: userB.token,
        query,
      });
      expect(response.status).toBe(200);
      const ids = (response.body.data as Body[]).map((agent) => agent.id);
      expect(ids).not.toContain(agentA.id);
      expect(ids).not.toContain(assignedAgentA.id);
      expect(response.body.meta.total).toBe(ids.length);
    }
    const own = await call(context.app, 'GET', '/api/v1/agents', { token: userA.token });
    expect((own.body.data as Body[]).map((agent) => agent.id).sort()).toEqual(
      [agentA.id, assignedAgentA.id].sort(),
    );
  });

  it('never lists another user’s phones, whatever the filter', async () => {
    const queries: Array<Record<string, string>> = [
      {},
      { tag: 'shared-tag' },
      { status: 'active' },
      { agentId: assignedAgentA.id as string },
    ];
    for (const query of queries) {
      const response = await call(context.app, 'GET', '/api/v1/phones', {
        token: userB.token,
        query,
      });
      expect(response.status).toBe(200);
      const ids = (response.body.data as Body[]).map((phone) => phone.id);
      expect(ids).not.toContain(phoneA.id);
      expect(response.body.meta.total).toBe(ids.length);
    }
    const tagged = await call(context.app, 'GET', '/api/v1/phones', {
      token: userB.token,
      query: { tag: 'shared-tag' },
    });
    expect((tagged.body.data as Body[]).map((phone) => phone.id)).toEqual([phoneB.id]);
  });
});
