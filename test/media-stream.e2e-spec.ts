import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ObjectId } from 'mongodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ExotelMediaStreamGateway } from '../src/telephony/media-stream/exotel-media-stream.gateway.js';
import { DEFAULT_MEDIA_STREAM_LIMITS } from '../src/telephony/media-stream/exotel-media-stream.js';
import { MAX_INBOUND_FRAME_BYTES } from '../src/telephony/media-stream/exotel-media-frames.js';
import { MediaStreamCloseCode } from '../src/telephony/media-stream/media-stream-close-codes.js';
import {
  MEDIA_STREAM_PATH,
  MediaStreamUrls,
} from '../src/telephony/media-stream/media-stream-urls.js';
import { TelephonyService } from '../src/telephony/telephony.service.js';
import {
  createAgent,
  createPhone,
  randomIndianNumber,
  validAgentConfig,
} from './support/catalogue-factories.js';
import { registerUser, setCredits } from './support/factories.js';
import {
  type CloseInfo,
  connectFakeExotel,
  type FakeExotelMediaClient,
  type FakeExotelOptions,
} from './support/fake-exotel-media-client.js';
import {
  type CallbackDeliverer,
  DEFAULT_FAKE_ACCOUNT,
  type FakeExotel,
  startFakeExotel,
} from './support/fake-exotel-server.js';
import { call } from './support/http.js';
import { silence } from './support/pcm-audio.js';
import {
  answerInboundCall,
  type LiveCall,
  startVoiceRig,
  type VoiceRig,
} from './support/voice-rig.js';
import { waitFor } from './support/wait-for.js';

const VOICEBOT = '/api/v1/telephony/exotel/voicebot';
const CUSTOMER = '+919123456789';

