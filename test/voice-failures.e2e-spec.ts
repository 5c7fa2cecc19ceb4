import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FALLBACK_LINE } from '../src/voice/conversation/voice-conversation.js';
import type { FakeExotelMediaClient } from './support/fake-exotel-media-client.js';
import type { RecordedOpenAiRequest } from './support/fake-openai-server.js';
import { call } from './support/http.js';
import { waitFor } from './support/wait-for.js';
import {
  answerInboundCall,
  connectCaller,
  startVoiceRig,
  type LiveCall,
  type VoiceRig,
} from './support/voice-rig.js';

const GREETING = 'Hello! How can I help you today?';
const CHAT_PATH = '/v1/chat/completions';
const SPEECH_PATH = '/v1/audio/speech';

interface CallLogError {
  code: string;
  message: string;
}

interface FinalCallLog {
  status: string;
  transcript?: string;
  error?: CallLogError;
}

async function finalizedCallLog(rig: VoiceRig, liveCall: LiveCall): Promise<FinalCallLog> {
  return waitFor(
    async () => {
      const log = await rig.context.db
        .collection('calllogs')
        .findOne({ _id: new ObjectId(liveCall.callLogId) });
      return log?.finalizedAt ? (log as unknown as FinalCallLog) : undefined;
    },
    15_000,
    'the call finalized',
  );
}

function lastUserMessage(request: RecordedOpenAiRequest): string | undefined {
  const messages: { role?: string; content?: unknown }[] = Array.isArray(request.body?.messages)
    ? request.body.messages
    : [];
  const content = messages.filter((message) => message.role === 'user').at(-1)?.content;
  return typeof content === 'string' ? content : undefined;
}

/** Chat requests that answer the caller's turn `userText` (the turn's last user message). */
function chatRequestsFor(rig: VoiceRig, userText: string): RecordedOpenAiRequest[] {
  return rig.openai.requests.filter(
    (request) => request.path === CHAT_PATH && lastUserMessage(request) === userText,
  );
}

function marksNamed(marks: { name: string }[], prefix: string): string[] {
  return marks.map((mark) => mark.name).filter((name) => name.startsWith(prefix));
}

async function greeted(caller: FakeExotelMediaClient): Promise<void> {
  await caller.waitUntil(
    () => marksNamed(caller.marksEchoed, 'r1.').length >= 1,
    5_000,
    'the greeting played',
  );
}

/** The caller says `text` (the fake Deepgram's next final) and the agent's answer plays. */
async function takeTurn(
  rig: VoiceRig,
  caller: FakeExotelMediaClient,
  text: string,
  answer: string,
  replyNumber = 2,
): Promise<void> {
  rig.deepgram.say([text]);
  rig.openai.reply({ text: answer });
  await caller.speak(600);
  await caller.waitUntil(
    () => marksNamed(caller.marksEchoed, `r${replyNumber}.`).length >= 1,
    8_000,
    `answer r${replyNumber} played`,
  );
}

const closedAt = new WeakMap<FakeExotelMediaClient, Promise<number>>();

/** Exotel connects the call's stream; background silence flows, the close time is noted. */
async function dial(liveCall: LiveCall): Promise<FakeExotelMediaClient> {
  const caller = await connectCaller(liveCall);
  closedAt.set(
    caller,
    caller.closed.then(() => performance.now()),
  );
  caller.startSilence();
  return caller;
}

/** Most a call may stay open once its goodbye (the fallback line) has been heard. */
const HANG_UP_AFTER_GOODBYE_MS = 1_000;

/**
 * The fallback line was sent (audio, then its marks) and played, and the stream then closed
 * normally. Returns how long the stream stayed open after the line had been heard.
 */
