import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallsService } from '../src/calls/calls.service.js';
import { RedisKeys } from '../src/infra/redis/redis-keys.js';
import { randomIndianNumber } from './support/catalogue-factories.js';
import {
  CAMPAIGN_QUEUES,
  type CampaignLine,
  type CampaignRig,
  EXOTEL_CONFIG,
  startCampaignRig,
} from './support/campaign-rig.js';
import { call } from './support/http.js';
import { waitFor } from './support/wait-for.js';
import { waitForQueuesDrained } from './support/wait-for-queue.js';
import {
  type ReceivedWebhook,
  startWebhookReceiver,
  type WebhookReceiver,
} from './support/webhook-receiver.js';

const IN_HOURS = new Date('2026-12-08T06:00:00Z'); // Tuesday 11:30 IST

const contactsFor = (count: number) =>
  Array.from({ length: count }, () => ({ phone: randomIndianNumber() }));

async function started(
  rig: CampaignRig,
  line: CampaignLine,
  contacts: number,
  body: Record<string, unknown> = {},
): Promise<string> {
  const campaign = await rig.createCampaign(line, { maxConcurrentCalls: 50, ...body });
  const id = campaign.id as string;
  expect((await rig.addContacts(line, id, contactsFor(contacts))).status).toBe(200);
  expect((await rig.move(line, id, 'start')).status).toBe(200);
  return id;
}

const callsOf = async (rig: CampaignRig, campaignId: string) =>
  rig.context.db.collection('calllogs').countDocuments({ campaignId: new ObjectId(campaignId) });

describe('campaign dispatch: fairness and pace', () => {
  let rig: CampaignRig;

  beforeAll(async () => {
    rig = await startCampaignRig({ CAMPAIGN_MAX_STARTS_PER_RUN: '6' });
    rig.clock.set(IN_HOURS);
  });

  afterAll(async () => {
    await rig.close();
  });

  it('takes users in turn, and each user’s campaigns in turn', async () => {
    const busy = await rig.newLine();
    const quiet = await rig.newLine();
    const busyFirst = await started(rig, busy, 10);
    const busySecond = await started(rig, busy, 10);
    const quietOnly = await started(rig, quiet, 10);
    const report = await rig.dispatch();
    expect(report.started).toBe(6);
    // Three starts each for the two users; the busy user's split between its campaigns.
    expect(await callsOf(rig, quietOnly)).toBe(3);
    expect((await callsOf(rig, busyFirst)) + (await callsOf(rig, busySecond))).toBe(3);
    expect(Math.abs((await callsOf(rig, busyFirst)) - (await callsOf(rig, busySecond)))).toBe(1);
    for (const [line, id] of [
      [busy, busyFirst],
      [busy, busySecond],
      [quiet, quietOnly],
    ] as const) {
      await rig.move(line, id, 'cancel');
    }
    await waitForQueuesDrained(rig.context.app, CAMPAIGN_QUEUES);
  });

  it('stops starting calls the moment the window closes, even in the middle of a run', async () => {
    const line = await rig.newLine();
    // 20:59 IST, one minute before the default window closes.
    const beforeClose = new Date('2026-12-08T15:29:00Z');
    rig.clock.set(beforeClose);
    const campaignId = await started(rig, line, 4, { maxConcurrentCalls: 10 });
    // The clock passes 21:00 IST once two calls were recorded.
    const calls = rig.context.app.get(CallsService);
    const place = calls.placeCampaignCall.bind(calls);
    let placed = 0;
    calls.placeCampaignCall = async (...args) => {
      const log = await place(...args);
      placed += 1;
      if (placed === 2) {
        rig.clock.set(new Date('2026-12-08T15:30:00Z'));
      }
      return log;
    };
    try {
      expect((await rig.dispatch()).started).toBe(2);
    } finally {
      calls.placeCampaignCall = place;
      rig.clock.set(IN_HOURS);
    }
    const states = (await rig.contactsOf(campaignId)).map((contact) => contact.state).sort();
    expect(states).toEqual(['calling', 'calling', 'pending', 'pending']);
    await rig.move(line, campaignId, 'cancel');
    await waitForQueuesDrained(rig.context.app, CAMPAIGN_QUEUES);
  });
});

describe('campaign dispatch: the Exotel budget', () => {
  let rig: CampaignRig;

  beforeAll(async () => {
    rig = await startCampaignRig({ CAMPAIGN_CALLS_PER_MINUTE: '4' });
    rig.clock.set(IN_HOURS);
    // The fake account is shared with other test files: start from an empty minute.
    await rig.context.redis.del(RedisKeys.rateLimit('campaign-calls', EXOTEL_CONFIG.sid));
  });

  afterAll(async () => {
    await rig.context.redis.del(RedisKeys.rateLimit('campaign-calls', EXOTEL_CONFIG.sid));
    await rig.close();
  });

  it('starts no more calls per minute than CAMPAIGN_CALLS_PER_MINUTE, across campaigns', async () => {
    const line = await rig.newLine();
    const first = await started(rig, line, 5);
    const second = await started(rig, line, 5);
    expect((await rig.dispatch()).started).toBe(4);
    expect((await rig.dispatch()).started).toBe(0);
    expect((await callsOf(rig, first)) + (await callsOf(rig, second))).toBe(4);
    await rig.move(line, first, 'cancel');
    await rig.move(line, second, 'cancel');
    await waitForQueuesDrained(rig.context.app, CAMPAIGN_QUEUES);
  });
});

