import { randomBytes } from 'node:crypto';
import { type Document, ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rebuildDailyCallStats } from '../migrations/005-daily-call-stats.js';
import { registerUser, type TestUser } from './support/factories.js';
import { call } from './support/http.js';
import { createTestContext, type TestContext } from './support/test-app.js';

const DAY_1 = '2026-03-10';
const DAY_2 = '2026-03-11';
const OUR_NUMBER = '+918030752400';
const OTHER_NUMBER = '+918030752401';
const CUSTOMER = '+919123456789';

interface Seed {
  id: ObjectId;
  createdAt: string;
  agent: 'first' | 'second';
  direction: 'inbound' | 'outbound';
  status: string;
  durationSec?: number;
  cost?: number;
  number?: string;
  transcript?: string;
  error?: { code: string; message: string };
}

/**
 * Six calls of one user over two UTC days and two agents (oldest first), chosen so each
 * grouping has a different split: day 1 ends one millisecond before day 2 begins. All but the
 * call still in progress are finalized (statistics count only those).
 */
const SEEDS: Seed[] = [
  {
    id: new ObjectId(),
    createdAt: `${DAY_1}T10:00:00.000Z`,
    agent: 'first',
    direction: 'outbound',
    status: 'completed',
    durationSec: 120,
    cost: 0.12,
    transcript: 'Agent: Hello!\nUser: Hi, where is my order?',
  },
  {
    id: new ObjectId(),
    createdAt: `${DAY_1}T12:00:00.000Z`,
    agent: 'first',
    direction: 'inbound',
    status: 'failed',
    durationSec: 0,
    cost: 0,
    number: OTHER_NUMBER,
    error: { code: 'EXOTEL_REJECTED', message: 'Exotel refused the call (HTTP 400)' },
  },
  {
    id: new ObjectId(),
    createdAt: `${DAY_1}T23:59:59.999Z`,
    agent: 'second',
    direction: 'outbound',
    status: 'agent-ended',
    durationSec: 60,
    cost: 0.05,
    number: OTHER_NUMBER,
  },
  {
    id: new ObjectId(),
    createdAt: `${DAY_2}T00:00:00.000Z`,
    agent: 'second',
    direction: 'inbound',
    status: 'no-answer',
    durationSec: 0,
    cost: 0,
    number: OTHER_NUMBER,
  },
  {
    id: new ObjectId(),
    createdAt: `${DAY_2}T09:00:00.000Z`,
    agent: 'first',
    direction: 'outbound',
    status: 'user-ended',
    durationSec: 300,
    cost: 0.31,
  },
  {
    id: new ObjectId(),
    createdAt: `${DAY_2}T15:00:00.000Z`,
    agent: 'second',
    direction: 'outbound',
    status: 'in-progress',
    number: OTHER_NUMBER,
  },
];