async function heardFallbackThenHangUp(caller: FakeExotelMediaClient): Promise<number> {
  const closed = await caller.closed;
  const closedTime = await closedAt.get(caller)!;
  const fallbackMarks = marksNamed(caller.marksReceived, 'fallback.');
  expect(fallbackMarks.length).toBeGreaterThanOrEqual(1);
  expect(marksNamed(caller.marksEchoed, 'fallback.')).toEqual(fallbackMarks);
  // The line's own audio: sent after the marks of anything said before it, before its first mark.
  const firstIndex = caller.marksReceived.findIndex((mark) => mark.name === fallbackMarks[0]);
  const lineStart = caller.marksReceived[firstIndex - 1]?.at ?? -Infinity;
  const lineMark = caller.marksReceived[firstIndex]!.at;
  const lineAudio = caller.audio.filter((audio) => audio.at > lineStart && audio.at <= lineMark);
  expect(lineAudio.length).toBeGreaterThan(0);
  expect(closed.code).toBe(1000);
  const lastEcho = caller.marksEchoed.filter((mark) => mark.name.startsWith('fallback.')).at(-1)!;
  return closedTime - lastEcho.at;
}

function expectFailed(log: FinalCallLog, code: string, message: RegExp): void {
  expect(log.status).toBe('failed');
  expect(log.error).toEqual({ code, message: expect.stringMatching(message) });
}

