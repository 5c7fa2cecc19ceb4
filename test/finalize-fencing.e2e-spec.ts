import { ObjectId } from 'mongodb';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { AgentsRepository } from '../src/agents/agents.repository.js';
import { CallLifecycleService } from '../src/calls/call-lifecycle.service.js';
import {
  DailyCallStatsRepository,
  dailyCallStatKey,
} from '../src/calls/daily-call-stats.repository.js';
import {
  FINALIZER_DEADLINE_MS,
  FinalizationClock,
  FinalizerDeadlineExceeded,
  MARKER_RETENTION_MS,
} from '../src/calls/finalization-deadline.js';
import { MarkerSweepService } from '../src/maintenance/marker-sweep.service.js';
import { SessionsService } from '../src/sessions/sessions.service.js';
import { UsersRepository } from '../src/users/users.repository.js';
import { createAgent } from './support/catalogue-factories.js';
import { registerUser, setCredits, type TestUser } from './support/factories.js';
import { createTestContext, type TestContext, uniqueName } from './support/test-app.js';
import { waitFor } from './support/wait-for.js';

/** A promise with its resolver: lets a test hold a finalizer at one step. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

/**
 * A finalizer that lost its lock (paused, partitioned) never applies an effect twice: it finds
 * the other finalizer's marker, or it is past its deadline and writes nothing. Markers stay
 * MARKER_RETENTION_MS after finalization; the sweep removes them after that, not before.
 */
