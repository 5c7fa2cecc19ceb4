import { ObjectId } from 'mongodb';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { AgentsRepository } from '../src/agents/agents.repository.js';
import { CallLifecycleService } from '../src/calls/call-lifecycle.service.js';
import { DailyCallStatsRepository } from '../src/calls/daily-call-stats.repository.js';
import { UsersRepository } from '../src/users/users.repository.js';
import { createAgent } from './support/catalogue-factories.js';
import { registerUser, setCredits, type TestUser } from './support/factories.js';
import { createTestContext, type TestContext, uniqueName } from './support/test-app.js';

/** A promise with its resolver: lets a test hold a finalizer at one step. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

describe('finalization stays exactly-once past a lost lock', () => {
  let context: TestContext;
  let user: TestUser;
  let agentId: ObjectId;

  const credits = async (): Promise<number> =>
    (await context.db.collection('users').findOne({ _id: new ObjectId(user.id) }))
      ?.credits as number;
  const totalCalls = async (): Promise<number> =>
    (await context.db.collection('agents').findOne({ _id: agentId }))?.stats.totalCalls as number;
  /** Calls in the user's daily roll-up, and the roll-up's markers still pending. */
  const rolledUp = async (): Promise<{ count: number; pending: string[] }> => {
    const documents = await context.db
      .collection('dailycallstats')
      .find({ userId: new ObjectId(user.id) })
      .toArray();
    return {
      count: documents.reduce((sum, document) => sum + (document.count as number), 0),
      pending: documents.flatMap(
        (document) => (document.pendingCallIds as string[] | undefined) ?? [],
      ),
    };
  };

  /** A completed two-minute call (0.06 credits at the default rate) waiting for its finalization. */
  async function completedCall(): Promise<string> {
    const callLogId = new ObjectId();
    const now = new Date();
    await context.db.collection('calllogs').insertOne({
      _id: callLogId,
      sessionId: uniqueName('sess'),
      userId: new ObjectId(user.id),
      agentId,
      fromPhone: '+919123456789',
      toPhone: '+918030752400',
      direction: 'outbound',
      status: 'completed',
      exotelCallSid: uniqueName('CA'),
      startedAt: new Date(now.getTime() - 120_000),
      endedAt: now,
      durationSec: 120,
      createdAt: now,
      updatedAt: now,
    });
    return callLogId.toString();
  }

  /** What a lock expiry does: the key is gone while its holder still works. */
  const expireLock = (callLogId: string) => context.redis.del(`lock:finalize-call:${callLogId}`);

  beforeAll(async () => {
    context = await createTestContext();
    user = await registerUser(context);
    await setCredits(context, user.id, 10);
    agentId = new ObjectId((await createAgent(context, user)).id as string);
  });

  afterEach(() => {
    vi.restoreAllMocks();
  });

  afterAll(async () => {
    await context.redis.del(`user:token:${user.id}`);
    await context.close();
  });

  it('charges once when a finalizer paused before charging resumes after another finished', async () => {
    const callLogId = await completedCall();
    const lifecycle = context.app.get(CallLifecycleService);
    const users = context.app.get(UsersRepository);
    const charge = users.chargeCall.bind(users);
    const paused = gate();
    const reached = gate();
    let calls = 0;
    vi.spyOn(users, 'chargeCall').mockImplementation(async (...args) => {
      calls += 1;
      if (calls === 1) {
        reached.open();
        await paused.opened;
      }
      return charge(...args);
    });
    const creditsBefore = await credits();

    const late = lifecycle.finalize(callLogId);
    await reached.opened;
    await expireLock(callLogId);
    expect(await lifecycle.finalize(callLogId)).toBe('finalized');
    expect(await credits()).toBeCloseTo(creditsBefore - 0.06, 6);
    paused.open();
    await late;

    expect(await credits()).toBeCloseTo(creditsBefore - 0.06, 6);
    const stored = await context.db
      .collection('calllogs')
      .findOne({ _id: new ObjectId(callLogId) });
    expect(stored?.billing).toMatchObject({ state: 'done', charged: 0.06 });
    const markers = await context.db.collection('users').findOne({ _id: new ObjectId(user.id) });
    expect(markers?.pendingChargeCallIds ?? []).not.toContain(callLogId);
  });

  it('adds the call to agent stats once when a paused finalizer resumes after another finished', async () => {
    const callLogId = await completedCall();
    const lifecycle = context.app.get(CallLifecycleService);
    const agents = context.app.get(AgentsRepository);
    const add = agents.addCallToStats.bind(agents);
    const paused = gate();
    const reached = gate();
    let calls = 0;
    vi.spyOn(agents, 'addCallToStats').mockImplementation(async (...args) => {
      calls += 1;
      if (calls === 1) {
        reached.open();
        await paused.opened;
      }
      return add(...args);
    });
    const before = await totalCalls();
    const creditsBefore = await credits();

    const late = lifecycle.finalize(callLogId);
    await reached.opened;
    await expireLock(callLogId);
    expect(await lifecycle.finalize(callLogId)).toBe('finalized');
    paused.open();
    await late;

    expect(await totalCalls()).toBe(before + 1);
    expect(await credits()).toBeCloseTo(creditsBefore - 0.06, 6);
  });

  it('adds the call to the daily roll-up once when a paused finalizer resumes after another finished', async () => {
    const callLogId = await completedCall();
    const lifecycle = context.app.get(CallLifecycleService);
    const dailyStats = context.app.get(DailyCallStatsRepository);
    const add = dailyStats.addCall.bind(dailyStats);
    const paused = gate();
    const reached = gate();
    let calls = 0;
    vi.spyOn(dailyStats, 'addCall').mockImplementation(async (...args) => {
      calls += 1;
      if (calls === 1) {
        reached.open();
        await paused.opened;
      }
      return add(...args);
    });
    const before = await rolledUp();
    const agentCallsBefore = await totalCalls();

    const late = lifecycle.finalize(callLogId);
    await reached.opened;
    await expireLock(callLogId);
    expect(await lifecycle.finalize(callLogId)).toBe('finalized');
    paused.open();
    await late;

    const after = await rolledUp();
    expect(after.count).toBe(before.count + 1);
    expect(after.pending).not.toContain(callLogId);
    expect(await totalCalls()).toBe(agentCallsBefore + 1);
  });

  it('keeps the roll-up equal to the finalized calls', async () => {
    const finalized = await context.db
      .collection('calllogs')
      .countDocuments({ userId: new ObjectId(user.id), finalizedAt: { $exists: true } });
    expect(finalized).toBe(3);
    expect((await rolledUp()).count).toBe(finalized);
    expect(await totalCalls()).toBe(finalized);
  });
});