describe('vendor failures during a call', () => {
  describe('with every vendor configured', () => {
    let rig: VoiceRig;
    beforeAll(async () => {
      rig = await startVoiceRig();
    });
    afterAll(() => rig.close());

    describe('speech-to-text (Deepgram)', () => {
      it('refused key at the start: plays the fallback line, no retry, fails with STT_UNAVAILABLE', async () => {
        const liveCall = await answerInboundCall(rig);
        const connectionsBefore = rig.deepgram.connections.length;
        rig.deepgram.script({ status: 401 });
        const caller = await dial(liveCall);
        const hungUpAfterMs = await heardFallbackThenHangUp(caller);
        const log = await finalizedCallLog(rig, liveCall);
        expectFailed(log, 'STT_UNAVAILABLE', /401/);
        expect(log.error?.message).not.toContain(rig.deepgram.apiKey);
        expect(log.transcript).toContain(`Agent: ${FALLBACK_LINE}`);
        // A refused key is not retried, and the agent never greets a caller it cannot hear.
        expect(rig.deepgram.connections.slice(connectionsBefore).map((c) => c.status)).toEqual([
          401,
        ]);
        expect(marksNamed(caller.marksReceived, 'r')).toEqual([]);
        // The call hangs up once the goodbye has been heard, not after dead air.
        expect(hungUpAfterMs).toBeLessThan(HANG_UP_AFTER_GOODBYE_MS);
        expect(caller.violations).toEqual([]);
      });

      it('a 500 at the start is retried once: the call greets and answers normally', async () => {
        const liveCall = await answerInboundCall(rig);
        const connectionsBefore = rig.deepgram.connections.length;
        rig.deepgram.script({ status: 500 });
        const caller = await dial(liveCall);
        await greeted(caller);
        await takeTurn(rig, caller, 'Where is my parcel', 'It ships tomorrow morning.');
        await caller.stop();
        const log = await finalizedCallLog(rig, liveCall);
        expect(log.status).toBe('user-ended');
        expect(log.error).toBeUndefined();
        expect(log.transcript).toContain('User: Where is my parcel');
        expect(log.transcript).toContain('Agent: It ships tomorrow morning.');
        expect(log.transcript).not.toContain(FALLBACK_LINE);
        expect(rig.deepgram.connections.slice(connectionsBefore).map((c) => c.status)).toEqual([
          500, 101,
        ]);
        expect(caller.violations).toEqual([]);
      });

      it('a stream dropped mid-call is reopened once and the conversation continues', async () => {
        const liveCall = await answerInboundCall(rig);
        const connectionsBefore = rig.deepgram.connections.length;
        rig.deepgram.script({ dropAfterMs: 400 });
        const caller = await dial(liveCall);
        await greeted(caller);
        const reopened = await waitFor(
          () => {
            const ours = rig.deepgram.connections.slice(connectionsBefore);
            return Promise.resolve(
              ours.length === 2 && ours[0]!.closed && ours[1]!.status === 101 ? ours : undefined,
            );
          },
          5_000,
          'the speech-to-text stream dropped and reopened',
        );
        expect(reopened[0]!.closeCode).toBe(1011);
        await takeTurn(rig, caller, 'Can I change my address', 'Yes, tell me the new address.');
        await caller.stop();
        const log = await finalizedCallLog(rig, liveCall);
        expect(log.status).toBe('user-ended');
        expect(log.error).toBeUndefined();
        expect(log.transcript).toContain('User: Can I change my address');
        expect(log.transcript).toContain('Agent: Yes, tell me the new address.');
        expect(rig.deepgram.connections.length - connectionsBefore).toBe(2);
        expect(caller.violations).toEqual([]);
      });

      it('a stream dropped twice ends the call with the fallback line and STT_UNAVAILABLE', async () => {
        const liveCall = await answerInboundCall(rig);
        const connectionsBefore = rig.deepgram.connections.length;
        rig.deepgram.script({ dropAfterMs: 400 });
        rig.deepgram.script({ dropAfterMs: 400 });
        const caller = await dial(liveCall);
        await greeted(caller);
        const hungUpAfterMs = await heardFallbackThenHangUp(caller);
        const log = await finalizedCallLog(rig, liveCall);
        expectFailed(log, 'STT_UNAVAILABLE', /1011/);
        expect(log.transcript).toContain(`Agent: ${FALLBACK_LINE}`);
        const ours = rig.deepgram.connections.slice(connectionsBefore);
        expect(ours.map((connection) => connection.status)).toEqual([101, 101]);
        // The call hangs up once the goodbye has been heard, not after dead air.
        expect(hungUpAfterMs).toBeLessThan(HANG_UP_AFTER_GOODBYE_MS);
        expect(caller.violations).toEqual([]);
      });
    });

    describe('language model (OpenAI chat)', () => {
      it('a 500 is retried once and the answer is spoken', async () => {
        const liveCall = await answerInboundCall(rig);
        const caller = await dial(liveCall);
        await greeted(caller);
        rig.openai.failNext({ status: 500 });
        await takeTurn(rig, caller, 'What are your hours', 'We are open from nine to five.');
        expect(chatRequestsFor(rig, 'What are your hours')).toHaveLength(2);
        await caller.stop();
        const log = await finalizedCallLog(rig, liveCall);
        expect(log.status).toBe('user-ended');
        expect(log.error).toBeUndefined();
        expect(log.transcript).toContain('Agent: We are open from nine to five.');
        expect(log.transcript).not.toContain(FALLBACK_LINE);
        expect(caller.violations).toEqual([]);
      });

      it('a refused key is not retried: fallback line, then LLM_UNAVAILABLE', async () => {
        const liveCall = await answerInboundCall(rig);
        const caller = await dial(liveCall);
        await greeted(caller);
        rig.openai.failNext({ status: 401 });
        rig.deepgram.say(['Cancel my subscription']);
        await caller.speak(600);
        const hungUpAfterMs = await heardFallbackThenHangUp(caller);
        const log = await finalizedCallLog(rig, liveCall);
        expectFailed(log, 'LLM_UNAVAILABLE', /401/);
        expect(log.error?.message).not.toContain(rig.openai.apiKey);
        expect(chatRequestsFor(rig, 'Cancel my subscription')).toHaveLength(1);
        expect(log.transcript).toContain('User: Cancel my subscription');
        expect(log.transcript).toContain(`Agent: ${FALLBACK_LINE}`);
        // The call hangs up once the goodbye has been heard, not after dead air.
        expect(hungUpAfterMs).toBeLessThan(HANG_UP_AFTER_GOODBYE_MS);
        expect(caller.violations).toEqual([]);
      });

      it('a malformed stream ends the call with the fallback line and LLM_UNAVAILABLE', async () => {
        const liveCall = await answerInboundCall(rig);
        const caller = await dial(liveCall);
        await greeted(caller);
        rig.openai.failNext({ malformed: true });
        rig.deepgram.say(['Do you deliver on Sundays']);
        await caller.speak(600);
        const hungUpAfterMs = await heardFallbackThenHangUp(caller);
        const log = await finalizedCallLog(rig, liveCall);
        expectFailed(log, 'LLM_UNAVAILABLE', /JSON/);
        expect(chatRequestsFor(rig, 'Do you deliver on Sundays')).toHaveLength(1);
        expect(log.transcript).toContain(`Agent: ${FALLBACK_LINE}`);
        // The call hangs up once the goodbye has been heard, not after dead air.
        expect(hungUpAfterMs).toBeLessThan(HANG_UP_AFTER_GOODBYE_MS);
        expect(caller.violations).toEqual([]);
      });
    });

    describe('text-to-speech (OpenAI speech)', () => {
      it('a refused key on the greeting fails the call with TTS_UNAVAILABLE and closes the stream, silently', async () => {
        const liveCall = await answerInboundCall(rig);
        const requestsBefore = rig.openai.requests.length;
        rig.openai.failNext({ status: 401 });
        const caller = await dial(liveCall);
        const closed = await caller.closed;
        expect(closed.code).toBe(1000);
        const log = await finalizedCallLog(rig, liveCall);
        expectFailed(log, 'TTS_UNAVAILABLE', /401/);
        expect(log.error?.message).not.toContain(rig.openai.apiKey);
        // Nothing can be said: no retry of a refused key, no fallback attempt, no audio.
        const ours = rig.openai.requests.slice(requestsBefore);
        expect(ours.map((request) => [request.path, request.body?.input])).toEqual([
          [SPEECH_PATH, GREETING],
        ]);
        expect(caller.audio).toEqual([]);
        expect(caller.marksReceived).toEqual([]);
        expect(caller.violations).toEqual([]);
      });

      it('a 500 on the greeting is retried once and the greeting is heard', async () => {
        const liveCall = await answerInboundCall(rig);
        const speechBefore = rig.openai.requests.filter((r) => r.path === SPEECH_PATH).length;
        rig.openai.failNext({ status: 500 });
        const caller = await dial(liveCall);
        await greeted(caller);
        const greetingRequests = rig.openai.requests
          .filter((request) => request.path === SPEECH_PATH)
          .slice(speechBefore);
        expect(greetingRequests.map((request) => request.body?.input)).toEqual([
          GREETING,
          GREETING,
        ]);
        expect(caller.audio.length).toBeGreaterThan(0);
        await caller.stop();
        const log = await finalizedCallLog(rig, liveCall);
        expect(log.status).toBe('user-ended');
        expect(log.error).toBeUndefined();
        expect(log.transcript).toContain(`Agent: ${GREETING}`);
        expect(caller.violations).toEqual([]);
      });
    });

    describe('isolation', () => {
      it("one call's model failure leaves a concurrent call answering, and the process healthy", async () => {
        const [failingCall, healthyCall] = await Promise.all([
          answerInboundCall(rig),
          answerInboundCall(rig),
        ]);
        const [failing, healthy] = await Promise.all([dial(failingCall), dial(healthyCall)]);
        await Promise.all([greeted(failing), greeted(healthy)]);

        rig.openai.failNext({ status: 401 });
        rig.deepgram.say(['I want a refund']);
        await failing.speak(600);
        await waitFor(
          () => Promise.resolve(chatRequestsFor(rig, 'I want a refund')[0]),
          5_000,
          "the failing call's chat request",
        );
        // While the failing call says its fallback line and hangs up, the other one talks.
        await takeTurn(rig, healthy, 'Is my order on time', 'Yes, it arrives today.');

        const hungUpAfterMs = await heardFallbackThenHangUp(failing);
        const failedLog = await finalizedCallLog(rig, failingCall);
        expectFailed(failedLog, 'LLM_UNAVAILABLE', /401/);

        expect(healthy.isOpen).toBe(true);
        await takeTurn(rig, healthy, 'Thank you', 'You are welcome.', 3);
        await healthy.stop();
        const healthyLog = await finalizedCallLog(rig, healthyCall);
        expect(healthyLog.status).toBe('user-ended');
        expect(healthyLog.error).toBeUndefined();
        expect(healthyLog.transcript).toContain('Agent: Yes, it arrives today.');
        expect(healthyLog.transcript).not.toContain(FALLBACK_LINE);

        const health = await call(rig.context.app, 'GET', '/api/v1/health');
        expect(health.status).toBe(200);
        expect(health.body.status).toBe('ok');
        expect(healthy.violations).toEqual([]);
        // The call hangs up once the goodbye has been heard, not after dead air.
        expect(hungUpAfterMs).toBeLessThan(HANG_UP_AFTER_GOODBYE_MS);
        expect(failing.violations).toEqual([]);
      });
    });
  });

  describe('with a short vendor timeout (VOICE_VENDOR_TIMEOUT_MS=1000)', () => {
    let rig: VoiceRig;
    beforeAll(async () => {
      rig = await startVoiceRig({ VOICE_VENDOR_TIMEOUT_MS: '1000' });
    });
    afterAll(() => rig.close());

    it('a model stream that stalls before any text is retried once and the answer is spoken', async () => {
      const liveCall = await answerInboundCall(rig);
      const caller = await dial(liveCall);
      await greeted(caller);
      rig.openai.failNext({ stallAfterFirstChunk: true });
      // The fake takes a scripted reply for the stalled request too: only its first chunk leaves.
      rig.openai.reply({ text: 'Never heard.' });
      await takeTurn(rig, caller, 'Can you hear me', 'Yes, I can hear you fine.');
      const requests = chatRequestsFor(rig, 'Can you hear me');
      expect(requests).toHaveLength(2);
      expect(requests[0]!.finished).toBe(false);
      await caller.stop();
      const log = await finalizedCallLog(rig, liveCall);
      expect(log.status).toBe('user-ended');
      expect(log.error).toBeUndefined();
      expect(log.transcript).toContain('Agent: Yes, I can hear you fine.');
      expect(log.transcript).not.toContain('Never heard.');
      expect(caller.violations).toEqual([]);
    });

    it('a model stream that stalls twice ends the call with the fallback line and LLM_UNAVAILABLE', async () => {
      const liveCall = await answerInboundCall(rig);
      const caller = await dial(liveCall);
      await greeted(caller);
      rig.openai.failNext({ stallAfterFirstChunk: true }, 2);
      rig.deepgram.say(['Are you still there']);
      await caller.speak(600);
      const hungUpAfterMs = await heardFallbackThenHangUp(caller);
      const log = await finalizedCallLog(rig, liveCall);
      expectFailed(log, 'LLM_UNAVAILABLE', /1000 ms/);
      expect(chatRequestsFor(rig, 'Are you still there')).toHaveLength(2);
      expect(log.transcript).toContain(`Agent: ${FALLBACK_LINE}`);
      // The call hangs up once the goodbye has been heard, not after dead air.
      expect(hungUpAfterMs).toBeLessThan(HANG_UP_AFTER_GOODBYE_MS);
      expect(caller.violations).toEqual([]);
    });
  });

  describe('with no Deepgram key configured', () => {
    let rig: VoiceRig;
    beforeAll(async () => {
      // The config treats an empty value as unset.
      rig = await startVoiceRig({ DEEPGRAM_API_KEY: '' });
    });
    afterAll(() => rig.close());

    it('says the fallback line and fails with STT_UNAVAILABLE naming DEEPGRAM_API_KEY', async () => {
      const liveCall = await answerInboundCall(rig);
      const caller = await dial(liveCall);
      const hungUpAfterMs = await heardFallbackThenHangUp(caller);
      const log = await finalizedCallLog(rig, liveCall);
      expectFailed(log, 'STT_UNAVAILABLE', /DEEPGRAM_API_KEY/);
      expect(log.transcript).toContain(`Agent: ${FALLBACK_LINE}`);
      expect(rig.deepgram.connections).toEqual([]);
      // The call hangs up once the goodbye has been heard, not after dead air.
      expect(hungUpAfterMs).toBeLessThan(HANG_UP_AFTER_GOODBYE_MS);
      expect(caller.violations).toEqual([]);
    });
  });
});
