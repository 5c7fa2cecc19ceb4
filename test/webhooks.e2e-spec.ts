import { ObjectId } from 'mongodb';
import { Types } from 'mongoose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CallLifecycleService } from '../src/calls/call-lifecycle.service.js';
import { CallLogsRepository } from '../src/calls/call-logs.repository.js';
import { CallWebhookEvents } from '../src/webhooks/call-webhook-events.js';
import { verifyWebhook } from '../src/webhooks/delivery/webhook-signature.js';
import { WebhookSweepService } from '../src/webhooks/webhook-sweep.service.js';
import { createAgent, validAgentConfig } from './support/catalogue-factories.js';
import type { FakeExotelMediaClient } from './support/fake-exotel-media-client.js';
import type { RecordedOpenAiRequest } from './support/fake-openai-server.js';
import { registerUser, type TestUser } from './support/factories.js';
import { call, type Method } from './support/http.js';
import { createTestContext, type TestContext } from './support/test-app.js';
import {
  connectCaller,
  type InboundLine,
  type LiveCall,
  prepareInboundLine,
  ringInboundLine,
  startVoiceRig,
  type VoiceRig,
} from './support/voice-rig.js';
import { waitFor } from './support/wait-for.js';
import {
  type ReceivedWebhook,
  startWebhookReceiver,
  type WebhookReceiver,
} from './support/webhook-receiver.js';

const ALL_EVENTS = ['call.status', 'call.ended', 'call.analyzed', 'transcript.message'];
const MAX_ATTEMPTS = 3;

interface Endpoint {
  id: string;
  secret: string;
  path: string;
}

function bodyOf(request: ReceivedWebhook): Record<string, any> {
  return request.json as Record<string, any>;
}

