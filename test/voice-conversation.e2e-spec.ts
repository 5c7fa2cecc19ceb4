import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { ObjectId } from 'mongodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Queues } from '../src/infra/queue/queues.js';
import { SessionCache } from '../src/sessions/session-cache.js';
import { TelephonyService } from '../src/telephony/telephony.service.js';
import { type FakeCartesia, startFakeCartesia } from './support/fake-cartesia-server.js';
import type { FakeDeepgramConnection } from './support/fake-deepgram-server.js';
import { type FakeElevenLabs, startFakeElevenLabs } from './support/fake-elevenlabs-server.js';
import type {
  FakeExotelMediaClient,
  FakeExotelOptions,
} from './support/fake-exotel-media-client.js';
import type { FakeChatReply, RecordedOpenAiRequest } from './support/fake-openai-server.js';
import { call } from './support/http.js';
import { waitFor } from './support/wait-for.js';
import {
  answerInboundCall,
  connectCaller,
  type LiveCall,
  startVoiceRig,
  type VoiceRig,
} from './support/voice-rig.js';

/** Audio per character of the fake ElevenLabs and Cartesia voices. */
const VENDOR_MS_PER_CHARACTER = 20;
const METRICS_TOKEN = randomBytes(24).toString('base64url');

describe('a voice conversation on a live call', () => {
  let rig: VoiceRig;
  let elevenlabs: FakeElevenLabs;
  let cartesia: FakeCartesia;
  beforeAll(async () => {
    elevenlabs = await startFakeElevenLabs({ msPerCharacter: VENDOR_MS_PER_CHARACTER });
    cartesia = await startFakeCartesia({ msPerCharacter: VENDOR_MS_PER_CHARACTER });
    rig = await startVoiceRig({
      ELEVENLABS_API_KEY: 'fake-elevenlabs-key',
      ELEVENLABS_BASE_URL: elevenlabs.baseUrl,
      CARTESIA_API_KEY: 'fake-cartesia-key',
      CARTESIA_BASE_URL: cartesia.baseUrl,
      METRICS_TOKEN,
    });
  });
  afterAll(async () => {
    await rig.close();
    await Promise.all([elevenlabs.close(), cartesia.close()]);
  });

  async function callLog(callLogId: string) {
    return rig.context.db
      .collection('calllogs')
      .findOne({ _id: new (await import('mongodb')).ObjectId(callLogId) });
  }

  it('greets, answers the caller from the model, and finalizes the call once it stops', async () => {
    const liveCall = await answerInboundCall(rig);
    rig.deepgram.say(['I need help with my order']);
    rig.openai.reply({ text: 'Sure. What is your order number?' });
    const caller = await connectCaller(liveCall);
    caller.startSilence();
    await caller.waitUntil(() => caller.marksEchoed.length >= 1, 5_000, 'the greeting played');
    await caller.speak(600);
    await caller.waitUntil(() => caller.marksEchoed.length >= 2, 8_000, 'the answer played');
    await caller.stop();
    const ended = await waitFor(
      async () => {
        const log = await callLog(liveCall.callLogId);
        return log?.finalizedAt ? log : undefined;
      },
      15_000,
      'the call finalized',
    );
    expect(ended.status).toBe('user-ended');
    expect(ended.transcript).toContain('Agent: Hello! How can I help you today?');
    expect(ended.transcript).toContain('User: I need help with my order');
    expect(ended.transcript).toContain('Agent: Sure. What is your order number?');
    expect(caller.violations).toEqual([]);
  });

  describe('conversation behaviours', () => {
    const GREETING = 'Hello! How can I help you today?';

    interface ChatRecord {
      tag: string | undefined;
      /** When the fake model received the request (performance.now()). */
      at: number;
      request: RecordedOpenAiRequest;
    }

    interface TestCall {
      tag: string;
      live: LiveCall;
      caller: FakeExotelMediaClient;
      stt: FakeDeepgramConnection;
      /** When the fake Deepgram sent each final transcript (performance.now()). */
      finals: Map<string, number>;
    }

    interface Message {
      role: string;
      content: string;
    }

    /** Model replies per agent tag (the tag is in the agent's prompt, so in the system message). */
    const scripted = new Map<string, FakeChatReply[]>();
    const chats: ChatRecord[] = [];
    let callers: FakeExotelMediaClient[] = [];

    /** Answers every chat request: the tagged agent's next scripted reply, else an echo. */
    const dispatch = (request: RecordedOpenAiRequest): FakeChatReply => {
      rig.openai.reply(dispatch);
      const messages = messagesOf(request);
      const tag = /\[agent ([\w-]+)\]/.exec(messages[0]?.content ?? '')?.[1];
      chats.push({ tag, at: performance.now(), request });
      const reply = tag === undefined ? undefined : scripted.get(tag)?.shift();
      const lastUser = messages.filter((message) => message.role === 'user').at(-1)?.content;
      return reply ?? { text: lastUser ? `You said: ${lastUser}` : 'Hello from the fake model.' };
    };

    beforeAll(() => {
      rig.openai.reply(dispatch);
    });

    afterEach(async () => {
      const used = callers;
      callers = [];
      for (const caller of used) {
        await caller.stop();
      }
      for (const caller of used) {
        expect(caller.violations).toEqual([]);
      }
    });

    function messagesOf(request: RecordedOpenAiRequest): Message[] {
      const messages: unknown = request.body?.messages;
      return Array.isArray(messages)
        ? messages.map((message: any) => ({
            role: String(message?.role),
            content: typeof message?.content === 'string' ? message.content : '',
          }))
        : [];
    }

    function chatsOf(tag: string): ChatRecord[] {
      return chats.filter((chat) => chat.tag === tag);
    }

    function speechInputs(): string[] {
      return rig.openai.requests
        .filter((request) => request.path === '/v1/audio/speech')
        .map((request) => String(request.body?.input));
    }

    /** Records when each final Results message leaves the fake Deepgram. */
    function timeFinals(connection: FakeDeepgramConnection): Map<string, number> {
      const at = new Map<string, number>();
      const messages = connection.sentMessages;
      const push = messages.push.bind(messages);
      messages.push = (...items: Record<string, unknown>[]): number => {
        for (const item of items) {
          const transcript = (item as any).channel?.alternatives?.[0]?.transcript;
          if (item.type === 'Results' && item.is_final === true && typeof transcript === 'string') {
            at.set(transcript, at.get(transcript) ?? performance.now());
          }
        }
        return push(...items);
      };
      return at;
    }

    async function startCall(
      tag: string,
      options: {
        config?: Record<string, unknown>;
        caller?: Partial<FakeExotelOptions>;
        replies?: FakeChatReply[];
      } = {},
    ): Promise<TestCall> {
      scripted.set(tag, [...(options.replies ?? [])]);
      const live = await answerInboundCall(rig, {
        prompt: `You are the support agent of XYZ Company [agent ${tag}].`,
        ...options.config,
      });
      const sttBefore = rig.deepgram.connections.length;
      const caller = await connectCaller(live, options.caller);
      callers.push(caller);
      caller.startSilence();
      const opened = () =>
        rig.deepgram.connections.slice(sttBefore).find((connection) => connection.status === 101);
      await caller.waitUntil(() => opened() !== undefined, 5_000, 'speech-to-text opened');
      const stt = opened()!;
      return { tag, live, caller, stt, finals: timeFinals(stt) };
    }

    function markEchoed(caller: FakeExotelMediaClient, name: string, timeoutMs = 8_000) {
      return caller.waitUntil(
        () => caller.marksEchoed.some((mark) => mark.name === name),
        timeoutMs,
        `mark ${name} echoed`,
      );
    }

    function finalized(live: LiveCall) {
      return waitFor(
        async () => {
          const log = await rig.context.db
            .collection('calllogs')
            .findOne({ _id: new ObjectId(live.callLogId) });
          return log?.finalizedAt ? log : undefined;
        },
        15_000,
        'the call finalized',
      );
    }

    async function sessionOf(live: LiveCall) {
      const session = await rig.context.db
        .collection('sessions')
        .findOne({ sessionId: live.sessionId });
      expect(session).not.toBeNull();
      return session!;
    }

    async function creditsOf(live: LiveCall): Promise<number> {
      const user = await rig.context.db
        .collection('users')
        .findOne({ _id: new ObjectId(live.user.id) });
      return user?.credits as number;
    }

    function closedAt(caller: FakeExotelMediaClient): Promise<{ code: number; at: number }> {
      return caller.closed.then((info) => ({ code: info.code, at: performance.now() }));
    }

    function roles(messages: Message[]): Message[] {
      return messages.map(({ role, content }) => ({ role, content }));
    }

    function transcriptOf(messages: Message[]): string {
      return messages
        .map((message) => `${message.role === 'user' ? 'User' : 'Agent'}: ${message.content}`)
        .join('\n');
    }

    function peak(audio: Buffer): number {
      let highest = 0;
      for (let offset = 0; offset + 1 < audio.length; offset += 2) {
        highest = Math.max(highest, Math.abs(audio.readInt16LE(offset)));
      }
      return highest;
    }

    it('with userStartFirst, stays silent until the caller speaks, then answers', async () => {
      const greeting = 'Hi there, this greeting is never spoken aloud.';
      const answer = 'Thanks for calling, what can I do for you?';
      rig.deepgram.say(['Hello, is anyone there']);
      const { live, caller, stt, tag } = await startCall('user-first', {
        config: {
          firstMessage: greeting,
          flow: { userStartFirst: true, interruption: { allowed: true }, responseDelay: 0 },
        },
        replies: [{ text: answer }],
      });
      // Positive signal that the conversation is live: a second of caller audio reached
      // speech-to-text (a greeting would have been synthesized right after it opened).
      await caller.waitUntil(() => stt.audioBytes >= 16_000, 5_000, '1 s of caller audio heard');
      await waitFor(
        async () => ((await callLog(live.callLogId))?.status === 'in-progress' ? true : undefined),
        5_000,
        'the call in progress',
      );
      expect(caller.audio).toHaveLength(0);
      expect(caller.marksReceived).toHaveLength(0);
      expect(speechInputs()).not.toContain(greeting);

      const speech = await caller.speak(600);
      await markEchoed(caller, 'r1.0');
      expect(caller.audio[0]!.at).toBeGreaterThan(speech.startedAt);
      expect(chatsOf(tag)).toHaveLength(1);
      expect(speechInputs()).toContain(answer);
      expect(speechInputs()).not.toContain(greeting);

      await caller.stop();
      const ended = await finalized(live);
      expect(ended.transcript).toBe(`User: Hello, is anyone there\nAgent: ${answer}`);
    });

    it('carries the whole history in order through a three-turn conversation', async () => {
      const users = ['I need help with my order', 'It is order 4411', 'Please cancel it'];
      const answers = [
        'Sure, what is the order number?',
        'Thanks, I found order 4411 for you.',
        'Done, the order is cancelled now.',
      ];
      rig.deepgram.say(users);
      const { live, caller, tag } = await startCall('three-turns', {
        replies: answers.map((text) => ({ text })),
      });
      await markEchoed(caller, 'r1.0', 5_000);
      for (const [index] of users.entries()) {
        await caller.speak(600);
        await markEchoed(caller, `r${index + 2}.0`);
      }
      const requests = chatsOf(tag);
      expect(requests).toHaveLength(3);
      const third = messagesOf(requests[2]!.request);
      expect(third[0]!.role).toBe('system');
      expect(third[0]!.content).toContain(
        `You are the support agent of XYZ Company [agent ${tag}].`,
      );
      expect(roles(third.slice(1))).toEqual([
        { role: 'assistant', content: GREETING },
        { role: 'user', content: users[0] },
        { role: 'assistant', content: answers[0] },
        { role: 'user', content: users[1] },
        { role: 'assistant', content: answers[1] },
        { role: 'user', content: users[2] },
      ]);

      await caller.stop();
      const ended = await finalized(live);
      const whole: Message[] = [
        { role: 'assistant', content: GREETING },
        { role: 'user', content: users[0]! },
        { role: 'assistant', content: answers[0]! },
        { role: 'user', content: users[1]! },
        { role: 'assistant', content: answers[1]! },
        { role: 'user', content: users[2]! },
        { role: 'assistant', content: answers[2]! },
      ];
      const session = await sessionOf(live);
      expect(roles(session.conversationHistory as Message[])).toEqual(whole);
      expect(ended.transcript).toBe(transcriptOf(whole));
    });

    it('stops a reply when the caller barges in: clear, cancelled requests, heard part recorded, then answers', async () => {
      const opening =
        'I completely understand how frustrating a delayed order can be, and I am going to look into every detail of it for you right now.';
      const rest = [
        'First I will check the warehouse records to see when your parcel left our building and which courier took it.',
        'Then I will compare that with the tracking data so we know exactly where the package is sitting today.',
        'After that I can arrange a replacement or a refund, whichever you prefer, and send you a confirmation.',
        'Finally I will add a note to your account so that anyone you speak with later knows the whole story.',
      ];
      const longReply = [opening, ...rest].join(' ');
      const answer = 'Of course, go ahead and tell me.';
      rig.deepgram.say(['Where is my order', 'Wait, let me say something']);
      const { live, caller, tag } = await startCall('barge-in', {
        caller: { playbackRate: 1 },
        replies: [{ text: longReply, tokenDelayMs: 20 }, { text: answer }],
      });
      await markEchoed(caller, 'r1.0', 5_000);
      const greetingMs = caller.playedAudioMs;
      await caller.speak(600);
      await caller.waitUntil(
        () => caller.playedAudioMs >= greetingMs + 150,
        8_000,
        'the long reply playing',
      );
      void caller.speak(600);
      await caller.waitUntil(() => caller.clears.length > 0, 5_000, 'a clear');
      await markEchoed(caller, 'r3.0');

      expect(caller.clears).toHaveLength(1);
      const requests = chatsOf(tag);
      expect(requests).toHaveLength(2);
      // The model was still writing the long reply: its stream was cut.
      expect(await requests[0]!.request.outcome).toBe('closed-early');
      const spokenOfReply = speechInputs().filter((input) => longReply.includes(input));
      expect(spokenOfReply.length).toBeLessThan(rest.length + 1);
      expect(spokenOfReply).not.toContain(rest.at(-1));

      const second = messagesOf(requests[1]!.request);
      expect(second.map((message) => message.role)).toEqual([
        'system',
        'assistant',
        'user',
        'assistant',
        'user',
      ]);
      const heard = second[3]!.content;
      expect(heard.length).toBeLessThan(longReply.length);
      expect(heard.endsWith('…')).toBe(true);
      expect(heard.length).toBeGreaterThan(1);
      expect(longReply.startsWith(heard.slice(0, -1))).toBe(true);
      expect(second[4]).toEqual({ role: 'user', content: 'Wait, let me say something' });
      // The caller heard the answer to what they said.
      expect(speechInputs()).toContain(answer);

      await caller.stop();
      const ended = await finalized(live);
      expect(ended.transcript).toContain(`Agent: ${heard}`);
      expect(ended.transcript).not.toContain(rest.at(-1));
      expect(ended.transcript).toContain(`Agent: ${answer}`);
    });

    it('without interruption, plays the whole reply through caller speech and answers afterwards', async () => {
      const reply = [
        'Let me walk you through the return process for your order step by step.',
        'First, pack the item in its original box with all the accessories included.',
        'Next, print the prepaid label from the email we sent you this morning.',
        'Finally, drop the parcel at any courier office within the next fourteen days.',
      ].join(' ');
      const answer = 'Yes, the label is free of charge.';
      rig.deepgram.say(['How do I return it', 'Is the label free']);
      const { live, caller, tag, finals } = await startCall('no-interrupt', {
        config: {
          flow: { userStartFirst: false, interruption: { allowed: false }, responseDelay: 0 },
        },
        caller: { playbackRate: 1 },
        replies: [{ text: reply }, { text: answer }],
      });
      await markEchoed(caller, 'r1.0', 5_000);
      const greetingMs = caller.playedAudioMs;
      await caller.speak(600);
      await caller.waitUntil(
        () => caller.playedAudioMs >= greetingMs + 150,
        8_000,
        'the reply playing',
      );
      await caller.speak(600);
      await markEchoed(caller, 'r3.0', 10_000);

      expect(caller.clears).toEqual([]);
      const replyMarks = caller.marksReceived.filter((mark) => mark.name.startsWith('r2.'));
      expect(replyMarks.length).toBeGreaterThan(0);
      const lastReplyEcho = caller.marksEchoed.find(
        (mark) => mark.name === replyMarks.at(-1)!.name,
      )!;
      // The caller's words were recognized while the reply was still playing...
      expect(finals.get('Is the label free')).toBeLessThan(lastReplyEcho.at);
      // ...and answered only once it had been played.
      const requests = chatsOf(tag);
      expect(requests).toHaveLength(2);
      expect(requests[1]!.at).toBeGreaterThan(lastReplyEcho.at);

      await caller.stop();
      const ended = await finalized(live);
      expect(ended.transcript).toContain(`Agent: ${reply}`);
      expect(ended.transcript).toContain(`Agent: ${answer}`);
      // The model is asked to answer the caller's words: the reply they spoke over comes first.
      const whole: Message[] = [
        { role: 'assistant', content: GREETING },
        { role: 'user', content: 'How do I return it' },
        { role: 'assistant', content: reply },
        { role: 'user', content: 'Is the label free' },
      ];
      expect(roles(messagesOf(requests[1]!.request)).slice(1)).toEqual(whole);
      expect(ended.transcript).toBe(
        transcriptOf([...whole, { role: 'assistant', content: answer }]),
      );
    });

    it('waits responseDelay after the final transcript before asking the model', async () => {
      rig.deepgram.say(['Can you hear me now']);
      const { caller, tag, finals } = await startCall('response-delay', {
        config: {
          flow: { userStartFirst: false, interruption: { allowed: true }, responseDelay: 800 },
        },
        replies: [{ text: 'Yes, I can hear you clearly.' }],
      });
      await markEchoed(caller, 'r1.0', 5_000);
      const speech = await caller.speak(600);
      await markEchoed(caller, 'r2.0');
      const finalAt = finals.get('Can you hear me now');
      expect(finalAt).toBeDefined();
      const [request] = chatsOf(tag);
      expect(request).toBeDefined();
      // Timers may fire a few ms early; the delay is measured from the fake's own final.
      expect(request!.at - finalAt!).toBeGreaterThanOrEqual(780);
      expect(request!.at - finalAt!).toBeLessThan(5_000);
      // Speech end + endpointing (200 ms) + the delay.
      expect(request!.at - speech.endedAt).toBeGreaterThanOrEqual(950);
    });

    it('ends the call as agent-ended after sessionTimeout seconds of silence (10 s, the minimum)', async () => {
      const { live, caller } = await startCall('silence', { config: { sessionTimeout: 10 } });
      const closing = closedAt(caller);
      await markEchoed(caller, 'r1.0', 5_000);
      const greetingEchoedAt = caller.marksEchoed[0]!.at;
      await caller.waitUntil(() => !caller.isOpen, 16_000, 'the call to end on silence');
      const closed = await closing;
      expect(closed.code).toBe(1000);
      expect(closed.at - greetingEchoedAt).toBeGreaterThanOrEqual(9_800);
      const ended = await finalized(live);
      expect(ended.status).toBe('agent-ended');
      expect(ended.transcript).toBe(`Agent: ${GREETING}`);
    }, 30_000);

    it('ends the call as agent-ended at the call time limit, counted from the session start', async () => {
      const tag = 'time-limit';
      scripted.set(tag, []);
      const live = await answerInboundCall(rig, {
        prompt: `You are the support agent of XYZ Company [agent ${tag}].`,
        sessionTimeout: 300,
      });
      // The limit runs from the session's start, not the stream's: a call that rang for most of
      // it has 1.5 s left when its stream opens.
      const limitMs = rig.context.config.calls.timeLimitSeconds * 1000;
      await rig.context.db
        .collection('sessions')
        .updateOne(
          { sessionId: live.sessionId },
          { $set: { startedAt: new Date(Date.now() - limitMs + 1_500) } },
        );
      await rig.context.app.get(SessionCache).drop(live.sessionId);
      const connectedAt = performance.now();
      const caller = await connectCaller(live);
      callers.push(caller);
      caller.startSilence();
      const closing = closedAt(caller);
      await caller.waitUntil(() => !caller.isOpen, 10_000, 'the call to end at its time limit');
      const closed = await closing;
      expect(closed.code).toBe(1000);
      // Far before the 300 s of silence the agent allows.
      expect(closed.at - connectedAt).toBeLessThan(5_000);
      const ended = await finalized(live);
      expect(ended.status).toBe('agent-ended');
      expect(chatsOf(tag)).toHaveLength(0);
    });

    it('plays the goodbye in full before end_call closes the stream', async () => {
      const goodbye = 'Thank you for calling XYZ Company today. Have a wonderful day, goodbye!';
      rig.deepgram.say(['That is all, thank you']);
      const { live, caller } = await startCall('end-call', {
        caller: { playbackRate: 1 },
        replies: [
          { text: goodbye, toolCalls: [{ name: 'end_call', arguments: { reason: 'done' } }] },
        ],
      });
      const closing = closedAt(caller);
      await markEchoed(caller, 'r1.0', 5_000);
      await caller.speak(600);
      await caller.waitUntil(() => !caller.isOpen, 10_000, 'the agent to hang up');
      const closed = await closing;
      expect(closed.code).toBe(1000);

      const goodbyeMarks = caller.marksReceived.filter((mark) => mark.name.startsWith('r2.'));
      expect(goodbyeMarks.length).toBeGreaterThan(0);
      for (const mark of goodbyeMarks) {
        const echo = caller.marksEchoed.find((echoed) => echoed.name === mark.name);
        expect(echo, `mark ${mark.name} echoed`).toBeDefined();
        expect(echo!.at).toBeLessThanOrEqual(closed.at);
      }
      expect(caller.clears).toEqual([]);
      expect(caller.queuedAudioMs).toBe(0);
      expect(speechInputs().join(' ')).toContain('Have a wonderful day, goodbye!');

      const ended = await finalized(live);
      expect(ended.status).toBe('agent-ended');
      expect(ended.transcript).toContain(`Agent: ${goodbye}`);
    });

    it('delivers keypad digits: 1 2 3 # at once, a lone digit after the inter-digit gap', async () => {
      const { live, caller, tag } = await startCall('dtmf');
      await markEchoed(caller, 'r1.0', 5_000);
      // The greeting is in the history before the keys are pressed (see the next test).
      await waitFor(
        async () => ((await sessionOf(live)).conversationHistory.length > 0 ? true : undefined),
        5_000,
        'the greeting recorded',
      );
      for (const digit of ['1', '2', '3', '#']) {
        caller.dtmf(digit);
      }
      await caller.waitUntil(() => chatsOf(tag).length >= 1, 5_000, 'the model asked');
      const first = messagesOf(chatsOf(tag)[0]!.request);
      expect(first.at(-1)!.role).toBe('user');
      expect(first.at(-1)!.content).toContain('123#');
      await markEchoed(caller, 'r2.0');

      const pressedAt = performance.now();
      caller.dtmf('5');
      await caller.waitUntil(() => chatsOf(tag).length >= 2, 6_000, 'the lone digit delivered');
      const second = chatsOf(tag)[1]!;
      const lastUser = messagesOf(second.request).at(-1)!;
      expect(lastUser.role).toBe('user');
      expect(lastUser.content).toContain('5');
      expect(lastUser.content).not.toContain('123');
      expect(second.at - pressedAt).toBeGreaterThanOrEqual(1_450);
      expect(second.at - pressedAt).toBeLessThan(5_000);
    });

    it('stops a reply when the caller types over it, and puts the heard part before the keys', async () => {
      const reply = [
        'To look up your booking I will need its reference number from the confirmation.',
        'Please type the number on your keypad now and finish it with the hash key.',
      ].join(' ');
      rig.deepgram.say(['I want to check my booking']);
      const { live, caller, tag } = await startCall('dtmf-during-reply', {
        caller: { playbackRate: 1 },
        replies: [{ text: reply }, { text: 'Thanks, I found booking 42.' }],
      });
      await markEchoed(caller, 'r1.0', 5_000);
      const greetingMs = caller.playedAudioMs;
      await caller.speak(600);
      await caller.waitUntil(
        () => caller.playedAudioMs >= greetingMs + 150,
        8_000,
        'the reply playing',
      );
      for (const digit of ['4', '2', '#']) {
        caller.dtmf(digit);
      }
      await markEchoed(caller, 'r3.0', 10_000);
      expect(caller.clears.length).toBeGreaterThanOrEqual(1);
      const requests = chatsOf(tag);
      expect(requests).toHaveLength(2);
      await caller.stop();
      const ended = await finalized(live);
      expect(ended.transcript).not.toContain(`Agent: ${reply}`);
      expect(ended.transcript).toContain('42#');
      const asked = roles(messagesOf(requests[1]!.request)).slice(1);
      expect(asked.slice(0, 2)).toEqual([
        { role: 'assistant', content: GREETING },
        { role: 'user', content: 'I want to check my booking' },
      ]);
      expect(asked).toHaveLength(4);
      expect(asked[2]!.role).toBe('assistant');
      const heard = asked[2]!.content.replace(/…$/, '');
      expect(heard.length).toBeLessThan(reply.length);
      expect(reply.startsWith(heard)).toBe(true);
      expect(asked[3]!.role).toBe('user');
      expect(asked[3]!.content).toContain('42#');
    });

    it('on stop, finalizes and charges once from the real usage; a repeated status callback charges nothing', async () => {
      rig.deepgram.say(['What are your opening hours']);
      const { live, caller } = await startCall('billing', {
        replies: [{ text: 'We are open from nine to six every weekday.' }],
      });
      await markEchoed(caller, 'r1.0', 5_000);
      await caller.speak(600);
      await markEchoed(caller, 'r2.0');
      await caller.stop();
      const ended = await finalized(live);

      const session = await sessionOf(live);
      expect(session.usage.sttSeconds).toBeGreaterThan(0);
      expect(session.usage.llmTokens).toBeGreaterThan(0);
      expect(session.usage.ttsCharacters).toBeGreaterThan(0);
      const shown = await call(rig.context.app, 'GET', `/api/v1/sessions/${live.sessionId}`, {
        token: live.user.token,
      });
      expect(shown.body.usage.llmPromptTokens).toBeGreaterThan(0);
      expect(shown.body.usage.llmCompletionTokens).toBeGreaterThan(0);
      expect(shown.body.usage.llmTokens).toBe(
        shown.body.usage.llmPromptTokens + shown.body.usage.llmCompletionTokens,
      );
      expect(ended.costBreakdown.stt).toBeGreaterThan(0);
      expect(ended.costBreakdown.llm).toBeGreaterThan(0);
      expect(ended.costBreakdown.tts).toBeGreaterThan(0);
      expect(ended.costBreakdown.total).toBeGreaterThan(0);
      expect(ended.billing).toMatchObject({
        state: 'done',
        amount: ended.costBreakdown.total,
        charged: ended.costBreakdown.total,
      });
      const creditsAfter = await creditsOf(live);
      expect(creditsAfter).toBeCloseTo(100 - (ended.billing.charged as number), 6);
      const user = await rig.context.db
        .collection('users')
        .findOne({ _id: new ObjectId(live.user.id) });
      const charges = ((user?.pendingCharges ?? []) as string[]).filter((entry) =>
        entry.startsWith(`${live.callLogId}|`),
      );
      expect(charges).toHaveLength(1);

      const url = new URL(rig.context.app.get(TelephonyService).statusCallbackUrl(live.callLogId));
      const repeated = await call(rig.context.app, 'POST', `${url.pathname}${url.search}`, {
        body: { CallSid: live.callSid, Status: 'completed', ConversationDuration: '7' },
      });
      expect(repeated.status).toBe(200);
      const queue = rig.context.app.get<Queue>(getQueueToken(Queues.callEvents));
      await waitFor(
        async () => {
          const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
          return Object.values(counts).every((count) => count === 0) ? true : undefined;
        },
        15_000,
        'the call-events queue drained',
      );
      const after = await callLog(live.callLogId);
      expect(after?.billing).toEqual(ended.billing);
      expect(after?.finalizedAt).toEqual(ended.finalizedAt);
      expect(after?.status).toBe('user-ended');
      expect(await creditsOf(live)).toBe(creditsAfter);
    });

    it("speaks with the agent's voice provider: ElevenLabs, then Cartesia", async () => {
      const cases = [
        {
          provider: 'elevenlabs',
          voice: {
            provider: 'elevenlabs',
            voiceId: '21m00Tcm4TlvDq8ikWAM',
            model: 'eleven_turbo_v2',
          },
          greeting: 'Welcome to the ElevenLabs line, how may I help?',
          answer: 'This answer is spoken by ElevenLabs.',
          texts: () =>
            elevenlabs.connections
              .filter((connection) => connection.path.includes('21m00Tcm4TlvDq8ikWAM'))
              .flatMap((connection) => connection.messages)
              .map((message: any) => String(message?.text ?? ''))
              .join(''),
        },
        {
          provider: 'cartesia',
          voice: {
            provider: 'cartesia',
            voiceId: 'a0e99841-438c-4a64-b679-ae501e7d6091',
            model: 'sonic-2',
          },
          greeting: 'Welcome to the Cartesia line, how may I help?',
          answer: 'This answer is spoken by Cartesia.',
          texts: () =>
            cartesia.connections
              .flatMap((connection) => connection.messages)
              .filter(
                (message: any) => message?.voice?.id === 'a0e99841-438c-4a64-b679-ae501e7d6091',
              )
              .map((message: any) => String(message?.transcript ?? ''))
              .join(''),
        },
      ];
      for (const voiceCase of cases) {
        rig.deepgram.say([`Testing the ${voiceCase.provider} voice`]);
        const { caller } = await startCall(`voice-${voiceCase.provider}`, {
          config: { voice: voiceCase.voice, firstMessage: voiceCase.greeting },
          replies: [{ text: voiceCase.answer }],
        });
        await markEchoed(caller, 'r1.0', 5_000);
        await caller.speak(600);
        await markEchoed(caller, 'r2.0');

        const sent = voiceCase.texts();
        expect(sent, voiceCase.provider).toContain(voiceCase.greeting);
        expect(sent, voiceCase.provider).toContain(voiceCase.answer);
        expect(speechInputs()).not.toContain(voiceCase.greeting);
        expect(speechInputs()).not.toContain(voiceCase.answer);
        const receivedMs = caller.audio.reduce((sum, audio) => sum + audio.durationMs, 0);
        const expectedMs =
          (voiceCase.greeting.length + voiceCase.answer.length) * VENDOR_MS_PER_CHARACTER;
        expect(receivedMs, voiceCase.provider).toBeGreaterThanOrEqual(expectedMs * 0.95);
        expect(receivedMs, voiceCase.provider).toBeLessThanOrEqual(expectedMs + 100);
        // The fake vendors' tone peaks at 6000, OpenAI's fake speech at 8000.
        expect(peak(caller.heardAudio()), voiceCase.provider).toBeLessThanOrEqual(6_100);
        expect(peak(caller.heardAudio()), voiceCase.provider).toBeGreaterThan(3_000);
        await caller.stop();
      }
    });

    it('records per-turn latencies on the session and exports them as metrics', async () => {
      rig.deepgram.say(['How long does shipping take']);
      const { live, caller } = await startCall('latency', {
        replies: [{ text: 'Shipping takes three to five days.', firstTokenDelayMs: 50 }],
      });
      await markEchoed(caller, 'r1.0', 5_000);
      await caller.speak(600);
      await markEchoed(caller, 'r2.0');
      await caller.stop();
      await finalized(live);

      const session = await sessionOf(live);
      const latencies = session.turnLatencies as Record<string, unknown>[] | undefined;
      expect(latencies).toBeDefined();
      expect(latencies!.length).toBeGreaterThanOrEqual(1);
      const turn = latencies![0]!;
      expect(turn.llmFirstTokenMs).toEqual(expect.any(Number));
      expect(turn.llmFirstTokenMs as number).toBeGreaterThanOrEqual(40);
      expect(turn.firstAudioSentMs).toEqual(expect.any(Number));
      expect(turn.firstAudioSentMs as number).toBeGreaterThanOrEqual(
        turn.llmFirstTokenMs as number,
      );

      const metrics = await call(rig.context.app, 'GET', '/api/v1/metrics', {
        token: METRICS_TOKEN,
      });
      expect(metrics.status).toBe(200);
      // prom-client writes the `le` label first: {le="0.05",stage="first_audio_sent"}.
      expect(metrics.text).toMatch(
        /^voice_turn_latency_seconds_bucket\{[^}]*stage="first_audio_sent"[^}]*\} [1-9]/m,
      );
    });
  });
});