describe('finalization stays exactly-once past a lost lock', () => {
  let context: TestContext;
  let user: TestUser;
  let agentId: ObjectId;
  const finalizedHere: string[] = [];

  const userDocument = () => context.db.collection('users').findOne({ _id: new ObjectId(user.id) });
  const credits = async (): Promise<number> => (await userDocument())?.credits as number;
  const agentDocument = () => context.db.collection('agents').findOne({ _id: agentId });
  const totalCalls = async (): Promise<number> =>
    (await agentDocument())?.stats.totalCalls as number;
  const storedCall = (callLogId: string) =>
    context.db.collection('calllogs').findOne({ _id: new ObjectId(callLogId) });
  /** Calls in the user's daily roll-up, and the roll-up's markers still there. */
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
  /** Where the call's markers are: on the user (id and id|amount), the agent, the roll-up. */
  const markersOf = async (callLogId: string) => {
    const [owner, agent, day] = await Promise.all([userDocument(), agentDocument(), rolledUp()]);
    return {
      user: ((owner?.pendingChargeCallIds as string[] | undefined) ?? []).includes(callLogId),
      charge: ((owner?.pendingCharges as string[] | undefined) ?? []).some((entry) =>
        entry.startsWith(`${callLogId}|`),
      ),
      agent: ((agent?.pendingStatCallIds as string[] | undefined) ?? []).includes(callLogId),
      day: day.pending.includes(callLogId),
    };
  };
  const everywhere = { user: true, charge: true, agent: true, day: true };
  const nowhere = { user: false, charge: false, agent: false, day: false };

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
    finalizedHere.push(callLogId.toString());
    return callLogId.toString();
  }

  /** What a lock expiry does: the key is gone while its holder still works. */
  const expireLock = (callLogId: string) => context.redis.del(`lock:finalize-call:${callLogId}`);

  /** The finalizers' clock, which a test moves forward (as a long pause would). */
  function movableClock(): { advance: (ms: number) => void } {
    const clock = context.app.get(FinalizationClock);
    const now = clock.now.bind(clock);
    let offset = 0;
    vi.spyOn(clock, 'now').mockImplementation(() => now() + offset);
    return {
      advance: (ms) => {
        offset += ms;
      },
    };
  }

  /** Holds the first call of `method` until `paused` opens; `reached` opens when it is held. */
  function holdFirstCall<T extends object>(target: T, method: keyof T) {
    const original = (target[method] as (...args: unknown[]) => Promise<unknown>).bind(target);
    const paused = gate();
    const reached = gate();
    let calls = 0;
    vi.spyOn(target, method as never).mockImplementation((async (...args: unknown[]) => {
      calls += 1;
      if (calls === 1) {
        reached.open();
        await paused.opened;
      }
      return original(...args);
    }) as never);
    return { paused, reached };
  }

  /**
   * Races two finalizers of one call: the first is held at `method` until its lock has expired
   * and a second finalizer has finished the call; `whileHeld` runs then, before the first
   * resumes and ends.
   */
  async function raceFinalizers<T extends object>(
    callLogId: string,
    target: T,
    method: keyof T,
    whileHeld: () => Promise<void> = () => Promise.resolve(),
  ): Promise<void> {
    const lifecycle = context.app.get(CallLifecycleService);
    const { paused, reached } = holdFirstCall(target, method);
    const late = lifecycle.finalize(callLogId);
    await reached.opened;
    await expireLock(callLogId);
    expect(await lifecycle.finalize(callLogId)).toBe('finalized');
    await whileHeld();
    paused.open();
    await late;
  }

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
    const creditsBefore = await credits();

    await raceFinalizers(
      callLogId,
      context.app.get(UsersRepository),
      'chargeCallIfCovered',
      async () => {
        expect(await credits()).toBeCloseTo(creditsBefore - 0.06, 6);
      },
    );

    expect(await credits()).toBeCloseTo(creditsBefore - 0.06, 6);
    expect((await storedCall(callLogId))?.billing).toMatchObject({ state: 'done', charged: 0.06 });
    // The markers that turned the late charge away stay until the sweep, past the retention.
    expect(await markersOf(callLogId)).toEqual(everywhere);
  });

  it('adds the call to agent stats once when a paused finalizer resumes after another finished', async () => {
    const callLogId = await completedCall();
    const before = await totalCalls();
    const creditsBefore = await credits();

    await raceFinalizers(callLogId, context.app.get(AgentsRepository), 'addCallToStats');

    expect(await totalCalls()).toBe(before + 1);
    expect(await credits()).toBeCloseTo(creditsBefore - 0.06, 6);
  });

  it('adds the call to the daily roll-up once when a paused finalizer resumes after another finished', async () => {
    const callLogId = await completedCall();
    const before = await rolledUp();
    const agentCallsBefore = await totalCalls();

    await raceFinalizers(callLogId, context.app.get(DailyCallStatsRepository), 'addCall');

    const after = await rolledUp();
    expect(after.count).toBe(before.count + 1);
    expect(after.pending).toContain(callLogId);
    expect(await totalCalls()).toBe(agentCallsBefore + 1);
  });

  it('lets a finalizer past its deadline apply nothing, and a later run finishes the call once', async () => {
    const callLogId = await completedCall();
    const lifecycle = context.app.get(CallLifecycleService);
    const clock = movableClock();
    const { paused, reached } = holdFirstCall(context.app.get(SessionsService), 'end');
    const creditsBefore = await credits();
    const agentCallsBefore = await totalCalls();
    const rolledUpBefore = (await rolledUp()).count;

    const late = lifecycle.finalize(callLogId);
    await reached.opened;
    clock.advance(FINALIZER_DEADLINE_MS + 1_000);
    paused.open();

    await expect(late).rejects.toBeInstanceOf(FinalizerDeadlineExceeded);
    const stopped = await storedCall(callLogId);
    expect(stopped?.finalizedAt).toBeUndefined();
    expect(stopped?.billing).toMatchObject({ state: 'pending', amount: 0.06 });
    expect(await credits()).toBeCloseTo(creditsBefore, 6);
    expect(await totalCalls()).toBe(agentCallsBefore);
    expect((await rolledUp()).count).toBe(rolledUpBefore);
    expect(await markersOf(callLogId)).toEqual(nowhere);

    expect(await lifecycle.finalize(callLogId)).toBe('finalized');
    expect(await credits()).toBeCloseTo(creditsBefore - 0.06, 6);
    expect(await totalCalls()).toBe(agentCallsBefore + 1);
    expect((await rolledUp()).count).toBe(rolledUpBefore + 1);
  });

  it('finishes exactly once a call whose finalizer reached its deadline between two effects', async () => {
    const callLogId = await completedCall();
    const lifecycle = context.app.get(CallLifecycleService);
    const clock = movableClock();
    const { paused, reached } = holdFirstCall(context.app.get(AgentsRepository), 'readStats');
    const creditsBefore = await credits();
    const agentCallsBefore = await totalCalls();
    const rolledUpBefore = (await rolledUp()).count;

    const late = lifecycle.finalize(callLogId);
    await reached.opened;
    // The charge and the roll-up go on while the agent step is held.
    await waitFor(async () => {
      const markers = await markersOf(callLogId);
      return markers.user && markers.day ? true : undefined;
    });
    clock.advance(FINALIZER_DEADLINE_MS + 1_000);
    paused.open();
    await expect(late).rejects.toBeInstanceOf(FinalizerDeadlineExceeded);
    expect(await totalCalls()).toBe(agentCallsBefore);

    expect(await lifecycle.finalize(callLogId)).toBe('finalized');
    expect(await credits()).toBeCloseTo(creditsBefore - 0.06, 6);
    expect(await totalCalls()).toBe(agentCallsBefore + 1);
    expect((await rolledUp()).count).toBe(rolledUpBefore + 1);
    expect((await storedCall(callLogId))?.billing).toMatchObject({ state: 'done', charged: 0.06 });
  });

  it('changes nothing when an effect is written again while its marker is there', async () => {
    const callLogId = await completedCall();
    const lifecycle = context.app.get(CallLifecycleService);
    expect(await lifecycle.finalize(callLogId)).toBe('finalized');
    const creditsAfter = await credits();
    const agentAfter = (await agentDocument())?.stats as Record<string, number>;
    const rolledUpAfter = await rolledUp();
    const call = await storedCall(callLogId);
    const userId = new ObjectId(user.id);

    // Each effect's own write, repeated: its marker turns it away.
    const users = context.app.get(UsersRepository);
    expect(await users.chargeCallIfCovered(userId, callLogId, 0.06)).toBe(false);
    expect(await users.chargeCallFromBalance(userId, callLogId, creditsAfter, 0.06)).toBe(
      undefined,
    );
    const agents = context.app.get(AgentsRepository);
    const current = await agents.readStats(agentId);
    expect(
      await agents.addCallToStats(agentId, callLogId, current?.stats, {
        durationSec: 120,
        successful: true,
      }),
    ).toBe(false);
    const key = dailyCallStatKey({
      userId,
      agentId,
      createdAt: call?.createdAt as Date,
      status: 'completed',
    });
    const dailyStats = context.app.get(DailyCallStatsRepository);
    expect(
      await dailyStats.addCall(key, callLogId, { durationSec: 120, cost: 0.06, successful: true }),
    ).toBe(false);
    expect(await dailyStats.hasCall(key, callLogId)).toBe(true);

    // A whole finalizer that read the call before it was finalized, arriving within its deadline.
    await context.db
      .collection('calllogs')
      .updateOne(
        { _id: new ObjectId(callLogId) },
        { $set: { 'billing.state': 'pending' }, $unset: { finalizedAt: 1, agentStatsState: 1 } },
      );
    expect(await lifecycle.finalize(callLogId)).toBe('finalized');

    expect(await credits()).toBeCloseTo(creditsAfter, 6);
    expect((await agentDocument())?.stats).toEqual(agentAfter);
    expect((await rolledUp()).count).toBe(rolledUpAfter.count);
    expect((await storedCall(callLogId))?.billing).toMatchObject({ state: 'done', charged: 0.06 });
  });

  it('keeps the roll-up and the agent stats equal to the finalized calls', async () => {
    const finalized = await context.db
      .collection('calllogs')
      .countDocuments({ userId: new ObjectId(user.id), finalizedAt: { $exists: true } });
    expect(finalized).toBe(finalizedHere.length);
    expect((await rolledUp()).count).toBe(finalized);
    expect(await totalCalls()).toBe(finalized);
    expect(await credits()).toBeCloseTo(10 - finalized * 0.06, 6);
  });

  it('sweeps only the markers of calls finalized longer ago than the retention', async () => {
    const [old, ...recent] = finalizedHere;
    const now = new Date();
    await context.db
      .collection('calllogs')
      .updateOne(
        { _id: new ObjectId(old) },
        { $set: { finalizedAt: new Date(now.getTime() - MARKER_RETENTION_MS - 60_000) } },
      );
    const sweep = context.app.get(MarkerSweepService);

    expect(await sweep.run(now)).toBe(1);

    expect(await markersOf(old!)).toEqual(nowhere);
    expect((await storedCall(old!))?.markersPending).toBeUndefined();
    for (const callLogId of recent) {
      expect(await markersOf(callLogId)).toEqual(everywhere);
      expect((await storedCall(callLogId))?.markersPending).toBe(true);
    }

    // Past the retention of every call: none left, and the totals are untouched.
    const later = new Date(Date.now() + MARKER_RETENTION_MS + 60_000);
    expect(await sweep.run(later)).toBe(recent.length);
    expect(await sweep.run(later)).toBe(0);
    const owner = await userDocument();
    expect(owner?.pendingChargeCallIds ?? []).toEqual([]);
    expect(owner?.pendingCharges ?? []).toEqual([]);
    expect((await agentDocument())?.pendingStatCallIds ?? []).toEqual([]);
    expect((await rolledUp()).pending).toEqual([]);
    expect((await rolledUp()).count).toBe(finalizedHere.length);
    expect(await credits()).toBeCloseTo(10 - finalizedHere.length * 0.06, 6);
  });
});
