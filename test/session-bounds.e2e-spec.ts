import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HISTORY_WINDOW,
  MAX_MESSAGE_CHARACTERS,
  MAX_TRANSCRIPT_CHARACTERS,
  SessionsService,
} from '../src/sessions/sessions.service.js';
import { TelephonyService } from '../src/telephony/telephony.service.js';
import { registerUser, type TestUser } from './support/factories.js';
import { call } from './support/http.js';
import { inboundLine, ring } from './support/inbound-line.js';
import { createTestContext, type TestContext } from './support/test-app.js';
import { waitFor } from './support/wait-for.js';

const TURNS = 1_000;

describe('a long call stays bounded in its documents', () => {
  let context: TestContext;
  let user: TestUser;
  let started: { sessionId: string; callLogId: string; callSid: string };

  beforeAll(async () => {
    context = await createTestContext();
    const line = await inboundLine(context, 100);
    user = line.user;
    const callSid = `CA${new ObjectId().toString()}`;
    const opened = await ring(context, line, callSid);
    expect(opened.status).toBe(200);
    started = { ...(opened.body as { sessionId: string; callLogId: string }), callSid };

    const sessions = context.app.get(SessionsService);
    for (let turn = 1; turn <= TURNS; turn += 1) {
      await sessions.appendMessage(
        started.sessionId,
        turn % 2 === 1 ? 'user' : 'assistant',
        `turn ${turn}: ${'words '.repeat(50)}`,
      );
    }
  }, 300_000);

  afterAll(async () => {
    await context.redis.del(`session:${started.sessionId}`, `user:token:${user.id}`);
    await context.close();
  });

  it(`keeps only the latest ${HISTORY_WINDOW} turns in the session and its cache entry`, async () => {
    const stored = await context.db
      .collection('sessions')
      .findOne({ sessionId: started.sessionId });
    const history = stored?.conversationHistory as Array<{ content: string }>;
    expect(history).toHaveLength(HISTORY_WINDOW);
    expect(history[0]?.content).toMatch(new RegExp(`^turn ${TURNS - HISTORY_WINDOW + 1}:`));
    expect(history.at(-1)?.content).toMatch(new RegExp(`^turn ${TURNS}:`));
    const cached = JSON.parse((await context.redis.get(`session:${started.sessionId}`)) ?? '{}');
    expect(cached.conversationHistory).toHaveLength(HISTORY_WINDOW);
  });

  it('keeps every turn, in order, readable page by page', async () => {
    expect(
      await context.db.collection('conversationturns').countDocuments({
        sessionId: started.sessionId,
      }),
    ).toBe(TURNS);
    const page = await call(context.app, 'GET', `/api/v1/sessions/${started.sessionId}/messages`, {
      token: user.token,
      query: { page: '6', limit: '100' },
    });
    expect(page.status).toBe(200);
    expect(page.body.meta).toEqual({ page: 6, limit: 100, total: TURNS });
    expect(page.body.data).toHaveLength(100);
    expect(page.body.data[0]).toMatchObject({
      role: 'user',
      content: expect.stringMatching(/^turn 501:/),
    });
    expect(Object.keys(page.body.data[0] as object).sort()).toEqual([
      'content',
      'role',
      'timestamp',
    ]);
  });

  it("hides another user's turns (404) and refuses a page beyond the list depth (400)", async () => {
    const stranger = await registerUser(context);
    const hidden = await call(
      context.app,
      'GET',
      `/api/v1/sessions/${started.sessionId}/messages`,
      { token: stranger.token },
    );
    expect(hidden.status).toBe(404);
    const deep = await call(context.app, 'GET', `/api/v1/sessions/${started.sessionId}/messages`, {
      token: user.token,
      query: { page: '102', limit: '100' },
    });
    expect(deep.status).toBe(400);
    expect(JSON.stringify(deep.body.message)).toContain('page');
    await context.redis.del(`user:token:${stranger.id}`);
  });

  it('cuts one oversized turn instead of storing it whole', async () => {
    const sessions = context.app.get(SessionsService);
    await sessions.appendMessage(started.sessionId, 'user', 'x'.repeat(3 * MAX_MESSAGE_CHARACTERS));
    const last = await context.db
      .collection('conversationturns')
      .find({ sessionId: started.sessionId })
      .sort({ _id: -1 })
      .limit(1)
      .next();
    expect(last?.content).toHaveLength(MAX_MESSAGE_CHARACTERS);
  });

  it('finalizes the call with a bounded transcript that says where it was cut', async () => {
    const url = new URL(context.app.get(TelephonyService).statusCallbackUrl(started.callLogId));
    const ended = await call(context.app, 'POST', `${url.pathname}${url.search}`, {
      body: { CallSid: started.callSid, Status: 'completed', ConversationDuration: 1800 },
    });
    expect(ended.status).toBe(200);
    const finalized = await waitFor(
      async () => {
        const stored = await context.db
          .collection('calllogs')
          .findOne({ _id: new ObjectId(started.callLogId) });
        return stored?.finalizedAt ? stored : undefined;
      },
      60_000,
      'the long call to be finalized',
    );
    const transcript = finalized.transcript as string;
    expect(transcript.length).toBeLessThanOrEqual(MAX_TRANSCRIPT_CHARACTERS + 100);
    expect(transcript.startsWith('User: turn 1:')).toBe(true);
    expect(transcript).toMatch(/\[transcript cut here: \d+ more turns\]$/);
    expect(finalized.billing).toMatchObject({ state: 'done' });
  });
});

describe('list depth', () => {
  let context: TestContext;
  let user: TestUser;

  beforeAll(async () => {
    context = await createTestContext();
    user = await registerUser(context);
  });
  afterAll(async () => {
    await context.redis.del(`user:token:${user.id}`);
    await context.close();
  });

  it.each([
    ['/api/v1/calls', { page: '102', limit: '100' }],
    ['/api/v1/calls', { page: '502' }],
    ['/api/v1/sessions', { page: '1000000', limit: '1' }],
    ['/api/v1/agents', { page: '10002', limit: '1' }],
  ])('refuses %s %o with 400 naming page', async (path, query) => {
    const response = await call(context.app, 'GET', path, { token: user.token, query });
    expect(response.status).toBe(400);
    expect(JSON.stringify(response.body.message)).toContain('page');
  });

  it.each([
    ['/api/v1/calls', { page: '101', limit: '100' }],
    ['/api/v1/agents', { page: '10001', limit: '1' }],
  ])('still serves the deepest allowed page of %s %o', async (path, query) => {
    const response = await call(context.app, 'GET', path, { token: user.token, query });
    expect(response.status).toBe(200);
    expect(response.body.data).toEqual([]);
  });
});