describe("campaign dispatch: the user's limit and the campaign's end", () => {
  let rig: CampaignRig;

  beforeAll(async () => {
    rig = await startCampaignRig({ MAX_CONCURRENT_CALLS: '2' });
    rig.clock.set(IN_HOURS);
  });

  afterAll(async () => {
    await rig.close();
  });

  it("never has more of a user's calls at once than MAX_CONCURRENT_CALLS, whatever the campaigns allow", async () => {
    const line = await rig.newLine();
    const campaignId = await started(rig, line, 4, { maxConcurrentCalls: 10 });
    expect((await rig.dispatch()).started).toBe(2);
    expect((await rig.dispatch()).started).toBe(0);
    const states = (await rig.contactsOf(campaignId)).map((contact) => contact.state).sort();
    // The refused ones are back in line, their attempt not counted.
    expect(states).toEqual(['calling', 'calling', 'pending', 'pending']);
    const pending = (await rig.contactsOf(campaignId)).filter(
      (contact) => contact.state === 'pending',
    );
    expect(pending.map((contact) => contact.attempts)).toEqual([0, 0]);
    await rig.move(line, campaignId, 'cancel');
    await waitForQueuesDrained(rig.context.app, CAMPAIGN_QUEUES);
  });

  it('expires the contacts still waiting at endAt and completes the campaign', async () => {
    const line = await rig.newLine();
    rig.clock.set(new Date(IN_HOURS.getTime() - 3_600_000));
    const campaignId = await started(rig, line, 2, {
      schedule: { endAt: new Date(IN_HOURS.getTime() - 60_000).toISOString() },
    });
    rig.clock.set(IN_HOURS);
    const report = await rig.dispatch();
    expect(report.started).toBe(0);
    expect(report.campaignsCompleted).toBe(1);
    const states = (await rig.contactsOf(campaignId)).map((contact) => contact.state);
    expect(states).toEqual(['expired', 'expired']);
    expect((await rig.campaignDoc(campaignId))?.status).toBe('completed');
  });
});

describe('campaign webhooks', () => {
  let rig: CampaignRig;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    rig = await startCampaignRig({
      WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true',
      WEBHOOK_RETRY_BASE_MS: '40',
    });
    rig.clock.set(IN_HOURS);
  });

  afterAll(async () => {
    await rig.close();
    await receiver.close();
  });

  it('sends campaign.status on each move, campaign.completed with the counts, and call events with the campaign and contact', async () => {
    const line = await rig.newLine();
    const created = await call(rig.context.app, 'POST', '/api/v1/webhooks/endpoints', {
      token: line.user.token,
      body: {
        url: `${receiver.url}/campaigns`,
        events: ['campaign.status', 'campaign.completed', 'call.status'],
      },
    });
    expect(created.status, created.text).toBe(201);
    const campaignId = await started(rig, line, 1);
    await rig.dispatch();
    const [contact] = await rig.contactsOf(campaignId);
    const callSid = await waitFor(
      async () => {
        const log = await rig.context.db
          .collection('calllogs')
          .findOne({ campaignId: new ObjectId(campaignId) });
        return log?.exotelCallSid as string | undefined;
      },
      20_000,
      'the call to be placed',
    );
    await rig.fake.finishCall(callSid, { status: 'completed', conversationDuration: 30 });
    const body = (webhook: ReceivedWebhook) => webhook.json as Record<string, any>;
    const ofCampaign = () =>
      receiver.received.filter((webhook) => webhook.path === '/campaigns').map(body);
    const events = await waitFor(
      () => {
        const all = ofCampaign();
        return Promise.resolve(
          all.some((event) => event.type === 'campaign.completed') &&
            all.some(
              (event) => event.type === 'call.status' && event.data.call.status === 'completed',
            )
            ? all
            : undefined,
        );
      },
      20_000,
      'the campaign and call events',
    );
    const campaignEvents = events.filter((event) => String(event.type).startsWith('campaign.'));
    expect(
      campaignEvents.map((event) => [event.type, event.data.campaign.status, event.sequence]),
    ).toEqual([
      ['campaign.status', 'running', 1],
      ['campaign.status', 'completed', 2],
      ['campaign.completed', 'completed', 3],
    ]);
    const completed = campaignEvents.at(-1);
    expect(completed?.data.campaign.id).toBe(campaignId);
    expect(completed?.data.counts).toMatchObject({ completed: 1 });
    const callEvents = events.filter((event) => event.type === 'call.status');
    expect(callEvents.length).toBeGreaterThan(0);
    for (const event of callEvents) {
      expect(event.data.call.campaignId).toBe(campaignId);
      expect(event.data.call.contactId).toBe(String(contact?._id));
    }
    // Each event once, whatever the runs that followed.
    await rig.dispatch();
    await waitForQueuesDrained(rig.context.app, CAMPAIGN_QUEUES);
    const ids = ofCampaign().map((event) => event.id as string);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