describe('customer webhooks', () => {
  let rig: VoiceRig;
  let receiver: WebhookReceiver;
  const callers: FakeExotelMediaClient[] = [];

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    rig = await startVoiceRig({
      WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true',
      WEBHOOK_RETRY_BASE_MS: '40',
      WEBHOOK_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
      WEBHOOK_TIMEOUT_MS: '400',
      WEBHOOK_MAX_ENDPOINTS_PER_USER: '3',
    });
  });

  afterAll(async () => {
    await rig.close();
    await receiver.close();
  });

  afterEach(async () => {
    for (const caller of callers.splice(0)) {
      await caller.stop();
    }
  });

  const api = (
    method: Method,
    path: string,
    user: TestUser,
    body?: unknown,
    query?: Record<string, string>,
  ) => call(rig.context.app, method, `/api/v1${path}`, { token: user.token, body, query });

  let pathCounter = 0;
  async function addEndpoint(
    user: TestUser,
    events: string[] = ALL_EVENTS,
    extra: Record<string, unknown> = {},
  ): Promise<Endpoint> {
    pathCounter += 1;
    const path = `/hook-${pathCounter}`;
    const created = await api('POST', '/webhooks/endpoints', user, {
      url: `${receiver.url}${path}`,
      events,
      ...extra,
    });
    expect(created.status, created.text).toBe(201);
    return { id: created.body.id as string, secret: created.body.secret as string, path };
  }

  const at = (path: string) => (request: ReceivedWebhook) => request.path === path;
  const received = (path: string) => receiver.received.filter(at(path));

  function verified(request: ReceivedWebhook, secret: string): boolean {
    return verifyWebhook(
      secret,
      { id: request.id, timestamp: request.timestamp, signature: request.signature },
      request.body,
    );
  }

  function deliveries(user: TestUser, query: Record<string, string> = {}) {
    return api('GET', '/webhooks/deliveries', user, undefined, query);
  }

  async function settledDeliveries(user: TestUser, endpointId: string, count: number) {
    return waitFor(
      async () => {
        const page = await deliveries(user, { endpointId });
        const data = page.body.data as Array<Record<string, any>>;
        return data.length >= count && data.every((entry) => entry.status !== 'pending')
          ? data
          : undefined;
      },
      15_000,
      `${count} settled deliveries`,
    );
  }

  /** A call.status event on a call of the user's agent, recorded and announced as the call paths do. */
  async function raiseStatusEvent(user: TestUser, agentId: string): Promise<string> {
    const callLogs = rig.context.app.get(CallLogsRepository);
    const events = rig.context.app.get(CallWebhookEvents);
    const subject = { userId: user.id, agentId };
    const event = await events.status(subject, 'initiated', new Date());
    expect(event).toBeDefined();
    const created = await callLogs.create({
      sessionId: `sess_${new ObjectId().toString()}`,
      userId: new Types.ObjectId(user.id),
      agentId: new Types.ObjectId(agentId),
      fromPhone: '+919800000001',
      toPhone: '+919800000002',
      direction: 'outbound',
      status: 'initiated',
      webhookEvent: event,
    });
    if (event) {
      await events.announce(created._id, event);
    }
    return `evt_${event?.eventId.toString() ?? ''}`;
  }

  describe('endpoints', () => {
    it('creates an endpoint whose secret is shown once, lists, updates and deletes it', async () => {
      const user = await registerUser(rig.context);
      const created = await api('POST', '/webhooks/endpoints', user, {
        url: `${receiver.url}/crud`,
        events: ['call.status', 'call.ended'],
        description: 'CRM sync',
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        url: `${receiver.url}/crud`,
        events: ['call.status', 'call.ended'],
        description: 'CRM sync',
        enabled: true,
        agentIds: null,
      });
      expect(created.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
      const id = created.body.id as string;

      const read = await api('GET', `/webhooks/endpoints/${id}`, user);
      expect(read.status).toBe(200);
      expect(read.body).not.toHaveProperty('secret');
      const stored = await rig.context.db
        .collection('webhookendpoints')
        .findOne({ _id: new ObjectId(id) });
      // Sealed at rest: the plaintext secret is nowhere in the document.
      expect(JSON.stringify(stored)).not.toContain((created.body.secret as string).slice(6));

      const listed = await api('GET', '/webhooks/endpoints', user);
      expect(listed.body.meta.total).toBe(1);
      expect(listed.body.data[0]).not.toHaveProperty('secret');

      const patched = await api('PATCH', `/webhooks/endpoints/${id}`, user, {
        events: ['call.ended'],
        enabled: false,
      });
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({ events: ['call.ended'], enabled: false });

      expect((await api('DELETE', `/webhooks/endpoints/${id}`, user)).status).toBe(204);
      expect((await api('GET', `/webhooks/endpoints/${id}`, user)).status).toBe(404);
    });

    it.each([
      ['no events', { url: 'http://127.0.0.1:9/x', events: [] }],
      ['an unknown event', { url: 'http://127.0.0.1:9/x', events: ['call.deleted'] }],
      ['a relative URL', { url: '/hooks', events: ['call.status'] }],
      ['an ftp URL', { url: 'ftp://127.0.0.1/x', events: ['call.status'] }],
      ['credentials in the URL', { url: 'http://user:pw@127.0.0.1:9/x', events: ['call.status'] }],
      [
        'a URL over 2048 characters',
        { url: `http://127.0.0.1:9/${'a'.repeat(2048)}`, events: ['call.status'] },
      ],
      [
        'an unknown field',
        { url: 'http://127.0.0.1:9/x', events: ['call.status'], secret: 'mine' },
      ],
      [
        'a malformed agent id',
        { url: 'http://127.0.0.1:9/x', events: ['call.status'], agentIds: ['x'] },
      ],
    ])('refuses %s with 400 and stores nothing', async (_case, body) => {
      const user = await registerUser(rig.context);
      const refused = await api('POST', '/webhooks/endpoints', user, body);
      expect(refused.status).toBe(400);
      expect((await api('GET', '/webhooks/endpoints', user)).body.meta.total).toBe(0);
    });

    it("refuses another user's agent in the filter, and more endpoints than the limit", async () => {
      const owner = await registerUser(rig.context);
      const other = await registerUser(rig.context);
      const foreign = await createAgent(rig.context, other, { config: validAgentConfig() });
      const refused = await api('POST', '/webhooks/endpoints', owner, {
        url: `${receiver.url}/x`,
        events: ['call.status'],
        agentIds: [foreign.id],
      });
      expect(refused.status).toBe(400);
      expect(refused.body.message).toContain('agentIds');
      for (let index = 0; index < 3; index += 1) {
        await addEndpoint(owner, ['call.status']);
      }
      const fourth = await api('POST', '/webhooks/endpoints', owner, {
        url: `${receiver.url}/x`,
        events: ['call.status'],
      });
      expect(fourth.status).toBe(409);
      expect((await api('GET', '/webhooks/endpoints', owner)).body.meta.total).toBe(3);
    });

    it('sends a signed ping on test, and records it in the delivery log', async () => {
      const user = await registerUser(rig.context);
      const endpoint = await addEndpoint(user, ['call.status']);
      const tested = await api('POST', `/webhooks/endpoints/${endpoint.id}/test`, user);
      expect(tested.status).toBe(200);
      expect(tested.body).toMatchObject({ eventType: 'ping', status: 'delivered', attempts: 1 });
      const [ping] = received(endpoint.path);
      expect(ping).toBeDefined();
      expect(ping?.id).toBe(tested.body.eventId);
      expect(verified(ping!, endpoint.secret)).toBe(true);
      expect(bodyOf(ping!)).toMatchObject({ id: tested.body.eventId, type: 'ping' });
      expect(ping?.headers['content-type']).toBe('application/json');
    });
  });

  describe('a full call', () => {
    it('sends every event of the call in order, signed, each once, with the report and the analysis', async () => {
      const line = await prepareInboundLine(rig, {
        analysis: {
          successRubric: 'The caller got an answer about the order.',
          structuredDataSchema: {
            type: 'object',
            properties: { orderMentioned: { type: 'boolean' } },
            required: ['orderMentioned'],
          },
        },
      });
      const endpoint = await addEndpoint(line.user);
      const quiet = await addEndpoint(line.user, ['call.ended']);
      rig.deepgram.say(['Where is my order']);
      rig.openai.reply({ text: 'It ships tomorrow.' }, (request: RecordedOpenAiRequest) =>
        analysisReply(request, {
          summary: 'The caller asked about an order; the agent said it ships tomorrow.',
          successEvaluation: { success: true, reason: 'The caller got an answer.' },
          structuredData: { orderMentioned: true },
        }),
      );
      const live = await talk(line);

      const events = await receiver.waitFor(7, 20_000, at(endpoint.path));
      const bodies = events.map(bodyOf);
      // Deliveries run in parallel: the per-call sequence puts them back in order.
      const ordered = [...bodies].sort((a, b) => a.sequence - b.sequence);
      expect(ordered.map((body) => body.sequence)).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect(ordered.map(label)).toEqual([
        'status:in-progress',
        'transcript.message',
        'transcript.message',
        'transcript.message',
        'status:user-ended',
        'call.ended',
        'call.analyzed',
      ]);
      expect(new Set(events.map((event) => event.id)).size).toBe(events.length);
      for (const event of events) {
        expect(verified(event, endpoint.secret)).toBe(true);
        expect(bodyOf(event).id).toBe(event.id);
        expect(bodyOf(event).data.call.id).toBe(live.callLogId);
      }
      const messages = ordered.filter((body) => body.type === 'transcript.message');
      expect(messages.map((body) => [body.data.message.role, body.data.message.content])).toEqual([
        ['assistant', 'Hello! How can I help you today?'],
        ['user', 'Where is my order'],
        ['assistant', 'It ships tomorrow.'],
      ]);

      const report = ordered.find((body) => body.type === 'call.ended');
      expect(report?.data).toMatchObject({
        endedReason: 'user-ended',
        error: null,
        call: {
          id: live.callLogId,
          status: 'user-ended',
          direction: 'inbound',
          billing: { charged: expect.any(Number) },
          costBreakdown: { total: expect.any(Number) },
        },
        latency: { turns: 1, firstAudioSentMs: { p50: expect.any(Number) } },
      });
      expect(report?.data.transcript).toContain('User: Where is my order');
      expect(report?.data.messages).toHaveLength(3);

      const analyzed = ordered.find((body) => body.type === 'call.analyzed');
      expect(analyzed?.data.analysis).toMatchObject({
        summary: 'The caller asked about an order; the agent said it ships tomorrow.',
        successEvaluation: { success: true, reason: 'The caller got an answer.' },
        structuredData: { orderMentioned: true },
        usage: { charged: false },
      });
      const log = await rig.context.db
        .collection('calllogs')
        .findOne({ _id: new ObjectId(live.callLogId) });
      expect(log?.metadata?.analysis?.summary).toBe(analyzed?.data.analysis.summary);
      expect(log?.analysisPending).toBeUndefined();
      expect(log?.webhookPending).toBeUndefined();

      // The endpoint subscribed to call.ended alone got exactly that one.
      const onlyEnded = await receiver.waitFor(1, 5_000, at(quiet.path));
      expect(onlyEnded.map((event) => bodyOf(event).type)).toEqual(['call.ended']);
      expect(onlyEnded[0]?.id).toBe(report?.id);
      // Nothing else arrives for it once all of the call's deliveries are settled.
      await settledDeliveries(line.user, endpoint.id, 7);
      expect(received(quiet.path)).toHaveLength(1);
    });

    it('follows an outbound call through its statuses once each, however Exotel repeats them', async () => {
      const user = await registerUser(rig.context);
      const agent = await createAgent(rig.context, user, { config: validAgentConfig() });
      const endpoint = await addEndpoint(user, ['call.status', 'call.ended']);
      const callLogs = rig.context.app.get(CallLogsRepository);
      const events = rig.context.app.get(CallWebhookEvents);
      const initiated = await events.status(
        { userId: user.id, agentId: agent.id as string },
        'initiated',
        new Date(),
      );
      const created = await callLogs.create({
        sessionId: `sess_${new ObjectId().toString()}`,
        userId: new Types.ObjectId(user.id),
        agentId: new Types.ObjectId(agent.id as string),
        fromPhone: '+919800000001',
        toPhone: '+919800000002',
        direction: 'outbound',
        status: 'initiated',
        metadata: { orderId: 'ORD-7' },
        webhookEvent: initiated,
      });
      await events.announce(created._id, initiated!);
      const lifecycle = rig.context.app.get(CallLifecycleService);
      const callLogId = created._id.toString();
      const at = (seconds: number) => new Date(Date.now() + seconds * 1000);
      for (const [status, offset] of [
        ['ringing', 1],
        ['ringing', 2],
        ['in-progress', 3],
        ['completed', 30],
        ['in-progress', 31],
        ['completed', 32],
      ] as const) {
        await lifecycle.applyEvent({ callLogId, status, occurredAt: at(offset) });
      }
      const arrived = await receiver.waitFor(
        5,
        10_000,
        (request) => request.path === endpoint.path,
      );
      const ordered = arrived.map(bodyOf).sort((a, b) => a.sequence - b.sequence);
      expect(ordered.map(label)).toEqual([
        'status:initiated',
        'status:ringing',
        'status:in-progress',
        'status:completed',
        'call.ended',
      ]);
      expect(ordered.at(-1)?.data.call).toMatchObject({
        id: callLogId,
        metadata: { orderId: 'ORD-7' },
        durationSec: 27,
      });
      await settledDeliveries(user, endpoint.id, 5);
      expect(received(endpoint.path)).toHaveLength(5);
    });

    it('records an unusable analysis as an error in call.analyzed, never as a result', async () => {
      const line = await prepareInboundLine(rig, {
        analysis: {
          structuredDataSchema: {
            type: 'object',
            properties: { orderMentioned: { type: 'boolean' } },
            required: ['orderMentioned'],
          },
        },
      });
      const endpoint = await addEndpoint(line.user, ['call.analyzed']);
      rig.deepgram.say(['Where is my order']);
      rig.openai.reply({ text: 'It ships tomorrow.' }, (request: RecordedOpenAiRequest) =>
        analysisReply(request, { summary: 'A call.', structuredData: { orderMentioned: 'yes' } }),
      );
      const live = await talk(line);
      const [analyzed] = await receiver.waitFor(1, 20_000, at(endpoint.path));
      const analysis = bodyOf(analyzed!).data.analysis;
      expect(analysis.error).toMatchObject({ kind: 'invalid-answer' });
      expect(analysis).not.toHaveProperty('summary');
      const log = await rig.context.db
        .collection('calllogs')
        .findOne({ _id: new ObjectId(live.callLogId) });
      expect(log?.metadata?.analysis?.error?.kind).toBe('invalid-answer');
    });
  });

  describe('delivery', () => {
    it('retries after a 500 and after a timeout, then delivers, with every attempt in the log', async () => {
      const user = await registerUser(rig.context);
      const agent = await createAgent(rig.context, user, { config: validAgentConfig() });
      const endpoint = await addEndpoint(user, ['call.status']);
      receiver.respond(endpoint.path, (_request, index) =>
        index === 0 ? { status: 500 } : index === 1 ? { hang: true } : { status: 204 },
      );
      const eventId = await raiseStatusEvent(user, agent.id as string);
      const attempts = await receiver.waitFor(3, 10_000, at(endpoint.path));
      expect(attempts.map((attempt) => attempt.id)).toEqual([eventId, eventId, eventId]);
      // Each attempt is signed afresh over the same body.
      expect(new Set(attempts.map((attempt) => attempt.body)).size).toBe(1);
      expect(attempts.every((attempt) => verified(attempt, endpoint.secret))).toBe(true);
      const [delivery] = await settledDeliveries(user, endpoint.id, 1);
      expect(delivery).toMatchObject({
        eventId,
        status: 'delivered',
        attempts: 3,
        lastStatusCode: 204,
        lastError: null,
      });
      expect(delivery?.durationsMs).toHaveLength(3);
    });

    it('gives up after the last attempt, then redelivers the same event on request', async () => {
      const user = await registerUser(rig.context);
      const agent = await createAgent(rig.context, user, { config: validAgentConfig() });
      const endpoint = await addEndpoint(user, ['call.status']);
      receiver.respond(endpoint.path, { status: 503 });
      const eventId = await raiseStatusEvent(user, agent.id as string);
      const [failed] = await settledDeliveries(user, endpoint.id, 1);
      expect(failed).toMatchObject({
        eventId,
        status: 'failed',
        attempts: MAX_ATTEMPTS,
        lastStatusCode: 503,
        lastError: 'HTTP 503',
        nextAttemptAt: null,
      });
      expect(received(endpoint.path)).toHaveLength(MAX_ATTEMPTS);
      const filtered = await deliveries(user, { status: 'failed', event: 'call.status' });
      expect(filtered.body.data.map((entry: any) => entry.id)).toEqual([failed?.id]);

      receiver.respond(endpoint.path, { status: 200 });
      const again = await api(
        'POST',
        `/webhooks/deliveries/${failed?.id as string}/redeliver`,
        user,
      );
      expect(again.status).toBe(202);
      expect(again.body.status).toBe('pending');
      const redelivered = await receiver.waitFor(MAX_ATTEMPTS + 1, 10_000, at(endpoint.path));
      expect(redelivered.at(-1)?.id).toBe(eventId);
      const [settled] = await settledDeliveries(user, endpoint.id, 1);
      expect(settled).toMatchObject({ status: 'delivered', attempts: MAX_ATTEMPTS + 1 });
    });

    it('disables an endpoint that has failed for three days, and delivers nothing more to it', async () => {
      const user = await registerUser(rig.context);
      const agent = await createAgent(rig.context, user, { config: validAgentConfig() });
      const endpoint = await addEndpoint(user, ['call.status']);
      receiver.respond(endpoint.path, { status: 500 });
      await rig.context.db
        .collection('webhookendpoints')
        .updateOne(
          { _id: new ObjectId(endpoint.id) },
          { $set: { failingSince: new Date(Date.now() - 72 * 3_600_000 - 60_000) } },
        );
      await raiseStatusEvent(user, agent.id as string);
      const disabled = await waitFor(
        async () => {
          const read = await api('GET', `/webhooks/endpoints/${endpoint.id}`, user);
          return read.body.enabled === false ? read.body : undefined;
        },
        10_000,
        'the endpoint disabled',
      );
      expect(disabled.disabledReason).toBe('every delivery failed for 72 hours');
      const [abandoned] = await settledDeliveries(user, endpoint.id, 1);
      expect(abandoned?.status).toBe('failed');
      const before = received(endpoint.path).length;
      // The next event finds no enabled endpoint: it is not even recorded.
      const next = await rig.context.app
        .get(CallWebhookEvents)
        .status({ userId: user.id, agentId: agent.id as string }, 'ringing', new Date());
      expect(next).toBeUndefined();
      expect(received(endpoint.path)).toHaveLength(before);
      expect((await deliveries(user, { endpointId: endpoint.id })).body.meta.total).toBe(1);
      // Re-enabling is the customer's: it clears the reason and the failure clock.
      const enabled = await api('PATCH', `/webhooks/endpoints/${endpoint.id}`, user, {
        enabled: true,
      });
      expect(enabled.body).toMatchObject({
        enabled: true,
        disabledReason: null,
        failingSince: null,
      });
    });

    it('signs with both secrets for a day after a rotation', async () => {
      const user = await registerUser(rig.context);
      const endpoint = await addEndpoint(user, ['call.status']);
      const rotated = await api('POST', `/webhooks/endpoints/${endpoint.id}/rotate-secret`, user);
      expect(rotated.status).toBe(200);
      expect(rotated.body.secret).not.toBe(endpoint.secret);
      expect(new Date(rotated.body.previousSecretExpiresAt).getTime()).toBeGreaterThan(
        Date.now() + 23 * 3_600_000,
      );
      await api('POST', `/webhooks/endpoints/${endpoint.id}/test`, user);
      const [ping] = received(endpoint.path);
      expect(ping?.signature.split(' ')).toHaveLength(2);
      expect(verified(ping!, endpoint.secret)).toBe(true);
      expect(verified(ping!, rotated.body.secret as string)).toBe(true);
      // Once the old secret's day is over, only the new one signs.
      await rig.context.db
        .collection('webhookendpoints')
        .updateOne(
          { _id: new ObjectId(endpoint.id) },
          { $set: { 'previousSecret.expiresAt': new Date(Date.now() - 1000) } },
        );
      await api('POST', `/webhooks/endpoints/${endpoint.id}/test`, user);
      const latest = received(endpoint.path).at(-1);
      expect(latest?.signature.split(' ')).toHaveLength(1);
      expect(verified(latest!, endpoint.secret)).toBe(false);
      expect(verified(latest!, rotated.body.secret as string)).toBe(true);
    });

    it('dispatches an event a crash left recorded but never queued, once, from the sweep', async () => {
      const user = await registerUser(rig.context);
      const agent = await createAgent(rig.context, user, { config: validAgentConfig() });
      const endpoint = await addEndpoint(user, ['call.status']);
      const callLogs = rig.context.app.get(CallLogsRepository);
      const events = rig.context.app.get(CallWebhookEvents);
      const event = await events.status(
        { userId: user.id, agentId: agent.id as string },
        'initiated',
        new Date(),
      );
      // Recorded with the call, and the process "dies" before announcing it.
      const created = await callLogs.create({
        sessionId: `sess_${new ObjectId().toString()}`,
        userId: new Types.ObjectId(user.id),
        agentId: new Types.ObjectId(agent.id as string),
        fromPhone: '+919800000001',
        toPhone: '+919800000002',
        direction: 'outbound',
        status: 'initiated',
        webhookEvent: event,
      });
      const sweep = rig.context.app.get(WebhookSweepService);
      // Within the grace period the sweep leaves it to its own job.
      expect((await sweep.run()).dispatches).toBe(0);
      const later = new Date(Date.now() + 120_000);
      expect((await sweep.run(later)).dispatches).toBeGreaterThanOrEqual(1);
      const [delivered] = await receiver.waitFor(1, 10_000, at(endpoint.path));
      expect(delivered?.id).toBe(`evt_${event?.eventId.toString() ?? ''}`);
      await waitFor(
        async () => {
          const log = await rig.context.db.collection('calllogs').findOne({ _id: created._id });
          return log && log.webhookPending === undefined ? log : undefined;
        },
        10_000,
        'the call to leave the sweep',
      );
      // A second sweep finds nothing left: the event is never sent twice.
      expect((await sweep.run(new Date(Date.now() + 240_000))).dispatches).toBe(0);
      await settledDeliveries(user, endpoint.id, 1);
      expect(received(endpoint.path)).toHaveLength(1);
    });

    it('purges delivery log entries older than the retention, keeping the rest', async () => {
      const user = await registerUser(rig.context);
      const endpoint = await addEndpoint(user, ['call.status']);
      await api('POST', `/webhooks/endpoints/${endpoint.id}/test`, user);
      await api('POST', `/webhooks/endpoints/${endpoint.id}/test`, user);
      const [old] = (await deliveries(user)).body.data as Array<{ id: string }>;
      await rig.context.db
        .collection('webhookdeliveries')
        .updateOne(
          { _id: new ObjectId(old?.id) },
          { $set: { createdAt: new Date(Date.now() - 31 * 86_400_000) } },
          { bypassDocumentValidation: true },
        );
      const purged = await rig.context.app.get(WebhookSweepService).purgeDeliveries();
      expect(purged.deleted).toBeGreaterThanOrEqual(1);
      const left = (await deliveries(user)).body.data as Array<{ id: string }>;
      expect(left.map((entry) => entry.id)).not.toContain(old?.id);
      expect(left).toHaveLength(1);
    });
  });

  describe('tenancy', () => {
    it("never shows, changes or sends another user's endpoints and deliveries", async () => {
      const owner = await registerUser(rig.context);
      const intruder = await registerUser(rig.context);
      const endpoint = await addEndpoint(owner, ['call.status']);
      const tested = await api('POST', `/webhooks/endpoints/${endpoint.id}/test`, owner);
      const deliveryId = tested.body.id as string;
      for (const [method, path, body] of [
        ['GET', `/webhooks/endpoints/${endpoint.id}`, undefined],
        ['PATCH', `/webhooks/endpoints/${endpoint.id}`, { enabled: false }],
        ['DELETE', `/webhooks/endpoints/${endpoint.id}`, undefined],
        ['POST', `/webhooks/endpoints/${endpoint.id}/rotate-secret`, undefined],
        ['POST', `/webhooks/endpoints/${endpoint.id}/test`, undefined],
        ['GET', `/webhooks/deliveries/${deliveryId}`, undefined],
        ['POST', `/webhooks/deliveries/${deliveryId}/redeliver`, undefined],
      ] as const) {
        expect((await api(method, path, intruder, body)).status, `${method} ${path}`).toBe(404);
      }
      expect((await api('GET', '/webhooks/endpoints', intruder)).body.meta.total).toBe(0);
      expect((await deliveries(intruder)).body.meta.total).toBe(0);
      expect((await deliveries(intruder, { endpointId: endpoint.id })).body.meta.total).toBe(0);
      const still = await api('GET', `/webhooks/endpoints/${endpoint.id}`, owner);
      expect(still.body).toMatchObject({ enabled: true });
      expect(received(endpoint.path)).toHaveLength(1);
    });
  });

  /** The fake model's answer to the analysis request (a submit_analysis tool call); else text. */
  function analysisReply(request: RecordedOpenAiRequest, analysis: Record<string, unknown>) {
    const tools = request.body?.tools as Array<{ function?: { name?: string } }> | undefined;
    return tools?.some((tool) => tool.function?.name === 'submit_analysis')
      ? { toolCalls: [{ name: 'submit_analysis', arguments: analysis }] }
      : { text: 'Unexpected request.' };
  }

  /** Rings the line, plays the greeting, says one line, hears the answer, hangs up. */
  async function talk(line: InboundLine): Promise<LiveCall> {
    const live = await ringInboundLine(rig, line);
    const caller = await connectCaller(live);
    callers.push(caller);
    caller.startSilence();
    await caller.waitUntil(() => caller.marksEchoed.length >= 1, 5_000, 'the greeting played');
    await caller.speak(600);
    await caller.waitUntil(() => caller.marksEchoed.length >= 2, 8_000, 'the answer played');
    await caller.stop();
    return live;
  }
});

