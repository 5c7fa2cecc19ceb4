import type { AddressInfo } from 'node:net';
import { ObjectId } from 'mongodb';
import {
  createAgent,
  createPhone,
  randomIndianNumber,
  validAgentConfig,
} from './catalogue-factories.js';
import { registerUser, setCredits, type TestUser } from './factories.js';
import {
  connectFakeExotel,
  type FakeExotelMediaClient,
  type FakeExotelOptions,
} from './fake-exotel-media-client.js';
import { type FakeDeepgram, startFakeDeepgram } from './fake-deepgram-server.js';
import { type FakeOpenAi, startFakeOpenAi } from './fake-openai-server.js';
import { call } from './http.js';
import { createTestContext, type TestContext } from './test-app.js';

/** A running app (media role included) listening on 127.0.0.1, with fake vendors behind it. */
export interface VoiceRig {
  context: TestContext;
  deepgram: FakeDeepgram;
  openai: FakeOpenAi;
  /** ws://127.0.0.1:<port> */
  wsBase: string;
  close(): Promise<void>;
}

export async function startVoiceRig(environment: Record<string, string> = {}): Promise<VoiceRig> {
  const deepgram = await startFakeDeepgram();
  const openai = await startFakeOpenAi({ millisecondsPerCharacter: 5 });
  const context = await createTestContext({
    DEEPGRAM_API_KEY: deepgram.apiKey,
    DEEPGRAM_BASE_URL: deepgram.baseUrl,
    OPENAI_API_KEY: openai.apiKey,
    OPENAI_BASE_URL: openai.baseUrl,
    VOICE_ENDPOINTING_MS: '200',
    ...environment,
  });
  await context.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = context.app.getHttpServer().address() as AddressInfo;
  return {
    context,
    deepgram,
    openai,
    wsBase: `ws://127.0.0.1:${port}`,
    close: async () => {
      await context.close();
      await Promise.all([deepgram.close(), openai.close()]);
    },
  };
}

export interface LiveCall {
  user: TestUser;
  callSid: string;
  callLogId: string;
  sessionId: string;
  /** The signed stream URL the voicebot endpoint handed out, with the rig's host. */
  streamUrl: string;
  webhookToken: string;
}

/** An inbound call answered by an agent with `config` changes (voice: OpenAI unless given). */
/** A customer ready to take inbound calls: credits, an agent on the OpenAI voice, a number. */
export interface InboundLine {
  user: TestUser;
  agentId: string;
  webhookToken: string;
  phoneNumber: string;
}

export async function prepareInboundLine(
  rig: VoiceRig,
  config: Record<string, unknown> = {},
): Promise<InboundLine> {
  const { context } = rig;
  const user = await registerUser(context);
  await setCredits(context, user.id, 100);
  const webhooks = await call(context.app, 'GET', '/api/v1/users/me/webhooks', {
    token: user.token,
  });
  const webhookToken = (webhooks.body.incomingCallUrl as string).split('/').at(-1)!;
  const base = validAgentConfig();
  const agent = await createAgent(context, user, {
    config: {
      ...base,
      voice: { provider: 'openai', voiceId: 'alloy' },
      flow: { userStartFirst: false, interruption: { allowed: true }, responseDelay: 0 },
      ...config,
    },
  });
  const phoneNumber = randomIndianNumber();
  await createPhone(context, user, { number: phoneNumber, agentId: agent.id });
  return { user, agentId: agent.id as string, webhookToken, phoneNumber };
}

/** Exotel's two requests for a call to the line: the incoming webhook, then the Voicebot URL. */
export async function ringInboundLine(rig: VoiceRig, line: InboundLine): Promise<LiveCall> {
  const { context } = rig;
  const { user, webhookToken, phoneNumber } = line;
  const callSid = `CA${new ObjectId().toString()}`;
  const incoming = await call(
    context.app,
    'GET',
    `/api/v1/telephony/exotel/incoming/${webhookToken}`,
    {
      query: { CallSid: callSid, CallFrom: '09123456789', CallTo: `0${phoneNumber.slice(3)}` },
    },
  );
  if (incoming.status !== 200) {
    throw new Error(`incoming call refused: ${incoming.status} ${incoming.text}`);
  }
  const voicebot = await call(
    context.app,
    'GET',
    `/api/v1/telephony/exotel/voicebot/${webhookToken}`,
    {
      query: { CallSid: callSid },
    },
  );
  if (voicebot.status !== 200) {
    throw new Error(`voicebot URL refused: ${voicebot.status} ${voicebot.text}`);
  }
  const signed = new URL(voicebot.body.url as string);
  return {
    user,
    callSid,
    webhookToken,
    callLogId: incoming.body.callLogId as string,
    sessionId: incoming.body.sessionId as string,
    streamUrl: `${rig.wsBase}${signed.pathname}${signed.search}`,
  };
}

/** A new customer's line, rung once: the call is live and waits for its media stream. */
export async function answerInboundCall(
  rig: VoiceRig,
  config: Record<string, unknown> = {},
): Promise<LiveCall> {
  return ringInboundLine(rig, await prepareInboundLine(rig, config));
}

/** Exotel's side of the call's media stream, connected to the signed URL. */
export function connectCaller(
  liveCall: LiveCall,
  options: Partial<FakeExotelOptions> = {},
): Promise<FakeExotelMediaClient> {
  return connectFakeExotel({
    url: liveCall.streamUrl,
    callSid: liveCall.callSid,
    playbackRate: 4,
    ...options,
  });
}
