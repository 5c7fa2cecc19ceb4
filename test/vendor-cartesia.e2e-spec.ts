import { describe, expect, it } from 'vitest';
import type { TextToSpeech, TextToSpeechOptions } from '../src/voice/ports/text-to-speech.port.js';
import { CartesiaTextToSpeech } from '../src/voice/providers/cartesia/cartesia-text-to-speech.js';
import {
  FAKE_CARTESIA_KEY,
  fakeCartesiaSpeechBytes,
  startFakeCartesia,
} from './support/fake-cartesia-server.js';
import {
  closedSocket,
  failureOf,
  FIRST,
  HANDSHAKE_STATUSES,
  SECOND,
  startUtterance,
  ttsAdapterCases,
  useTtsAdapterRig,
  type Utterance,
} from './support/tts-adapter-cases.js';

const VOICE = 'a0e99841-438c-4a64-b679-ae501e7d6091';

function speak(tts: TextToSpeech, overrides: Partial<TextToSpeechOptions> = {}): Utterance {
  return startUtterance(tts, { voiceId: VOICE, language: 'en', sampleRate: 16000, ...overrides });
}

describe('Cartesia streaming text-to-speech', () => {
  const rig = useTtsAdapterRig({
    startFake: startFakeCartesia,
    adapter: (baseUrl, bounds) =>
      new CartesiaTextToSpeech({ apiKey: FAKE_CARTESIA_KEY, baseUrl, ...bounds }),
    speak,
  });
  const cases = ttsAdapterCases(rig);
  const { nextConnection } = rig;

  it('connects to /tts/websocket with the API version in the query and the key in a header', async () => {
    const connection = nextConnection();
    const utterance = speak(rig.tts);
    utterance.synthesis.push(FIRST);
    utterance.synthesis.end();
    expect(await utterance.outcome).toBe('done');

    expect(connection()?.path).toBe('/tts/websocket');
    expect(connection()?.query).toEqual({ cartesia_version: '2025-04-16' });
    expect(connection()?.headers['x-api-key']).toBe(FAKE_CARTESIA_KEY);
  });

  it('sends each piece as a continuation of one context, then an empty transcript that ends it', async () => {
    const connection = nextConnection();
    const utterance = speak(rig.tts, { language: 'hi', sampleRate: 8000 });
    utterance.synthesis.push(FIRST);
    utterance.synthesis.push(SECOND);
    utterance.synthesis.end();
    expect(await utterance.outcome).toBe('done');

    const messages = (connection()?.messages ?? []) as Array<Record<string, unknown>>;
    const contextId = messages[0]?.context_id;
    expect(contextId).toEqual(expect.any(String));
    const shared = {
      model_id: 'sonic-3',
      voice: { mode: 'id', id: VOICE },
      output_format: { container: 'raw', encoding: 'pcm_s16le', sample_rate: 8000 },
      language: 'hi',
      context_id: contextId,
    };
    expect(messages).toEqual([
      { ...shared, transcript: FIRST, continue: true },
      { ...shared, transcript: SECOND, continue: true },
      { ...shared, transcript: '', continue: false },
    ]);
  });

  it('passes only the known voice controls of valid types and ranges', async () => {
    const connection = nextConnection();
    const utterance = speak(rig.tts, {
      settings: { speed: 1.2, volume: '2', emotion: 'Calm', stability: 0.5, accent: 'british' },
    });
    utterance.synthesis.push(FIRST);
    utterance.synthesis.end();
    expect(await utterance.outcome).toBe('done');

    const [first] = (connection()?.messages ?? []) as Array<Record<string, unknown>>;
    expect(first?.generation_config).toEqual({ speed: 1.2, emotion: 'Calm' });
    expect(Object.keys(first ?? {}).sort()).toEqual(
      [
        'context_id',
        'continue',
        'generation_config',
        'language',
        'model_id',
        'output_format',
        'transcript',
        'voice',
      ].sort(),
    );
  });

  it('speaks sentences as they are pushed: first audio before the second sentence, all audio before onDone', async () => {
    await cases.speaksSentencesAsPushed();
  });

  it('keeps an odd trailing byte for the next chunk so every chunk holds whole samples', async () => {
    await cases.keepsOddTrailingByte(24000);
  });

  it("ignores timestamps and other contexts' audio", async () => {
    const noisyFake = await startFakeCartesia({ interleaveOtherMessages: true });
    try {
      const noisyTts = rig.adapter(noisyFake.baseUrl);
      const utterance = speak(noisyTts);
      utterance.synthesis.push(FIRST);
      utterance.synthesis.end();
      expect(await utterance.outcome).toBe('done');

      expect(utterance.audioBytes()).toBe(fakeCartesiaSpeechBytes(FIRST.trim().length, 16000));
    } finally {
      await noisyFake.close();
    }
  });

  it('stops at cancel: cancels the context, no audio after it, and the vendor sees the socket closed', async () => {
    const slowFake = await startFakeCartesia({ chunkDelayMs: 40 });
    try {
      const slowTts = rig.adapter(slowFake.baseUrl);
      const utterance = speak(slowTts);
      utterance.synthesis.push(FIRST.repeat(4));
      utterance.synthesis.end();
      await utterance.firstAudio;
      utterance.synthesis.cancel();
      const chunksAtCancel = utterance.chunks.length;
      const connection = slowFake.connections[0];
      await closedSocket(connection);

      const messages = (connection?.messages ?? []) as Array<Record<string, unknown>>;
      expect(messages.at(-1)).toEqual({ context_id: messages[0]?.context_id, cancel: true });
      expect(connection?.closeCode).toBe(1000);
      expect(utterance.chunks.length).toBe(chunksAtCancel);
      expect(utterance.doneCount).toBe(0);
      expect(utterance.errors).toEqual([]);
    } finally {
      await slowFake.close();
    }
  });

  it('calls onDone at once for an utterance that ended without text', async () => {
    await cases.endsWithoutText();
  });

  it('reports a refused connection as unavailable', async () => {
    await cases.refusedConnection();
  });

  it.each(HANDSHAKE_STATUSES)(
    'reports HTTP %i on the handshake as %s before any audio',
    async (status, failure) => {
      await cases.handshakeStatus(status, failure);
    },
  );

  it('reports a refused key as unauthorized without the key in the message', async () => {
    const wrongKey = new CartesiaTextToSpeech({
      apiKey: 'not-the-key',
      baseUrl: rig.fake.baseUrl,
      connectTimeoutMs: 300,
    });
    const utterance = speak(wrongKey);
    utterance.synthesis.push(FIRST);
    const error = await failureOf(utterance);

    expect(error.failure).toBe('unauthorized');
    expect(error.message).not.toContain('not-the-key');
    expect(utterance.errors).toHaveLength(1);
  });

  it('fails the utterance when too much text waits for the connection to open', async () => {
    await cases.tooMuchQueuedText();
  });

  it('reports a handshake that never completes as a timeout and drops the socket', async () => {
    await cases.handshakeHangs();
  });

  it('reports no audio within the first-audio bound as a timeout and closes the socket', async () => {
    await cases.noFirstAudio();
  });

  it.each([
    ['insufficient_credits', 402, 'rate-limited', 'Your account has run out of credits.'],
    [
      'model_not_found',
      400,
      'rejected',
      'The model is not valid, make sure it is a valid model ID.',
    ],
    ['invalid_api_key', 401, 'unauthorized', `Invalid key ${FAKE_CARTESIA_KEY}`],
    ['internal_error', 500, 'unavailable', 'Something went wrong.'],
  ] as const)(
    'classifies the vendor error %s (status %i) as %s',
    async (errorCode, status, failure, message) => {
      const error = await cases.vendorErrorClassified(
        { errorCode, status, message },
        { failure, code: errorCode, apiKey: FAKE_CARTESIA_KEY },
      );
      expect(error.status).toBe(status);
    },
  );

  it('reports a message that is not JSON as malformed', async () => {
    await cases.notJson();
  });

  it('reports a connection dropped mid-stream as unavailable, after the audio that came', async () => {
    await cases.droppedMidStream();
  });

  it('keeps two concurrent utterances apart', async () => {
    const short = speak(rig.tts, { sampleRate: 8000 });
    const long = speak(rig.tts, { sampleRate: 24000 });
    short.synthesis.push(FIRST);
    long.synthesis.push(FIRST);
    long.synthesis.push(SECOND);
    short.synthesis.end();
    long.synthesis.end();
    expect(await Promise.all([short.outcome, long.outcome])).toEqual(['done', 'done']);

    expect(short.audioBytes()).toBe(fakeCartesiaSpeechBytes(FIRST.trim().length, 8000));
    expect(long.audioBytes()).toBe(
      fakeCartesiaSpeechBytes(FIRST.trim().length + SECOND.trim().length, 24000),
    );
  });
});
