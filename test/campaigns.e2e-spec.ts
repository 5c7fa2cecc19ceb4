import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attemptSessionId } from '../src/campaigns/campaign-dispatcher.js';
import { CallsService } from '../src/calls/calls.service.js';
import { randomIndianNumber } from './support/catalogue-factories.js';
import {
  CAMPAIGN_QUEUES,
  type CampaignLine,
  type CampaignRig,
  startCampaignRig,
} from './support/campaign-rig.js';
import { registerUser, setCredits } from './support/factories.js';
import { call } from './support/http.js';
import { createPeerApp } from './support/test-app.js';
import { waitFor } from './support/wait-for.js';
import { waitForQueuesDrained } from './support/wait-for-queue.js';

// Monday 7 December 2026; Asia/Kolkata is UTC+05:30, the default window 09:00-21:00 IST.
const BEFORE_HOURS = new Date('2026-12-07T02:00:00Z'); // 07:30 IST
const IN_HOURS = new Date('2026-12-07T05:00:00Z'); // 10:30 IST
const AFTER_HOURS = new Date('2026-12-07T16:00:00Z'); // 21:30 IST

describe('campaigns', () => {
  let rig: CampaignRig;

  beforeAll(async () => {
    rig = await startCampaignRig();
  });

  afterAll(async () => {
    rig.clock.set(undefined);
    await rig.close();
  });

  const contactByPhone = async (campaignId: string, phone: string) =>
    (await rig.contactsOf(campaignId)).find((contact) => contact.phone === phone);

  /** Waits for the contact's call to be placed with the fake Exotel; returns its CallSid. */
  const placedCallOf = (campaignId: string, phone: string) =>
    waitFor(
      async () => {
        const contact = await contactByPhone(campaignId, phone);
        if (contact?.state !== 'calling') {
          return undefined;
        }
        const log = await rig.context.db
          .collection('calllogs')
          .findOne({ _id: contact.callLogId as ObjectId });
        return log?.exotelCallSid ? (log.exotelCallSid as string) : undefined;
      },
      20_000,
      `the call to ${phone} to be placed`,
    );

  /** Ends the contact's current call at the fake Exotel and waits for the contact to follow. */
  const finish = async (
    campaignId: string,
    phone: string,
    status: 'completed' | 'no-answer' | 'busy' | 'failed',
  ) => {
    const before = await contactByPhone(campaignId, phone);
    const callSid = await placedCallOf(campaignId, phone);
    await rig.fake.finishCall(callSid, {
      status,
      conversationDuration: status === 'completed' ? 42 : 0,
    });
    return waitFor(
      async () => {
        const contact = await contactByPhone(campaignId, phone);
        return contact && contact.state !== 'calling' && contact.updatedAt > before?.updatedAt
          ? contact
          : undefined;
      },
      20_000,
      `contact ${phone} to follow its call`,
    );
  };

  const startedCampaign = async (
    line: CampaignLine,
    phones: string[],
    body: Record<string, unknown> = {},
  ) => {
    const campaign = await rig.createCampaign(line, body);
    const added = await rig.addContacts(
      line,
      campaign.id as string,
      phones.map((phone) => ({ phone })),
    );
    expect(added.status, added.text).toBe(200);
    const started = await rig.move(line, campaign.id as string, 'start');
    expect(started.status, started.text).toBe(200);
    await waitForQueuesDrained(rig.context.app, CAMPAIGN_QUEUES);
    return campaign.id as string;
  };

  describe('personalised calls (variables)', () => {
    it('refuses POST /calls with a 400 listing the placeholders without a value, and fills them otherwise', async () => {
      const line = await rig.newLine({
        agentConfig: {
          prompt: 'You remind {{ customerName }} that {{amount}} is due on {{dueDate}}.',
          firstMessage: 'Hello {{customerName}}!',
        },
      });
      const to = randomIndianNumber();
      const callsBefore = await rig.context.db.collection('calllogs').countDocuments();
      const refused = await call(rig.context.app, 'POST', '/api/v1/calls', {
        token: line.user.token,
        body: { phoneId: line.phoneIds[0], to, variables: { customerName: 'Asha' } },
      });
      expect(refused.status).toBe(400);
      expect(refused.body.code).toBe('CALL_VARIABLES_MISSING');
      expect(refused.body.missing).toEqual(['amount', 'dueDate']);
      expect(refused.body.message).toMatch(/\{\{amount\}\}, \{\{dueDate\}\}/);
      expect(await rig.context.db.collection('calllogs').countDocuments()).toBe(callsBefore);

      const badName = await call(rig.context.app, 'POST', '/api/v1/calls', {
        token: line.user.token,
        body: { phoneId: line.phoneIds[0], to, variables: { 'bad name': 'x' } },
      });
      expect(badName.status).toBe(400);
      const notString = await call(rig.context.app, 'POST', '/api/v1/calls', {
        token: line.user.token,
        body: { phoneId: line.phoneIds[0], to, variables: { amount: 5 } },
      });
      expect(notString.status).toBe(400);

      const placed = await call(rig.context.app, 'POST', '/api/v1/calls', {
        token: line.user.token,
        body: {
          phoneId: line.phoneIds[0],
          to,
          variables: { customerName: 'Asha', amount: '₹1,200', dueDate: '5 December' },
        },
      });
      expect(placed.status, placed.text).toBe(202);
      const session = await rig.context.db
        .collection('sessions')
        .findOne({ sessionId: placed.body.sessionId });
      expect(session?.agentConfig.prompt).toBe('You remind Asha that ₹1,200 is due on 5 December.');
      expect(session?.agentConfig.firstMessage).toBe('Hello Asha!');
      await placedCall(placed.body.id as string);
    });
  });

  /** Waits until the worker placed a plain call (so the test leaves no work behind). */
  const placedCall = (callLogId: string) =>
    waitFor(
      async () =>
        (await rig.context.db.collection('calllogs').findOne({ _id: new ObjectId(callLogId) }))
          ?.exotelCallSid,
      20_000,
      `call ${callLogId} to be placed`,
    );

  describe('a campaign end to end', () => {
    it('calls only inside its windows, retries a no-answer after the spacing, and completes', async () => {
      const line = await rig.newLine({ phones: 2 });
      const answers = randomIndianNumber();
      const missed = randomIndianNumber();
      rig.clock.set(BEFORE_HOURS);
      const campaignId = await startedCampaign(line, [answers, missed], {
        retry: { attempts: 1, on: ['no-answer'], spacingMinutes: 30 },
      });
      expect((await rig.campaignDoc(campaignId))?.status).toBe('running');

      // 07:30 IST: outside the window, nobody is called.
      expect((await rig.dispatch()).started).toBe(0);
      const closed = await call(rig.context.app, 'GET', `/api/v1/campaigns/${campaignId}`, {
        token: line.user.token,
      });
      expect(closed.body.progress).toMatchObject({
        windowOpen: false,
        nextWindowAt: '2026-12-07T03:30:00.000Z',
        inFlight: 0,
      });
      expect(rig.connectsTo(answers) + rig.connectsTo(missed)).toBe(0);

      rig.clock.set(IN_HOURS);
      expect((await rig.dispatch()).started).toBe(2);
      const answered = await finish(campaignId, answers, 'completed');
      expect(answered).toMatchObject({ state: 'completed', lastStatus: 'completed', attempts: 1 });
      const retried = await finish(campaignId, missed, 'no-answer');
      expect(retried).toMatchObject({ state: 'pending', lastStatus: 'no-answer', attempts: 1 });
      expect((retried.nextAttemptAt as Date).toISOString()).toBe('2026-12-07T05:30:00.000Z');

      // Not before the spacing has passed.
      expect((await rig.dispatch()).started).toBe(0);
      rig.clock.set(new Date('2026-12-07T05:31:00Z'));
      expect((await rig.dispatch()).started).toBe(1);
      const second = await finish(campaignId, missed, 'no-answer');
      // One retry allowed: the second no-answer is final.
      expect(second).toMatchObject({ state: 'failed', lastStatus: 'no-answer', attempts: 2 });

      const detail = await waitFor(
        async () => {
          const response = await call(rig.context.app, 'GET', `/api/v1/campaigns/${campaignId}`, {
            token: line.user.token,
          });
          return response.body.status === 'completed' ? response.body : undefined;
        },
        20_000,
        'the campaign to complete',
      );
      expect(detail.progress.counts).toMatchObject({ completed: 1, failed: 1, pending: 0 });
      expect(detail.progress.cost).toBeGreaterThan(0);
      expect(detail.progress.etaSeconds).toBe(0);
      expect(rig.connectsTo(answers)).toBe(1);
      expect(rig.connectsTo(missed)).toBe(2);

      // The calls carry the campaign and the contact, and were made from the campaign's numbers.
      const calls = await rig.context.db
        .collection('calllogs')
        .find({ campaignId: new ObjectId(campaignId) })
        .toArray();
      expect(calls).toHaveLength(3);
      for (const log of calls) {
        expect(line.phoneNumbers).toContain(log.fromPhone);
        expect(log.contactId).toBeInstanceOf(ObjectId);
      }
      const listed = await call(
        rig.context.app,
        'GET',
        `/api/v1/campaigns/${campaignId}/contacts?state=failed`,
        { token: line.user.token },
      );
      expect(listed.status).toBe(200);
      expect(listed.body.data.map((contact: { phone: string }) => contact.phone)).toEqual([missed]);

      const exported = await call(
        rig.context.app,
        'GET',
        `/api/v1/campaigns/${campaignId}/export`,
        {
          token: line.user.token,
        },
      );
      expect(exported.status).toBe(200);
      expect(exported.headers['content-type']).toMatch(/^text\/csv/);
      const lines = exported.text.trim().split('\n');
      expect(lines[0]).toBe(
        'phone,state,attempts,last_status,last_error,cost,call_id,finished_at,row,variables',
      );
      expect(lines.slice(1).map((row) => row.split(',').slice(0, 4).join(','))).toEqual([
        `${answers},completed,1,completed`,
        `${missed},failed,2,no-answer`,
      ]);
      rig.clock.set(AFTER_HOURS);
    });

    it('never has more calls in flight than maxConcurrentCalls', async () => {
      const line = await rig.newLine();
      rig.clock.set(IN_HOURS);
      const phones = Array.from({ length: 5 }, () => randomIndianNumber());
      const campaignId = await startedCampaign(line, phones, { maxConcurrentCalls: 2 });
      expect((await rig.dispatch()).started).toBe(2);
      expect((await rig.dispatch()).started).toBe(0);
      const calling = (await rig.contactsOf(campaignId)).filter(
        (contact) => contact.state === 'calling',
      );
      expect(calling).toHaveLength(2);
      await finish(campaignId, calling[0]?.phone as string, 'completed');
      expect((await rig.dispatch()).started).toBe(1);
      const detail = await call(rig.context.app, 'GET', `/api/v1/campaigns/${campaignId}`, {
        token: line.user.token,
      });
      expect(detail.body.progress.inFlight).toBe(2);
      expect(detail.body.progress.counts).toMatchObject({ completed: 1, calling: 2, pending: 2 });
      await rig.move(line, campaignId, 'cancel');
    });
  });

  describe('lifecycle', () => {
    it('pause stops new calls, resume starts them again, cancel ends the waiting contacts', async () => {
      const line = await rig.newLine();
      rig.clock.set(IN_HOURS);
      const phones = Array.from({ length: 3 }, () => randomIndianNumber());
      const campaign = await rig.createCampaign(line, { maxConcurrentCalls: 1 });
      const campaignId = campaign.id as string;
      expect(campaign.status).toBe('draft');
      // Nothing to call yet: it cannot start.
      const empty = await rig.move(line, campaignId, 'start');
      expect(empty.status).toBe(409);
      expect(empty.body.code).toBe('CAMPAIGN_NO_CONTACTS');
      expect((await rig.move(line, campaignId, 'pause')).status).toBe(409);
      await rig.addContacts(
        line,
        campaignId,
        phones.map((phone) => ({ phone })),
      );
      expect((await rig.move(line, campaignId, 'start')).body.status).toBe('running');
      await waitForQueuesDrained(rig.context.app, CAMPAIGN_QUEUES);
      expect((await rig.move(line, campaignId, 'start')).status).toBe(409);

      const paused = await rig.move(line, campaignId, 'pause');
      expect(paused.status).toBe(200);
      expect(paused.body.status).toBe('paused');
      const calledBefore = phones.map((phone) => rig.connectsTo(phone));
      expect((await rig.dispatch()).started).toBe(0);
      await waitForQueuesDrained(rig.context.app, CAMPAIGN_QUEUES);
      expect(phones.map((phone) => rig.connectsTo(phone))).toEqual(calledBefore);

      const resumed = await rig.move(line, campaignId, 'resume');
      expect(resumed.body.status).toBe('running');
      await waitForQueuesDrained(rig.context.app, CAMPAIGN_QUEUES);
      await rig.dispatch();
      const inFlight = (await rig.contactsOf(campaignId)).filter(
        (contact) => contact.state === 'calling',
      );
      expect(inFlight).toHaveLength(1);

      const canceled = await rig.move(line, campaignId, 'cancel');
      expect(canceled.body.status).toBe('canceled');
      expect((await rig.move(line, campaignId, 'resume')).status).toBe(409);
      // The call under way finishes; the others never start.
      const ended = await finish(campaignId, inFlight[0]?.phone as string, 'no-answer');
      // It would have been retried: the campaign's end ends it instead.
      expect(ended).toMatchObject({ state: 'canceled', lastStatus: 'no-answer' });
      expect((await rig.dispatch()).started).toBe(0);
      const states = (await rig.contactsOf(campaignId)).map((contact) => contact.state).sort();
      expect(states).toEqual(['canceled', 'canceled', 'canceled']);
      const more = await rig.addContacts(line, campaignId, [{ phone: randomIndianNumber() }]);
      expect(more.status).toBe(409);
      expect(more.body.code).toBe('CAMPAIGN_ENDED');
    });

    it('pauses every campaign of a user whose credits ran out, with the reason, and calls nobody', async () => {
      const line = await rig.newLine();
      rig.clock.set(IN_HOURS);
      const phone = randomIndianNumber();
      await setCredits(rig.context, line.user.id, 0);
      const campaignId = await startedCampaign(line, [phone]);
      expect((await rig.dispatch()).started).toBe(0);
      const campaign = await call(rig.context.app, 'GET', `/api/v1/campaigns/${campaignId}`, {
        token: line.user.token,
      });
      expect(campaign.body.status).toBe('paused');
      expect(campaign.body.statusReason.code).toBe('CREDITS_EXHAUSTED');
      const [contact] = await rig.contactsOf(campaignId);
      expect(contact).toMatchObject({ state: 'pending', attempts: 0 });
      expect(rig.connectsTo(phone)).toBe(0);

      await setCredits(rig.context, line.user.id, 50);
      expect((await rig.move(line, campaignId, 'resume')).body.statusReason).toBeNull();
      await waitForQueuesDrained(rig.context.app, CAMPAIGN_QUEUES);
      await rig.dispatch();
      await finish(campaignId, phone, 'completed');
      expect(rig.connectsTo(phone)).toBe(1);
    });
  });

  describe('do-not-call list', () => {
    it('skips a number added while the campaign runs', async () => {
      const line = await rig.newLine();
      rig.clock.set(IN_HOURS);
      const first = randomIndianNumber();
      const blocked = randomIndianNumber();
      const campaignId = await startedCampaign(line, [first, blocked], {
        maxConcurrentCalls: 1,
      });
      await rig.dispatch();
      const listed = await call(rig.context.app, 'POST', '/api/v1/dnc', {
        token: line.user.token,
        body: { phones: [blocked], reason: 'asked not to be called' },
      });
      expect(listed.status).toBe(200);
      expect(listed.body).toMatchObject({ added: 1, contactsBlocked: 1 });
      await finish(campaignId, first, 'completed');
      expect((await rig.dispatch()).started).toBe(0);
      expect(await contactByPhone(campaignId, blocked)).toMatchObject({ state: 'blocked' });
      expect(rig.connectsTo(blocked)).toBe(0);
    });
  });

  describe('dispatchers racing', () => {
    let peer: NestFastifyApplication;

    beforeAll(async () => {
      peer = await createPeerApp(rig.context);
      rig.clock.attach(peer);
    });

    afterAll(async () => {
      await peer.close();
    });

    it('two dispatchers at once call each contact exactly once', async () => {
      const line = await rig.newLine();
      rig.clock.set(IN_HOURS);
      const phones = Array.from({ length: 12 }, () => randomIndianNumber());
      const campaignId = await startedCampaign(line, phones, { maxConcurrentCalls: 12 });
      const [one, two] = await Promise.all([rig.dispatch(), rig.dispatch(peer)]);
      expect(one.started + two.started).toBe(12);
      await waitForQueuesDrained(rig.context.app, CAMPAIGN_QUEUES);
      for (const phone of phones) {
        await placedCallOf(campaignId, phone);
        expect(rig.connectsTo(phone)).toBe(1);
      }
      const logs = await rig.context.db
        .collection('calllogs')
        .countDocuments({ campaignId: new ObjectId(campaignId) });
      expect(logs).toBe(12);
      await rig.move(line, campaignId, 'cancel');
    });

    it('takes over the claim of a dispatcher that died, without calling twice', async () => {
      const line = await rig.newLine();
      rig.clock.set(IN_HOURS);
      const beforeCall = randomIndianNumber();
      const afterCall = randomIndianNumber();
      const campaignId = await startedCampaign(line, [beforeCall, afterCall], {
        maxConcurrentCalls: 5,
      });
      const contacts = rig.context.db.collection('campaigncontacts');
      const stale = new Date(IN_HOURS.getTime() - 10 * 60_000);
      // One died right after claiming; the other after recording its call, before marking it.
      for (const phone of [beforeCall, afterCall]) {
        await contacts.updateOne(
          { campaignId: new ObjectId(campaignId), phone },
          {
            $set: { state: 'dialing', claim: { token: `dead-${phone}`, at: stale } },
            $inc: { attempts: 1 },
          },
        );
      }
      const dead = await contactByPhone(campaignId, afterCall);
      const recorded = await rig.context.app.get(CallsService).placeCampaignCall(line.user.id, {
        sessionId: attemptSessionId(dead?._id as ObjectId, 1),
        phoneId: line.phoneIds[0] as string,
        agentId: line.agentId,
        to: afterCall,
        campaignId: new ObjectId(campaignId),
        contactId: dead?._id as ObjectId,
      });

      const report = await rig.dispatch();
      expect(report.recovered).toBe(2);
      await waitForQueuesDrained(rig.context.app, CAMPAIGN_QUEUES);
      await placedCallOf(campaignId, beforeCall);
      await placedCallOf(campaignId, afterCall);
      expect(await contactByPhone(campaignId, afterCall)).toMatchObject({
        state: 'calling',
        attempts: 1,
        callLogId: recorded._id,
      });
      expect(rig.connectsTo(beforeCall)).toBe(1);
      expect(rig.connectsTo(afterCall)).toBe(1);
      await rig.move(line, campaignId, 'cancel');
    });
  });

  describe('input and tenancy', () => {
    it('refuses invalid campaigns and changes nothing', async () => {
      const line = await rig.newLine();
      const before = await rig.context.db.collection('campaigns').countDocuments();
      const cases: Array<Record<string, unknown>> = [
        { name: 'x', agentId: line.agentId, phoneIds: [] },
        { name: 'x', agentId: 'nope', phoneIds: line.phoneIds },
        {
          name: 'x',
          agentId: line.agentId,
          phoneIds: line.phoneIds,
          schedule: { timezone: 'Mars/Base' },
        },
        {
          name: 'x',
          agentId: line.agentId,
          phoneIds: line.phoneIds,
          schedule: { windows: [{ from: '21:00', to: '09:00' }] },
        },
        { name: 'x', agentId: line.agentId, phoneIds: line.phoneIds, maxConcurrentCalls: 0 },
        { name: 'x', agentId: line.agentId, phoneIds: line.phoneIds, retry: { on: ['completed'] } },
        { name: 'x', agentId: line.agentId, phoneIds: line.phoneIds, surprise: true },
      ];
      for (const body of cases) {
        const response = await call(rig.context.app, 'POST', '/api/v1/campaigns', {
          token: line.user.token,
          body,
        });
        expect(response.status, JSON.stringify(body)).toBe(400);
      }
      expect(await rig.context.db.collection('campaigns').countDocuments()).toBe(before);
    });

    it("keeps a user's campaigns and do-not-call list from every other user", async () => {
      const owner = await rig.newLine();
      const other = await rig.newLine();
      const campaign = await rig.createCampaign(owner);
      const id = campaign.id as string;
      for (const [method, path] of [
        ['GET', `/api/v1/campaigns/${id}`],
        ['GET', `/api/v1/campaigns/${id}/contacts`],
        ['GET', `/api/v1/campaigns/${id}/export`],
        ['POST', `/api/v1/campaigns/${id}/start`],
        ['POST', `/api/v1/campaigns/${id}/cancel`],
      ] as const) {
        const response = await call(rig.context.app, method, path, { token: other.user.token });
        expect(response.status, path).toBe(404);
      }
      const added = await rig.addContacts(other, id, [{ phone: randomIndianNumber() }]);
      expect(added.status).toBe(404);
      // Someone else's agent and phones are not usable either.
      const borrowed = await call(rig.context.app, 'POST', '/api/v1/campaigns', {
        token: other.user.token,
        body: { name: 'x', agentId: owner.agentId, phoneIds: other.phoneIds },
      });
      expect(borrowed.status).toBe(404);
      const listed = await call(rig.context.app, 'GET', '/api/v1/campaigns', {
        token: other.user.token,
      });
      expect(listed.body.data.map((item: { id: string }) => item.id)).not.toContain(id);
      expect((await rig.campaignDoc(id))?.status).toBe('draft');

      const stranger = await registerUser(rig.context);
      const dnc = await call(rig.context.app, 'POST', '/api/v1/dnc', {
        token: owner.user.token,
        body: { phones: ['+919812345678'] },
      });
      expect(dnc.status).toBe(200);
      const theirs = await call(rig.context.app, 'GET', '/api/v1/dnc', { token: stranger.token });
      expect(theirs.body.meta.total).toBe(0);
      const removeTheirs = await call(rig.context.app, 'DELETE', '/api/v1/dnc/%2B919812345678', {
        token: stranger.token,
      });
      expect(removeTheirs.status).toBe(404);
      const mine = await call(rig.context.app, 'GET', '/api/v1/dnc', { token: owner.user.token });
      expect(mine.body.data.map((entry: { phone: string }) => entry.phone)).toEqual([
        '+919812345678',
      ]);
    });
  });
});