/** An event as a label: status events by the status they report. */
function label(body: Record<string, any>): string {
  return body.type === 'call.status' ? `status:${body.data.call.status}` : (body.type as string);
}

describe('customer webhooks with private addresses disallowed', () => {
  let context: TestContext;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    context = await createTestContext({ WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'false' });
  });

  afterAll(async () => {
    await context.close();
    await receiver.close();
  });

  it.each([
    ['a loopback address', () => `${receiver.url}/x`],
    ['a name that resolves to 127.0.0.1', () => `http://localhost:${receiver.port}/x`],
    ['IPv6 loopback', () => `http://[::1]:${receiver.port}/x`],
    ['the cloud metadata address', () => 'http://169.254.169.254/latest/meta-data'],
    ['a private network address', () => 'http://10.0.0.7/hooks'],
  ])('refuses %s at creation with 400, storing nothing', async (_case, url) => {
    const user = await registerUser(context);
    const refused = await call(context.app, 'POST', '/api/v1/webhooks/endpoints', {
      token: user.token,
      body: { url: url(), events: ['call.status'] },
    });
    expect(refused.status).toBe(400);
    expect(refused.body.message).toMatch(/^url refused: /);
    const listed = await call(context.app, 'GET', '/api/v1/webhooks/endpoints', {
      token: user.token,
    });
    expect(listed.body.meta.total).toBe(0);
  });

  it('refuses again at send time an endpoint whose address became private', async () => {
    const user = await registerUser(context);
    // As if its name resolved to a public address when it was created, and to 127.0.0.1 now.
    const created = await call(context.app, 'POST', '/api/v1/webhooks/endpoints', {
      token: user.token,
      body: { url: 'http://93.184.215.14/hooks', events: ['call.status'] },
    });
    expect(created.status).toBe(201);
    await context.db
      .collection('webhookendpoints')
      .updateOne(
        { _id: new ObjectId(created.body.id as string) },
        { $set: { url: `${receiver.url}/late` } },
      );
    const tested = await call(
      context.app,
      'POST',
      `/api/v1/webhooks/endpoints/${created.body.id as string}/test`,
      { token: user.token },
    );
    expect(tested.status).toBe(200);
    expect(tested.body).toMatchObject({ status: 'failed', attempts: 1 });
    expect(tested.body.lastError).toMatch(/^address refused: /);
    expect(receiver.received).toHaveLength(0);
  });
});