describe('the media stream: authentication, the Voicebot URL and hostile input', () => {
  let rig: VoiceRig;
  let fakeExotel: FakeExotel;
  /** Every fake Exotel socket a test opened, closed after it. */
  const clients: FakeExotelMediaClient[] = [];
  /** A socket that connects and never sends `start` (checked by the last test). */
  let silentSocket: FakeExotelMediaClient;
  let silentSocketOpenedAt = 0;
  let silentSocketClosed: Promise<CloseInfo & { at: number }>;

  // The fake Exotel's StatusCallbacks go through the app's own HTTP stack.
  const deliver: CallbackDeliverer = async (url, request) => {
    const target = new URL(url);
    const response = await rig.context.app
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

  beforeAll(async () => {
    fakeExotel = await startFakeExotel({ deliver });
    rig = await startVoiceRig({
      EXOTEL_API_BASE_URL: fakeExotel.baseUrl,
      CALL_PLACEMENT_RETRY_DELAY_MS: '50',
    });
    silentSocketOpenedAt = performance.now();
    silentSocket = await connectFakeExotel({
      url: `${rig.wsBase}${MEDIA_STREAM_PATH}`,
      autoStart: false,
    });
    silentSocketClosed = silentSocket.closed.then((info) => ({ ...info, at: performance.now() }));
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.drop()));
  });

  afterAll(async () => {
    await silentSocket.drop();
    await rig.close();
    await fakeExotel.close();
  });

  // ---------------------------------------------------------------- helpers

  const connect = async (options: FakeExotelOptions): Promise<FakeExotelMediaClient> => {
    const client = await connectFakeExotel({ playbackRate: 4, ...options });
    clients.push(client);
    return client;
  };

  /** Exotel's side of `liveCall`'s stream, on its signed URL unless told otherwise. */
  const connectTo = (liveCall: LiveCall, options: Partial<FakeExotelOptions> = {}) =>
    connect({ url: liveCall.streamUrl, callSid: liveCall.callSid, ...options });

  const streamUrl = (query: Record<string, string> = {}): string => {
    const search = new URLSearchParams(query).toString();
    return `${rig.wsBase}${MEDIA_STREAM_PATH}${search === '' ? '' : `?${search}`}`;
  };

  /** The signed URL's credentials as a record. */
  const credentialsOf = (url: string): { session: string; exp: string; sig: string } => {
    const { searchParams } = new URL(url);
    return {
      session: searchParams.get('session') ?? '',
      exp: searchParams.get('exp') ?? '',
      sig: searchParams.get('sig') ?? '',
    };
  };

  /** A URL on the rig's host signed by the app itself (any session id, any time of issue). */
  const signedByApp = (sessionId: string, issuedAt = Date.now()): string => {
    const signed = new URL(rig.context.app.get(MediaStreamUrls).urlFor(sessionId, issuedAt));
    return `${rig.wsBase}${signed.pathname}${signed.search}`;
  };

  /** How the socket closed, or 'still open' after `timeoutMs`. */
  const closeOf = async (
    client: FakeExotelMediaClient,
    timeoutMs = 3_000,
  ): Promise<CloseInfo | 'still open'> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'still open'>((resolve) => {
      timer = setTimeout(() => {
        resolve('still open');
      }, timeoutMs);
    });
    try {
      return await Promise.race([client.closed, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };

  const vendorContacts = () => ({
    deepgramConnections: rig.deepgram.connections.length,
    openAiRequests: rig.openai.requests.length,
  });

  /** Opens a stream, expects it closed with `code`, and no vendor contacted meanwhile. */
  const expectRefused = async (
    open: () => Promise<FakeExotelMediaClient>,
    code: number,
  ): Promise<CloseInfo> => {
    const before = vendorContacts();
    const client = await open();
    const closed = await closeOf(client);
    expect(closed).toMatchObject({ code });
    expect(vendorContacts()).toEqual(before);
    return closed as CloseInfo;
  };

  const callLog = (callLogId: string) =>
    rig.context.db.collection('calllogs').findOne({ _id: new ObjectId(callLogId) });

  const sessionOf = (sessionId: string) =>
    rig.context.db.collection('sessions').findOne({ sessionId });

  const finalized = (callLogId: string, timeoutMs = 15_000) =>
    waitFor(
      async () => {
        const log = await callLog(callLogId);
        return log?.finalizedAt ? log : undefined;
      },
      timeoutMs,
      `call ${callLogId} to be finalized`,
    );

  const liveStreams = () => rig.context.app.get(ExotelMediaStreamGateway).liveCount;

  /** Waits until no stream is live in this process (every claim released). */
  const noLiveStream = () =>
    waitFor(
      () => Promise.resolve(liveStreams() === 0 ? true : undefined),
      5_000,
      'every media stream to be released',
    );

  const greeted = (caller: FakeExotelMediaClient) =>
    caller.waitUntil(() => caller.marksEchoed.length >= 1, 5_000, 'the greeting played');

  /** One caller turn: the caller speaks `said`, the agent answers `answer` and it plays. */
  const converse = async (caller: FakeExotelMediaClient, said: string, answer: string) => {
    const marksBefore = caller.marksEchoed.length;
    rig.deepgram.say([said]);
    rig.openai.reply({ text: answer });
    await caller.speak(600);
    await caller.waitUntil(
      () => caller.marksEchoed.length > marksBefore,
      8_000,
      `the answer "${answer}" played`,
    );
  };

  /** Exotel reports the call over (a signed StatusCallback); waits until it is finalized. */
  const endedByCarrier = async (liveCall: LiveCall) => {
    const url = new URL(
      rig.context.app.get(TelephonyService).statusCallbackUrl(liveCall.callLogId),
    );
    const response = await call(rig.context.app, 'POST', `${url.pathname}${url.search}`, {
      body: { CallSid: liveCall.callSid, Status: 'completed', ConversationDuration: '3' },
    });
    expect(response.status).toBe(200);
    const log = await finalized(liveCall.callLogId);
    expect((await sessionOf(liveCall.sessionId))?.status).not.toBe('active');
    return log;
  };

  const voicebot = (
    token: string,
    params: Record<string, string>,
    how: 'GET' | 'POST form' = 'GET',
  ) =>
    how === 'GET'
      ? call(rig.context.app, 'GET', `${VOICEBOT}/${token}`, { query: params })
      : call(rig.context.app, 'POST', `${VOICEBOT}/${token}`, {
          rawBody: new URLSearchParams(params).toString(),
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        });

  /** Every call log and session, to show a refusal changed nothing. */
  const databaseState = async () => ({
    calllogs: await rig.context.db.collection('calllogs').find().sort({ _id: 1 }).toArray(),
    sessions: await rig.context.db.collection('sessions').find().sort({ _id: 1 }).toArray(),
  });

  const expectSignedStreamUrl = (url: unknown, sessionId: string) => {
    expect(typeof url).toBe('string');
    const parsed = new URL(url as string);
    const publicBase = new URL(rig.context.config.publicBaseUrl);
    expect(parsed.protocol).toBe(publicBase.protocol === 'https:' ? 'wss:' : 'ws:');
    expect(parsed.host).toBe(publicBase.host);
    expect(parsed.pathname).toBe(MEDIA_STREAM_PATH);
    expect(parsed.searchParams.get('session')).toBe(sessionId);
    const expiry = Number(parsed.searchParams.get('exp'));
    const nowSeconds = Date.now() / 1000;
    const ttl = rig.context.config.voice.streamUrlTtlSeconds;
    expect(expiry).toBeGreaterThan(nowSeconds + ttl - 10);
    expect(expiry).toBeLessThanOrEqual(nowSeconds + ttl + 1);
    expect(parsed.searchParams.get('sig')).toMatch(/^[\w-]{20,}$/);
  };

  // ---------------------------------------------------------------- the Voicebot URL

  describe('GET|POST /telephony/exotel/voicebot/:webhookToken', () => {
    it('answers an inbound call found by its CallSid with its signed wss URL on the public host', async () => {
      const liveCall = await answerInboundCall(rig);
      const response = await voicebot(liveCall.webhookToken, { CallSid: liveCall.callSid });
      expect(response.status).toBe(200);
      expect(Object.keys(response.body as object)).toEqual(['url']);
      expectSignedStreamUrl(response.body.url, liveCall.sessionId);
    });

    it('reads the CallSid from a form body on POST, as Exotel may send it', async () => {
      const liveCall = await answerInboundCall(rig);
      const response = await voicebot(
        liveCall.webhookToken,
        { CallSid: liveCall.callSid, CallFrom: '09123456789', Direction: 'incoming' },
        'POST form',
      );
      expect(response.status).toBe(200);
      expectSignedStreamUrl(response.body.url, liveCall.sessionId);
    });

    it('finds an outbound call by its CustomField (the session id) and its stream is admitted', async () => {
      const user = await registerUser(rig.context);
      await setCredits(rig.context, user.id, 100);
      const configured = await call(rig.context.app, 'PUT', '/api/v1/users/me/exotel-config', {
        token: user.token,
        body: {
          apiKey: DEFAULT_FAKE_ACCOUNT.apiKey,
          apiToken: DEFAULT_FAKE_ACCOUNT.apiToken,
          sid: DEFAULT_FAKE_ACCOUNT.sid,
          subdomain: 'api.in.exotel.com',
        },
      });
      expect(configured.status).toBe(200);
      const webhooks = await call(rig.context.app, 'GET', '/api/v1/users/me/webhooks', {
        token: user.token,
      });
      const webhookToken = (webhooks.body.incomingCallUrl as string).split('/').at(-1)!;
      const agent = await createAgent(rig.context, user, {
        config: {
          ...validAgentConfig(),
          voice: { provider: 'openai', voiceId: 'alloy' },
          flow: { userStartFirst: false, interruption: { allowed: true }, responseDelay: 0 },
        },
      });
      const phone = await createPhone(rig.context, user, {
        number: randomIndianNumber(),
        agentId: agent.id,
        exotelData: { sid: 'exophone-1', appId: String(100_000 + Math.floor(Math.random() * 9e5)) },
      });
      const placedCall = await call(rig.context.app, 'POST', '/api/v1/calls', {
        token: user.token,
        body: { phoneId: phone.id, to: CUSTOMER },
      });
      expect(placedCall.status).toBe(202);
      const sessionId = placedCall.body.sessionId as string;
      const callLogId = placedCall.body.id as string;
      const exotelCallSid = await waitFor(
        async () => {
          const session = await sessionOf(sessionId);
          const log = await callLog(callLogId);
          return session?.exotelCallSid && log?.exotelCallSid
            ? (session.exotelCallSid as string)
            : undefined;
        },
        15_000,
        'the call to be placed with the fake Exotel',
      );

      const response = await voicebot(webhookToken, {
        CallSid: exotelCallSid,
        CustomField: sessionId,
      });
      expect(response.status).toBe(200);
      expectSignedStreamUrl(response.body.url, sessionId);

      // The CustomField names the call, but the CallSid must be that call's.
      const otherCallSid = await voicebot(webhookToken, {
        CallSid: `CA${new ObjectId().toString()}`,
        CustomField: sessionId,
      });
      expect(otherCallSid.status).toBe(404);

      // Exotel connects to the URL it was given: the outbound conversation starts.
      const signed = new URL(response.body.url as string);
      const caller = await connect({
        url: `${rig.wsBase}${signed.pathname}${signed.search}`,
        callSid: exotelCallSid,
      });
      await greeted(caller);
      const stopped = await caller.stop();
      expect(stopped.code).toBe(1000);
      const ended = await finalized(callLogId);
      expect(ended.transcript).toContain('Agent: Hello! How can I help you today?');
      await noLiveStream();
    });

    it('refuses an unknown webhook token and a malformed one with 401, changing nothing', async () => {
      const liveCall = await answerInboundCall(rig);
      const before = await databaseState();
      const unknown = await voicebot(randomBytes(24).toString('base64url'), {
        CallSid: liveCall.callSid,
      });
      expect(unknown.status).toBe(401);
      expect(unknown.body.code).toBe('TELEPHONY_UNKNOWN_WEBHOOK');
      // (A token past 100 characters never reaches the handler: Fastify answers 414 for it.)
      const malformedTokens = [
        'short',
        `${liveCall.webhookToken}!`,
        `${liveCall.webhookToken.slice(0, 20)}.${liveCall.webhookToken.slice(21)}`,
        encodeURIComponent(`${liveCall.webhookToken.slice(0, 20)} OR 1=1`),
      ];
      for (const malformed of malformedTokens) {
        const response = await voicebot(malformed, { CallSid: liveCall.callSid });
        expect(response.status, malformed).toBe(401);
      }
      const viaPost = await voicebot('short', { CallSid: liveCall.callSid }, 'POST form');
      expect(viaPost.status).toBe(401);
      expect(JSON.stringify(unknown.body)).not.toContain('wss://');
      expect(await databaseState()).toEqual(before);
    });

    it('refuses a request without CallSid with 400, changing nothing', async () => {
      const liveCall = await answerInboundCall(rig);
      const before = await databaseState();
      const missing = await voicebot(liveCall.webhookToken, {});
      expect(missing.status).toBe(400);
      const blank = await voicebot(liveCall.webhookToken, { CallSid: '   ' }, 'POST form');
      expect(blank.status).toBe(400);
      const customFieldOnly = await voicebot(liveCall.webhookToken, {
        CustomField: liveCall.sessionId,
      });
      expect(customFieldOnly.status).toBe(400);
      expect(await databaseState()).toEqual(before);
    });

    it("answers 404 for another user's CallSid or another user's session in CustomField", async () => {
      const mine = await answerInboundCall(rig);
      const theirs = await answerInboundCall(rig);
      const before = await databaseState();

      const byCallSid = await voicebot(mine.webhookToken, { CallSid: theirs.callSid });
      expect(byCallSid.status).toBe(404);
      expect(byCallSid.body.code).toBe('TELEPHONY_CALL_NOT_FOUND');

      const byCustomField = await voicebot(mine.webhookToken, {
        CallSid: theirs.callSid,
        CustomField: theirs.sessionId,
      });
      expect(byCustomField.status).toBe(404);
      const byCustomFieldViaPost = await voicebot(
        mine.webhookToken,
        { CallSid: mine.callSid, CustomField: theirs.sessionId },
        'POST form',
      );
      expect(byCustomFieldViaPost.status).toBe(404);
      for (const response of [byCallSid, byCustomField, byCustomFieldViaPost]) {
        expect(response.text).not.toContain(theirs.sessionId);
        expect(response.text).not.toContain('sig=');
      }
      expect(await databaseState()).toEqual(before);
    });

    it('answers 410 for a call that has ended, changing nothing', async () => {
      const liveCall = await answerInboundCall(rig);
      await endedByCarrier(liveCall);
      const before = await databaseState();
      const response = await voicebot(liveCall.webhookToken, { CallSid: liveCall.callSid });
      expect(response.status).toBe(410);
      expect(response.body.code).toBe('TELEPHONY_CALL_ENDED');
      expect(response.text).not.toContain('sig=');
      const viaPost = await voicebot(
        liveCall.webhookToken,
        { CallSid: liveCall.callSid },
        'POST form',
      );
      expect(viaPost.status).toBe(410);
      expect(await databaseState()).toEqual(before);
    });
  });

  // ---------------------------------------------------------------- stream refusals

  describe('stream refusals, before any vendor is contacted', () => {
    it('closes a stream without credentials with 4401', async () => {
      const liveCall = await answerInboundCall(rig);
      await expectRefused(
        () => connect({ url: streamUrl(), callSid: liveCall.callSid }),
        MediaStreamCloseCode.unauthorized,
      );
      expect((await callLog(liveCall.callLogId))?.status).toBe('in-progress');
    });

    it('closes a stream whose signature is wrong, or whose exp was moved, with 4401', async () => {
      const liveCall = await answerInboundCall(rig);
      const good = credentialsOf(liveCall.streamUrl);
      const flipped = `${good.sig.slice(0, 10)}${good.sig[10] === 'A' ? 'B' : 'A'}${good.sig.slice(11)}`;
      const forgeries: Record<string, string>[] = [
        { ...good, sig: flipped },
        { ...good, sig: '' },
        { ...good, exp: String(Number(good.exp) + 3_600) },
        { ...good, exp: String(Number(good.exp) - 3_600) },
        { session: good.session, exp: good.exp },
      ];
      for (const credentials of forgeries) {
        await expectRefused(
          () => connect({ url: streamUrl(credentials), callSid: liveCall.callSid }),
          MediaStreamCloseCode.unauthorized,
        );
      }
    });

    it("closes a stream presenting another session's signature with 4401", async () => {
      const mine = await answerInboundCall(rig);
      const theirs = await answerInboundCall(rig);
      const theirCredentials = credentialsOf(theirs.streamUrl);
      await expectRefused(
        () =>
          connect({
            url: streamUrl({ ...theirCredentials, session: mine.sessionId }),
            callSid: mine.callSid,
          }),
        MediaStreamCloseCode.unauthorized,
      );
    });

    it('closes a stream whose validly signed URL has expired with 4401', async () => {
      const liveCall = await answerInboundCall(rig);
      const expired = signedByApp(liveCall.sessionId, Date.now() - 3_600_000);
      expect(Number(new URL(expired).searchParams.get('exp')) * 1000).toBeLessThan(Date.now());
      const closed = await expectRefused(
        () => connect({ url: expired, callSid: liveCall.callSid }),
        MediaStreamCloseCode.unauthorized,
      );
      expect(closed.reason).toMatch(/expired/i);
      // The same session signed now is accepted: it was the expiry that was refused.
      const caller = await connectTo(liveCall, { url: signedByApp(liveCall.sessionId) });
      await greeted(caller);
      await caller.stop();
      await finalized(liveCall.callLogId);
      await noLiveStream();
    });

    it('accepts the credentials from start.custom_parameters when the URL has none', async () => {
      const liveCall = await answerInboundCall(rig);
      const caller = await connect({
        url: streamUrl(),
        callSid: liveCall.callSid,
        customParameters: credentialsOf(liveCall.streamUrl),
        autoStart: false,
      });
      // `connected` frames before `start` are Exotel's protocol and change nothing.
      caller.sendRaw(JSON.stringify({ event: 'connected' }));
      caller.sendRaw(JSON.stringify({ event: 'connected' }));
      caller.sendStart();
      await greeted(caller);
      expect(caller.isOpen).toBe(true);
      await caller.stop();
      const ended = await finalized(liveCall.callLogId);
      expect(ended.transcript).toContain('Agent: Hello! How can I help you today?');
      await noLiveStream();
    });

    it('refuses custom parameters signed for another session with 4401', async () => {
      const mine = await answerInboundCall(rig);
      const theirs = await answerInboundCall(rig);
      await expectRefused(
        () =>
          connect({
            url: streamUrl(),
            callSid: mine.callSid,
            customParameters: { ...credentialsOf(theirs.streamUrl), session: mine.sessionId },
          }),
        MediaStreamCloseCode.unauthorized,
      );
    });

    it('closes a validly signed stream for a session that does not exist with 4404', async () => {
      const madeUp = `sess_${randomBytes(12).toString('hex')}`;
      await expectRefused(
        () => connect({ url: signedByApp(madeUp), callSid: `CA${new ObjectId().toString()}` }),
        MediaStreamCloseCode.sessionNotFound,
      );
      expect(await sessionOf(madeUp)).toBeNull();
    });

    it('closes a stream for a call that has ended with 4410', async () => {
      const liveCall = await answerInboundCall(rig);
      const ended = await endedByCarrier(liveCall);
      await expectRefused(() => connectTo(liveCall), MediaStreamCloseCode.sessionEnded);
      // Nothing about the finished call changed.
      const after = await callLog(liveCall.callLogId);
      expect(after?.status).toBe(ended.status);
      expect(after?.transcript).toBe(ended.transcript);
    });

    it('closes a stream whose start.call_sid is not the call the URL was signed for with 4403', async () => {
      const liveCall = await answerInboundCall(rig);
      await expectRefused(
        () => connectTo(liveCall, { callSid: `CA${new ObjectId().toString()}` }),
        MediaStreamCloseCode.wrongCall,
      );
      expect((await callLog(liveCall.callLogId))?.status).toBe('in-progress');
      // The genuine stream still gets in afterwards.
      const caller = await connectTo(liveCall);
      await greeted(caller);
      await caller.stop();
      await finalized(liveCall.callLogId);
      await noLiveStream();
    });

    it('closes a second stream for a live call with 4409 while the first carries on', async () => {
      const liveCall = await answerInboundCall(rig);
      const deepgramBefore = rig.deepgram.connections.length;
      const first = await connectTo(liveCall);
      first.startSilence();
      await greeted(first);
      await waitFor(
        () => Promise.resolve(rig.deepgram.connections.length > deepgramBefore ? true : undefined),
        5_000,
        'the first stream to open its transcription',
      );

      await expectRefused(() => connectTo(liveCall), MediaStreamCloseCode.alreadyStreaming);
      expect(first.isOpen).toBe(true);
      expect(liveStreams()).toBe(1);

      // The first stream still converses.
      await converse(first, 'Are you still there?', 'Yes, I am still here with you.');
      await first.stop();
      const ended = await finalized(liveCall.callLogId);
      expect(ended.transcript).toContain('User: Are you still there?');
      expect(ended.transcript).toContain('Agent: Yes, I am still here with you.');
      expect(first.violations).toEqual([]);
      await noLiveStream();
    });

    const beforeStart: [string, string | Buffer][] = [
      [
        'media',
        JSON.stringify({
          event: 'media',
          stream_sid: 'MZ1',
          media: { payload: silence(100, 8000).toString('base64') },
        }),
      ],
      ['dtmf', JSON.stringify({ event: 'dtmf', stream_sid: 'MZ1', dtmf: { digit: '5' } })],
      ['mark', JSON.stringify({ event: 'mark', stream_sid: 'MZ1', mark: { name: 'r1.0' } })],
      ['an unknown event', JSON.stringify({ event: 'hello', stream_sid: 'MZ1' })],
      ['text that is not JSON', 'GET / HTTP/1.1'],
      ['a binary frame', Buffer.from([0x00, 0x01, 0x02, 0x03])],
    ];

    it.each(beforeStart)('closes with 4400 when %s arrives before start', async (_what, frame) => {
      const liveCall = await answerInboundCall(rig);
      await expectRefused(async () => {
        const client = await connectTo(liveCall, { autoStart: false });
        client.sendRaw(JSON.stringify({ event: 'connected' }));
        client.sendRaw(frame);
        return client;
      }, MediaStreamCloseCode.protocolError);
      expect((await callLog(liveCall.callLogId))?.status).toBe('in-progress');
    });
  });

  // ---------------------------------------------------------------- hostile input

  describe('hostile input on a live stream', () => {
    const badFrames: (string | Buffer)[] = [
      'not JSON {',
      '[1, 2, 3]',
      '42',
      JSON.stringify({ event: 'hello' }),
      JSON.stringify({ event: 'media', media: { payload: '@@@@' } }),
      JSON.stringify({ event: 'media', media: { payload: 'AAA' } }),
      // One byte: not whole 16-bit samples.
      JSON.stringify({ event: 'media', media: { payload: 'AA==' } }),
      JSON.stringify({ event: 'media', media: {} }),
      JSON.stringify({ event: 'dtmf', dtmf: { digit: 'Z' } }),
      JSON.stringify({ event: 'mark', mark: {} }),
      Buffer.from([0xde, 0xad, 0xbe, 0xef]),
    ];

    it(`skips up to ${DEFAULT_MEDIA_STREAM_LIMITS.maxBadFrames} malformed frames (not JSON, unknown events, bad base64, binary) and closes 4400 on the next`, async () => {
      const liveCall = await answerInboundCall(rig);
      const caller = await connectTo(liveCall);
      caller.startSilence();
      await greeted(caller);
      const bound = DEFAULT_MEDIA_STREAM_LIMITS.maxBadFrames;
      for (let index = 0; index < bound; index += 1) {
        caller.sendRaw(badFrames[index % badFrames.length]!);
      }
      // All skipped: the caller's audio still reaches the conversation, which still answers.
      await converse(caller, 'Can you hear me now?', 'Yes, I can hear you clearly.');
      expect(caller.isOpen).toBe(true);

      caller.sendRaw('one bad frame too many');
      expect(await closeOf(caller)).toMatchObject({ code: MediaStreamCloseCode.protocolError });
      const ended = await finalized(liveCall.callLogId);
      expect(ended.transcript).toContain('User: Can you hear me now?');
      expect(ended.transcript).toContain('Agent: Yes, I can hear you clearly.');
      expect(caller.violations).toEqual([]);
      await noLiveStream();
    });

    it(`closes with 1009 on a frame over ${MAX_INBOUND_FRAME_BYTES / 1024} KB, and the call ends`, async () => {
      const liveCall = await answerInboundCall(rig);
      const caller = await connectTo(liveCall);
      await greeted(caller);
      const huge = JSON.stringify({
        event: 'media',
        stream_sid: caller.streamSid,
        media: { payload: Buffer.alloc(MAX_INBOUND_FRAME_BYTES).toString('base64') },
      });
      expect(Buffer.byteLength(huge)).toBeGreaterThan(MAX_INBOUND_FRAME_BYTES);
      caller.sendRaw(huge);
      expect(await closeOf(caller)).toMatchObject({ code: 1009 });
      await finalized(liveCall.callLogId);
      await noLiveStream();
    });

    it('closes a flood of frames (hundreds in a burst) with 4429, and the call ends', async () => {
      const liveCall = await answerInboundCall(rig);
      const caller = await connectTo(liveCall);
      await greeted(caller);
      const frame = JSON.stringify({
        event: 'media',
        stream_sid: caller.streamSid,
        media: { payload: silence(20, 8000).toString('base64') },
      });
      for (let index = 0; index < 600; index += 1) {
        caller.sendRaw(frame);
      }
      expect(await closeOf(caller)).toMatchObject({ code: MediaStreamCloseCode.flood });
      await finalized(liveCall.callLogId);
      await noLiveStream();
    });

    it('ends normally on a stop whose reason is long and not ASCII (a close reason allows 123 bytes)', async () => {
      const liveCall = await answerInboundCall(rig);
      const caller = await connectTo(liveCall);
      await greeted(caller);
      caller.sendRaw(
        JSON.stringify({
          event: 'stop',
          stream_sid: caller.streamSid,
          stop: { call_sid: liveCall.callSid, reason: 'नमस्ते😀'.repeat(30) },
        }),
      );
      expect(await closeOf(caller)).toMatchObject({ code: 1000 });
      const ended = await finalized(liveCall.callLogId);
      expect(ended.status).toBe('user-ended');
      await noLiveStream();
    });

    it('stays healthy after all this: /health answers 200 and a new call converses', async () => {
      const health = await fetch(`${rig.wsBase.replace(/^ws:/, 'http:')}/api/v1/health`);
      expect(health.status).toBe(200);
      const liveCall = await answerInboundCall(rig);
      const caller = await connectTo(liveCall);
      caller.startSilence();
      await greeted(caller);
      await converse(caller, 'I would like to book a table', 'Of course. For how many people?');
      await caller.stop();
      const ended = await finalized(liveCall.callLogId);
      expect(ended.status).toBe('user-ended');
      expect(ended.transcript).toContain('User: I would like to book a table');
      expect(ended.transcript).toContain('Agent: Of course. For how many people?');
      expect(caller.violations).toEqual([]);
      await noLiveStream();
    });
  });

  // ---------------------------------------------------------------- hang-up through the API

  describe('POST /calls/:id/hangup', () => {
    it('ends the live stream of an inbound call (close 1000), answers 2xx, and the call finalizes', async () => {
      const liveCall = await answerInboundCall(rig);
      const caller = await connectTo(liveCall);
      caller.startSilence();
      await greeted(caller);
      const response = await call(
        rig.context.app,
        'POST',
        `/api/v1/calls/${liveCall.callLogId}/hangup`,
        { token: liveCall.user.token },
      );
      expect(response.status).toBeGreaterThanOrEqual(200);
      expect(response.status).toBeLessThan(300);
      expect(response.body.hangupRequestedAt).not.toBeNull();
      expect(await closeOf(caller)).toMatchObject({ code: 1000 });
      const ended = await finalized(liveCall.callLogId);
      expect(['completed', 'agent-ended']).toContain(ended.status);
      expect(ended.transcript).toContain('Agent: Hello! How can I help you today?');
      expect((await sessionOf(liveCall.sessionId))?.status).not.toBe('active');
      await noLiveStream();

      const again = await call(
        rig.context.app,
        'POST',
        `/api/v1/calls/${liveCall.callLogId}/hangup`,
        { token: liveCall.user.token },
      );
      expect(again.status).toBe(409);
    });
  });

  // ---------------------------------------------------------------- the start time limit

  describe('the start time limit', () => {
    // The socket was opened in beforeAll, so the tests above ran while the limit elapsed.
    it('closes a socket that never sends start with 4408 once the limit has passed', async () => {
      const limitMs = DEFAULT_MEDIA_STREAM_LIMITS.startTimeoutMs;
      const remaining = Math.max(0, silentSocketOpenedAt + limitMs - performance.now());
      expect(await closeOf(silentSocket, remaining + 3_000)).toMatchObject({
        code: MediaStreamCloseCode.startTimeout,
      });
      const { at } = await silentSocketClosed;
      // Not before the limit (timers may fire a few ms early), and not long after it.
      expect(at - silentSocketOpenedAt).toBeGreaterThanOrEqual(limitMs - 50);
      expect(at - silentSocketOpenedAt).toBeLessThan(limitMs + 2_000);
    });
  });
});
