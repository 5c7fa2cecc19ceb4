import type { INestApplicationContext } from '@nestjs/common';
import { ObjectId } from 'mongodb';
import { expect } from 'vitest';
import { CampaignClock } from '../../src/campaigns/campaign-clock.js';
import {
  CampaignDispatcher,
  type DispatchReport,
} from '../../src/campaigns/campaign-dispatcher.js';
import { Queues } from '../../src/infra/queue/queues.js';
import {
  createAgent,
  createPhone,
  randomIndianNumber,
  validAgentConfig,
} from './catalogue-factories.js';
import {
  type CallbackDeliverer,
  DEFAULT_FAKE_ACCOUNT,
  type FakeExotel,
  startFakeExotel,
} from './fake-exotel-server.js';
import { registerUser, setCredits, type TestUser } from './factories.js';
import { call, type CallResult } from './http.js';
import { createTestContext, type TestContext } from './test-app.js';
import { waitForQueuesDrained } from './wait-for-queue.js';

export const EXOTEL_CONFIG = {
  apiKey: DEFAULT_FAKE_ACCOUNT.apiKey,
  apiToken: DEFAULT_FAKE_ACCOUNT.apiToken,
  sid: DEFAULT_FAKE_ACCOUNT.sid,
  subdomain: 'api.in.exotel.com',
};

/** The queues a campaign call goes through, drained before asserting what did not happen. */
export const CAMPAIGN_QUEUES = [
  Queues.campaignDispatch,
  Queues.callPlacement,
  Queues.callEvents,
] as const;

/** A user ready for campaigns: Exotel credentials, credits, an agent and ExoPhones. */
export interface CampaignLine {
  user: TestUser;
  agentId: string;
  phoneIds: string[];
  phoneNumbers: string[];
}

/** Fixed time for the campaigns' clock (windows, due contacts); `undefined` = real time. */
export interface FakeClock {
  set(at: Date | undefined): void;
}

export interface CampaignRig {
  context: TestContext;
  fake: FakeExotel;
  clock: SharedFakeClock;
  newLine(options?: {
    credits?: number;
    phones?: number;
    agentConfig?: Record<string, unknown>;
  }): Promise<CampaignLine>;
  createCampaign(line: CampaignLine, body?: Record<string, unknown>): Promise<Record<string, any>>;
  addContacts(
    line: CampaignLine,
    campaignId: string,
    contacts: Array<{ phone: string; variables?: Record<string, string> }>,
  ): Promise<CallResult>;
  move(line: CampaignLine, campaignId: string, move: string): Promise<CallResult>;
  /** One dispatcher run on the given app (default: the rig's). */
  dispatch(on?: INestApplicationContext): Promise<DispatchReport>;
  contactsOf(campaignId: string): Promise<Array<Record<string, any>>>;
  campaignDoc(campaignId: string): Promise<Record<string, any> | null>;
  /** The calls placed with the fake Exotel to `number`. */
  connectsTo(number: string): number;
  close(): Promise<void>;
}

/** A clock for the campaigns of several apps: `set(at)` fixes their now, `set(undefined)` frees it. */
export interface SharedFakeClock extends FakeClock {
  /** Makes `app` follow this clock too (a peer instance). */
  attach(app: INestApplicationContext): void;
}

export function fakeClockOf(...apps: INestApplicationContext[]): SharedFakeClock {
  let fixed: Date | undefined;
  const attach = (app: INestApplicationContext): void => {
    app.get(CampaignClock).now = () => (fixed ? new Date(fixed) : new Date());
  };
  apps.forEach(attach);
  return {
    set(at) {
      fixed = at;
    },
    attach,
  };
}

/** An app with the fake Exotel (whose status callbacks go through the app's own stack). */
export async function startCampaignRig(
  environment: Record<string, string> = {},
): Promise<CampaignRig> {
  const receiver: { context?: TestContext } = {};
  const deliver: CallbackDeliverer = async (url, request) => {
    const target = new URL(url);
    if (!receiver.context) {
      throw new Error('no app yet');
    }
    const response = await receiver.context.app
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
  const fake = await startFakeExotel({ deliver });
  const ready = await createTestContext({
    EXOTEL_API_BASE_URL: fake.baseUrl,
    CALL_PLACEMENT_RETRY_DELAY_MS: '50',
    ...environment,
  });
  receiver.context = ready;
  const clock = fakeClockOf(ready.app);
  const userIds: string[] = [];

  return {
    context: ready,
    fake,
    clock,
    async newLine(options = {}) {
      const user = await registerUser(ready);
      userIds.push(user.id);
      await setCredits(ready, user.id, options.credits ?? 100);
      const configured = await call(ready.app, 'PUT', '/api/v1/users/me/exotel-config', {
        token: user.token,
        body: EXOTEL_CONFIG,
      });
      expect(configured.status).toBe(200);
      const agentId = (
        await createAgent(ready, user, {
          config: { ...validAgentConfig(), ...options.agentConfig },
        })
      ).id as string;
      const phoneIds: string[] = [];
      const phoneNumbers: string[] = [];
      for (let index = 0; index < (options.phones ?? 1); index += 1) {
        const number = randomIndianNumber();
        const phone = await createPhone(ready, user, {
          number,
          agentId,
          exotelData: { sid: `exophone-${index}`, appId: String(200_000 + index) },
        });
        phoneIds.push(phone.id as string);
        phoneNumbers.push(number);
      }
      return { user, agentId, phoneIds, phoneNumbers };
    },
    async createCampaign(line, body = {}) {
      const response = await call(ready.app, 'POST', '/api/v1/campaigns', {
        token: line.user.token,
        body: { name: 'Reminders', agentId: line.agentId, phoneIds: line.phoneIds, ...body },
      });
      expect(response.status, response.text).toBe(201);
      return response.body as Record<string, any>;
    },
    addContacts(line, campaignId, contacts) {
      return call(ready.app, 'POST', `/api/v1/campaigns/${campaignId}/contacts`, {
        token: line.user.token,
        body: { contacts },
      });
    },
    move(line, campaignId, move) {
      return call(ready.app, 'POST', `/api/v1/campaigns/${campaignId}/${move}`, {
        token: line.user.token,
      });
    },
    dispatch(on = ready.app) {
      return on.get(CampaignDispatcher).run();
    },
    async contactsOf(campaignId) {
      return ready.db
        .collection('campaigncontacts')
        .find({ campaignId: new ObjectId(campaignId) })
        .sort({ _id: 1 })
        .toArray();
    },
    campaignDoc(campaignId) {
      return ready.db.collection('campaigns').findOne({ _id: new ObjectId(campaignId) });
    },
    connectsTo(number) {
      return fake.requests.filter(
        (request) => request.path.endsWith('/Calls/connect.json') && request.form.From === number,
      ).length;
    },
    async close() {
      await waitForQueuesDrained(ready.app, CAMPAIGN_QUEUES).catch(() => undefined);
      const keys = userIds.flatMap((id) => [
        `ratelimit:calls:outbound:${id}`,
        `user:token:${id}`,
        `calls:active:${id}`,
      ]);
      if (keys.length > 0) {
        await ready.redis.del(...keys);
      }
      await ready.close();
      await fake.close();
    },
  };
}
