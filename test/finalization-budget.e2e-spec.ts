import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseCommandCounts } from '../src/infra/commands/database-command-counter.js';
import { Queues } from '../src/infra/queue/queues.js';
import { SessionsService } from '../src/sessions/sessions.service.js';
import { TelephonyService } from '../src/telephony/telephony.service.js';
import { countCommands } from './support/command-count.js';
import {
  type CallbackDeliverer,
  type ExotelStatusCallbackPayload,
  startFakeExotel,
  type FakeExotel,
} from './support/fake-exotel-server.js';
import { type InboundLine, inboundLine, ring } from './support/inbound-line.js';
import { createTestContext, type TestContext } from './support/test-app.js';
import { waitForQueuesDrained } from './support/wait-for-queue.js';

/**
 * Round trips to MongoDB a call's terminal event may take, whatever the server (issue 9: at
 * most 8; 24, then 15, before). What remains: read the call, end the session, move the status
 * with the bill fixed in the same write, charge the user (no read while the balance covers
 * it), read and update the agent's stats (their averages are set from the totals read), add
 * to the daily roll-up, mark the call finalized. The exactly-once markers stay and are removed
 * by the marker sweep, off this path.
 */
const FINALIZATION_BUDGET = 8;
/** A status that changes nothing any more (a repeat, or an older one arriving late). */
const STALE_EVENT_BUDGET = 1;

const breakdown = (counts: DatabaseCommandCounts): string =>
  `${counts.mongoTotal} MongoDB commands: ${JSON.stringify(counts.mongo)}`;

/**
 * MongoDB commands spent on one call's status events, counted from the Exotel callback to the
 * drained queue (the callback itself reads nothing from MongoDB, so all of it is the worker's).
 */
describe('finalization command budget', () => {
  let context: TestContext;
  let fake: FakeExotel;
  let line: InboundLine;

  const deliver: CallbackDeliverer = async (url, request) => {
    const target = new URL(url);
    const response = await context.app
      .getHttpAdapter()
      .getInstance()
      .inject({
        method: 'POST',
        url: `${target.pathname}${target.search}`,
        headers: { 'content-type': request.contentType },
        payload: request.body,
      });
    return { status: response.statusCode, body: response.body };
  };

  /** Delivers one callback for the call and waits until the worker has done all it leads to. */
  const report = (callLogId: string, payload: ExotelStatusCallbackPayload) =>
    countCommands(context.app, async () => {
      const url = context.app.get(TelephonyService).statusCallbackUrl(callLogId);
      const delivered = await fake.sendStatusCallback(url, payload);
      expect(delivered.status).toBe(200);
      await waitForQueuesDrained(context.app, [Queues.callEvents]);
    });

  /** An answered inbound call with a short conversation, ready to end. */
  async function answeredCall(): Promise<{ callLogId: string; callSid: string }> {
    const callSid = `CA${new ObjectId().toString()}`;
    const rung = await ring(context, line, callSid);
    expect(rung.status).toBe(200);
    const { callLogId, sessionId } = rung.body as { callLogId: string; sessionId: string };
    const sessions = context.app.get(SessionsService);
    await sessions.appendMessage(sessionId, 'assistant', 'Namaste! How can I help?');
    await sessions.appendMessage(sessionId, 'user', 'Where is my order?');
    await report(callLogId, { CallSid: callSid, Status: 'in-progress', EventType: 'answered' });
    return { callLogId, callSid };
  }

  const storedCall = (callLogId: string) =>
    context.db.collection('calllogs').findOne({ _id: new ObjectId(callLogId) });

  beforeAll(async () => {
    fake = await startFakeExotel({ deliver });
    context = await createTestContext({
      COUNT_DATABASE_COMMANDS: 'true',
      EXOTEL_API_BASE_URL: fake.baseUrl,
    });
    line = await inboundLine(context);
  });

  afterAll(async () => {
    await context.redis.del(`user:token:${line.user.id}`, `calls:active:${line.user.id}`);
    await context.close();
    await fake.close();
  });

  it(`ends, prices, charges and counts a call in at most ${FINALIZATION_BUDGET} MongoDB commands`, async () => {
    const { callLogId, callSid } = await answeredCall();

    const { counts } = await report(callLogId, {
      CallSid: callSid,
      Status: 'completed',
      EventType: 'terminal',
      ConversationDuration: 95,
    });

    const stored = await storedCall(callLogId);
    expect(stored?.finalizedAt).toBeInstanceOf(Date);
    expect(stored?.billing).toMatchObject({ state: 'done', charged: 0.06 });
    expect(stored?.transcript).toBe('Agent: Namaste! How can I help?\nUser: Where is my order?');
    expect(counts.mongoTotal, breakdown(counts)).toBeLessThanOrEqual(FINALIZATION_BUDGET);
  });

  it(`spends at most ${STALE_EVENT_BUDGET} MongoDB command on a repeated or late status`, async () => {
    const { callLogId, callSid } = await answeredCall();
    await report(callLogId, {
      CallSid: callSid,
      Status: 'completed',
      EventType: 'terminal',
      ConversationDuration: 40,
    });
    expect((await storedCall(callLogId))?.finalizedAt).toBeInstanceOf(Date);

    const repeated = await report(callLogId, {
      CallSid: callSid,
      Status: 'completed',
      EventType: 'terminal',
      ConversationDuration: 40,
      DateUpdated: '2026-01-01 10:00:05',
    });
    const late = await report(callLogId, {
      CallSid: callSid,
      Status: 'ringing',
    });

    expect(repeated.counts.mongoTotal, breakdown(repeated.counts)).toBeLessThanOrEqual(
      STALE_EVENT_BUDGET,
    );
    expect(late.counts.mongoTotal, breakdown(late.counts)).toBeLessThanOrEqual(STALE_EVENT_BUDGET);
    expect((await storedCall(callLogId))?.status).toBe('completed');
  });

  it('keeps to the budget when calls of one agent end at once: the agent stats never conflict', async () => {
    const CALLS = 12;
    const answered = await Promise.all(Array.from({ length: CALLS }, () => answeredCall()));
    const agentId = (await storedCall(answered[0]?.callLogId ?? ''))?.agentId as ObjectId;
    const agentDocument = () => context.db.collection('agents').findOne({ _id: agentId });
    const before = (await agentDocument())?.stats as { totalCalls: number; totalDuration: number };

    const { counts } = await countCommands(context.app, async () => {
      const url = (callLogId: string) =>
        context.app.get(TelephonyService).statusCallbackUrl(callLogId);
      const delivered = await Promise.all(
        answered.map(({ callLogId, callSid }) =>
          fake.sendStatusCallback(url(callLogId), {
            CallSid: callSid,
            Status: 'completed',
            EventType: 'terminal',
            ConversationDuration: 30,
          }),
        ),
      );
      expect(delivered.every((response) => response.status === 200)).toBe(true);
      await waitForQueuesDrained(context.app, [Queues.callEvents]);
    });

    const agent = await agentDocument();
    expect(agent?.stats).toMatchObject({
      totalCalls: before.totalCalls + CALLS,
      totalDuration: before.totalDuration + CALLS * 30,
    });
    expect(agent?.pendingStatCallIds).toEqual(
      expect.arrayContaining(answered.map(({ callLogId }) => callLogId)),
    );
    for (const { callLogId } of answered) {
      expect((await storedCall(callLogId))?.billing).toMatchObject({ state: 'done' });
    }
    expect(counts.mongoTotal, breakdown(counts)).toBeLessThanOrEqual(CALLS * FINALIZATION_BUDGET);
  });
});