describe('call queries: lists, details and statistics', () => {
  let context: TestContext;
  let user: TestUser;
  let stranger: TestUser;
  let strangersCall: ObjectId;
  const agents = { first: new ObjectId(), second: new ObjectId() };
  /** Seed ids, newest first (the order lists use). */
  const newestFirst = [...SEEDS].reverse().map((seed) => seed.id.toString());

  const list = (query: Record<string, string>, token = user.token) =>
    call(context.app, 'GET', '/api/v1/calls', { token, query });

  const ids = (response: { body: { data: Array<{ id: string }> } }) =>
    response.body.data.map((row) => row.id);

  const idsOf = (...indexes: number[]) => indexes.map((index) => SEEDS[index]!.id.toString());

  const stats = (query: Record<string, string>, token = user.token) =>
    call(context.app, 'GET', '/api/v1/calls/stats', { token, query });

  function document(seed: Seed, userId: string): Document {
    const createdAt = new Date(seed.createdAt);
    const ours = seed.number ?? OUR_NUMBER;
    return {
      _id: seed.id,
      sessionId: `sess_${randomBytes(12).toString('hex')}`,
      userId: new ObjectId(userId),
      agentId: agents[seed.agent],
      fromPhone: seed.direction === 'outbound' ? ours : CUSTOMER,
      toPhone: seed.direction === 'outbound' ? CUSTOMER : ours,
      direction: seed.direction,
      status: seed.status,
      ...(seed.durationSec === undefined ? {} : { durationSec: seed.durationSec }),
      ...(seed.cost === undefined
        ? {}
        : {
            costBreakdown: { stt: 0, llm: 0, tts: 0, telephony: seed.cost, total: seed.cost },
            billing: { state: 'done', amount: seed.cost, charged: seed.cost, shortfall: 0 },
          }),
      ...(seed.transcript ? { transcript: seed.transcript } : {}),
      ...(seed.error ? { error: seed.error } : {}),
      ...(seed.status === 'in-progress' ? {} : { finalizedAt: createdAt }),
      createdAt,
      updatedAt: createdAt,
    };
  }

  beforeAll(async () => {
    context = await createTestContext();
    user = await registerUser(context);
    stranger = await registerUser(context);
    const strangers = document(
      {
        id: new ObjectId(),
        createdAt: `${DAY_2}T10:00:00.000Z`,
        agent: 'first',
        direction: 'outbound',
        status: 'completed',
        durationSec: 999,
        cost: 9.99,
        transcript: 'secret',
      },
      stranger.id,
    );
    strangersCall = strangers._id as ObjectId;
    await context.db
      .collection('calllogs')
      .insertMany([...SEEDS.map((seed) => document(seed, user.id)), strangers]);
    // The calls were written directly, not finalized by the app: migration 005's backfill
    // builds their daily roll-up, as it does for the calls that exist when it runs.
    await rebuildDailyCallStats(context.db);
  });

  afterAll(async () => {
    await context.redis.del(`user:token:${user.id}`, `user:token:${stranger.id}`);
    await context.close();
  });

  describe('GET /calls', () => {
    it("lists only the caller's calls, newest first, without transcripts", async () => {
      const response = await list({});
      expect(response.status).toBe(200);
      expect(ids(response)).toEqual(newestFirst);
      expect(response.body.meta).toEqual({ page: 1, limit: 20, total: 6 });
      for (const row of response.body.data) {
        expect(row).not.toHaveProperty('transcript');
        expect(row).not.toHaveProperty('_id');
        expect(row).not.toHaveProperty('userId');
      }
      expect(response.body.data.at(-1)).toMatchObject({
        status: 'completed',
        durationSec: 120,
        costBreakdown: { total: 0.12 },
      });
    });

    it('filters by status, direction and agent', async () => {
      expect(ids(await list({ status: 'completed' }))).toEqual(idsOf(0));
      expect(ids(await list({ direction: 'inbound' }))).toEqual(idsOf(3, 1));
      expect(ids(await list({ agentId: agents.second.toString() }))).toEqual(idsOf(5, 3, 2));
      expect(ids(await list({ agentId: agents.first.toString(), direction: 'outbound' }))).toEqual(
        idsOf(4, 0),
      );
      expect((await list({ status: 'busy' })).body).toMatchObject({
        data: [],
        meta: { total: 0 },
      });
    });

    it('filters by a number on either end of the call', async () => {
      expect(ids(await list({ phone: OUR_NUMBER }))).toEqual(idsOf(4, 0));
      expect(ids(await list({ phone: OTHER_NUMBER }))).toEqual(idsOf(5, 3, 2, 1));
      expect(ids(await list({ phone: CUSTOMER }))).toEqual(newestFirst);
    });

    it('filters by creation date, both bounds included', async () => {
      expect(ids(await list({ from: `${DAY_2}T00:00:00.000Z` }))).toEqual(idsOf(5, 4, 3));
      expect(ids(await list({ to: `${DAY_1}T23:59:59.999Z` }))).toEqual(idsOf(2, 1, 0));
      expect(
        ids(await list({ from: `${DAY_1}T12:00:00.000Z`, to: `${DAY_2}T00:00:00.000Z` })),
      ).toEqual(idsOf(3, 2, 1));
      expect(ids(await list({ from: `${DAY_2}T00:00:00.000Z`, status: 'no-answer' }))).toEqual(
        idsOf(3),
      );
    });

    it('pages through the results', async () => {
      const second = await list({ page: '2', limit: '2' });
      expect(second.status).toBe(200);
      expect(ids(second)).toEqual(newestFirst.slice(2, 4));
      expect(second.body.meta).toEqual({ page: 2, limit: 2, total: 6 });
      const last = await list({ page: '3', limit: '4' });
      expect(ids(last)).toEqual([]);
      expect(last.body.meta).toEqual({ page: 3, limit: 4, total: 6 });
    });

    it('refuses bad filters with 400, naming each', async () => {
      const cases: Array<[Record<string, string>, string]> = [
        [{ status: 'nope' }, 'status'],
        [{ direction: 'sideways' }, 'direction'],
        [{ agentId: 'not-an-id' }, 'agentId'],
        [{ from: 'not-a-date' }, 'from'],
        [{ to: 'tomorrow' }, 'to'],
        [{ limit: '101' }, 'limit'],
        [{ limit: '0' }, 'limit'],
        [{ page: '0' }, 'page'],
        [{ sort: 'createdAt' }, 'sort'],
      ];
      for (const [query, field] of cases) {
        const response = await list(query);
        expect(response.status, JSON.stringify(query)).toBe(400);
        expect(JSON.stringify(response.body.message)).toContain(field);
      }
    });

    it('refuses an anonymous request with 401', async () => {
      expect((await call(context.app, 'GET', '/api/v1/calls')).status).toBe(401);
    });
  });

  describe('GET /calls/:id', () => {
    it('returns everything about the call: transcript, cost breakdown, billing', async () => {
      const response = await call(context.app, 'GET', `/api/v1/calls/${idsOf(0)[0]}`, {
        token: user.token,
      });
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({
        id: idsOf(0)[0],
        agentId: agents.first.toString(),
        direction: 'outbound',
        status: 'completed',
        fromPhone: OUR_NUMBER,
        toPhone: CUSTOMER,
        durationSec: 120,
        transcript: 'Agent: Hello!\nUser: Hi, where is my order?',
        costBreakdown: { stt: 0, llm: 0, tts: 0, telephony: 0.12, total: 0.12 },
        billing: { amount: 0.12, charged: 0.12, shortfall: 0 },
        error: null,
        createdAt: `${DAY_1}T10:00:00.000Z`,
      });
      expect(response.body).not.toHaveProperty('_id');
    });

    it("returns a failed call's error", async () => {
      const response = await call(context.app, 'GET', `/api/v1/calls/${idsOf(1)[0]}`, {
        token: user.token,
      });
      expect(response.body).toMatchObject({
        status: 'failed',
        error: { code: 'EXOTEL_REJECTED', message: 'Exotel refused the call (HTTP 400)' },
        transcript: null,
      });
    });

    it("hides another user's call (404, as if it did not exist)", async () => {
      const theirs = await call(context.app, 'GET', `/api/v1/calls/${strangersCall.toString()}`, {
        token: user.token,
      });
      const missing = await call(context.app, 'GET', `/api/v1/calls/${new ObjectId().toString()}`, {
        token: user.token,
      });
      expect(theirs.status).toBe(404);
      expect(missing.status).toBe(404);
      expect(theirs.body.message).toBe(missing.body.message);
      expect(JSON.stringify(theirs.body)).not.toContain('secret');
    });

    it('refuses an id that is not an ObjectId with 400', async () => {
      const response = await call(context.app, 'GET', '/api/v1/calls/12345', {
        token: user.token,
      });
      expect(response.status).toBe(400);
    });
  });

  describe('GET /calls/stats', () => {
    it('groups finalized calls by UTC day: count, durations, cost and success rate', async () => {
      const response = await stats({ groupBy: 'day' });
      expect(response.status).toBe(200);
      expect(response.body).toEqual({
        groupBy: 'day',
        data: [
          {
            key: DAY_1,
            count: 3,
            totalDuration: 180,
            avgDuration: 60,
            totalCost: 0.17,
            successRate: 0.6667,
          },
          {
            key: DAY_2,
            count: 2,
            totalDuration: 300,
            avgDuration: 150,
            totalCost: 0.31,
            successRate: 0.5,
          },
        ],
      });
    });

    it('groups by day when groupBy is not given', async () => {
      const response = await stats({});
      expect(response.status).toBe(200);
      expect(response.body.groupBy).toBe('day');
      expect(response.body.data.map((row: { key: string }) => row.key)).toEqual([DAY_1, DAY_2]);
    });

    it('groups by agent', async () => {
      const response = await stats({ groupBy: 'agent' });
      expect(response.status).toBe(200);
      const byKey = Object.fromEntries(
        response.body.data.map((row: { key: string }) => [row.key, row]),
      );
      expect(Object.keys(byKey).sort()).toEqual(
        [agents.first.toString(), agents.second.toString()].sort(),
      );
      expect(byKey[agents.first.toString()]).toEqual({
        key: agents.first.toString(),
        count: 3,
        totalDuration: 420,
        avgDuration: 140,
        totalCost: 0.43,
        successRate: 0.6667,
      });
      expect(byKey[agents.second.toString()]).toEqual({
        key: agents.second.toString(),
        count: 2,
        totalDuration: 60,
        avgDuration: 30,
        totalCost: 0.05,
        successRate: 0.5,
      });
    });

    it('groups by status', async () => {
      const response = await stats({ groupBy: 'status' });
      expect(response.status).toBe(200);
      expect(response.body.data).toEqual([
        {
          key: 'agent-ended',
          count: 1,
          totalDuration: 60,
          avgDuration: 60,
          totalCost: 0.05,
          successRate: 1,
        },
        {
          key: 'completed',
          count: 1,
          totalDuration: 120,
          avgDuration: 120,
          totalCost: 0.12,
          successRate: 1,
        },
        { key: 'failed', count: 1, totalDuration: 0, avgDuration: 0, totalCost: 0, successRate: 0 },
        {
          key: 'no-answer',
          count: 1,
          totalDuration: 0,
          avgDuration: 0,
          totalCost: 0,
          successRate: 0,
        },
        {
          key: 'user-ended',
          count: 1,
          totalDuration: 300,
          avgDuration: 300,
          totalCost: 0.31,
          successRate: 1,
        },
      ]);
    });

    it('counts the whole UTC days from..to touches, both included', async () => {
      const secondDay = await stats({
        groupBy: 'agent',
        from: `${DAY_2}T08:00:00.000Z`,
        to: `${DAY_2}T08:30:00.000Z`,
      });
      expect(secondDay.status).toBe(200);
      const byKey = Object.fromEntries(
        secondDay.body.data.map((row: { key: string }) => [row.key, row]),
      );
      expect(byKey[agents.first.toString()]).toMatchObject({ count: 1, successRate: 1 });
      expect(byKey[agents.second.toString()]).toMatchObject({
        count: 1,
        totalDuration: 0,
        successRate: 0,
      });

      const bothDays = await stats({
        from: `${DAY_1}T23:59:59.999Z`,
        to: `${DAY_2}T00:00:00.000Z`,
      });
      expect(
        bothDays.body.data.map((row: { key: string; count: number }) => [row.key, row.count]),
      ).toEqual([
        [DAY_1, 3],
        [DAY_2, 2],
      ]);
    });

    it("counts only the caller's calls", async () => {
      const response = await stats({ groupBy: 'status' }, stranger.token);
      expect(response.body.data).toEqual([
        {
          key: 'completed',
          count: 1,
          totalDuration: 999,
          avgDuration: 999,
          totalCost: 9.99,
          successRate: 1,
        },
      ]);
      const empty = await stats({ from: '2020-01-01T00:00:00.000Z', to: '2020-01-02T00:00:00Z' });
      expect(empty.body).toEqual({ groupBy: 'day', data: [] });
    });

    it('refuses an unknown grouping or a bad date with 400', async () => {
      const queries: Array<Record<string, string>> = [
        { groupBy: 'week' },
        { from: 'yesterday' },
        { unknown: '1' },
      ];
      for (const query of queries) {
        const response = await stats(query);
        expect(response.status, JSON.stringify(query)).toBe(400);
      }
      const week = await stats({ groupBy: 'week' });
      expect(JSON.stringify(week.body.message)).toContain('groupBy');
    });
  });
});
