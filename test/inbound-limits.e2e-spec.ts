import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TelephonyService } from '../src/telephony/telephony.service.js';
import { call } from './support/http.js';
import { type InboundLine, inboundLine, ring } from './support/inbound-line.js';
import { createTestContext, type TestContext } from './support/test-app.js';
import { waitFor } from './support/wait-for.js';

const callsOf = (context: TestContext, line: InboundLine) =>
  context.db.collection('calllogs').countDocuments({ userId: new ObjectId(line.user.id) });

describe('inbound calls cannot be opened without bound', () => {
  describe('concurrent calls (MAX_CONCURRENT_CALLS=3)', () => {
    let context: TestContext;

    beforeAll(async () => {
      context = await createTestContext({ MAX_CONCURRENT_CALLS: '3' });
    });
    afterAll(async () => {
      await context.close();
    });

    it('answers exactly 3 of 10 simultaneous calls and refuses the rest with 429', async () => {
      const line = await inboundLine(context);

      const responses = await Promise.all(Array.from({ length: 10 }, () => ring(context, line)));

      expect(responses.filter((response) => response.status === 200)).toHaveLength(3);
      const refused = responses.filter((response) => response.status !== 200);
      expect(refused.map((response) => response.status)).toEqual(Array(7).fill(429));
      expect(refused[0]?.body.code).toBe('TELEPHONY_TOO_MANY_ACTIVE_CALLS');
      expect(await callsOf(context, line)).toBe(3);
    });

    it('takes no second slot for a repeated CallSid, and frees the slot when the call is finalized', async () => {
      const line = await inboundLine(context);
      const first = await ring(context, line, 'CA-repeated-1');
      expect((await ring(context, line, 'CA-repeated-1')).status).toBe(200);
      expect((await ring(context, line)).status).toBe(200);
      expect((await ring(context, line)).status).toBe(200);
      expect((await ring(context, line)).status).toBe(429);

      const callLogId = first.body.callLogId as string;
      const url = new URL(context.app.get(TelephonyService).statusCallbackUrl(callLogId));
      const ended = await call(context.app, 'POST', `${url.pathname}${url.search}`, {
        body: { CallSid: 'CA-repeated-1', Status: 'completed', ConversationDuration: 30 },
      });
      expect(ended.status).toBe(200);
      await waitFor(
        async () =>
          (await context.db.collection('calllogs').findOne({ _id: new ObjectId(callLogId) }))
            ?.finalizedAt
            ? true
            : undefined,
        20_000,
        'the first call to be finalized',
      );

      expect((await ring(context, line)).status).toBe(200);
      // A late repeat of the finished call takes no slot back.
      expect((await ring(context, line, 'CA-repeated-1')).status).toBe(200);
      expect((await ring(context, line)).status).toBe(429);
      expect(await callsOf(context, line)).toBe(4);
    });
  });

  describe('webhook rate and credits (INBOUND_CALLS_PER_MINUTE=3)', () => {
    let context: TestContext;

    beforeAll(async () => {
      context = await createTestContext({ INBOUND_CALLS_PER_MINUTE: '3' });
    });
    afterAll(async () => {
      await context.close();
    });

    it('refuses a fourth call in a minute on one token with 429 and opens nothing for it', async () => {
      const line = await inboundLine(context);
      for (let index = 0; index < 3; index += 1) {
        expect((await ring(context, line)).status).toBe(200);
      }

      const fourth = await ring(context, line);

      expect(fourth.status).toBe(429);
      expect(fourth.body.code).toBe('TELEPHONY_RATE_LIMITED');
      expect(await callsOf(context, line)).toBe(3);
      // Another user's token has its own allowance.
      expect((await ring(context, await inboundLine(context))).status).toBe(200);
    });

    it('refuses a call for a user without credits with 402 and opens nothing', async () => {
      const line = await inboundLine(context, 0);

      const response = await ring(context, line);

      expect(response.status).toBe(402);
      expect(response.body.code).toBe('TELEPHONY_NO_CREDITS');
      expect(await callsOf(context, line)).toBe(0);
      expect(
        await context.db
          .collection('sessions')
          .countDocuments({ userId: new ObjectId(line.user.id) }),
      ).toBe(0);
    });
  });
});
