import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  SpeechSynthesis,
  TextToSpeechOptions,
} from '../src/voice/ports/text-to-speech.port.js';
import type { VendorError } from '../src/voice/ports/vendor-error.js';
import { CartesiaTextToSpeech } from '../src/voice/providers/cartesia/cartesia-text-to-speech.js';
import {
  FAKE_CARTESIA_KEY,
  fakeCartesiaSpeechBytes,
  startFakeCartesia,
  type FakeCartesia,
  type RecordedCartesiaConnection,
} from './support/fake-cartesia-server.js';
import { waitFor } from './support/wait-for.js';

const FIRST = 'Hello there, thanks for calling.';
const SECOND = ' How can I help you today?';
const VOICE = 'a0e99841-438c-4a64-b679-ae501e7d6091';

interface Utterance {
  synthesis: SpeechSynthesis;
  chunks: Buffer[];
  errors: VendorError[];
  doneCount: number;
  /** Resolves with the outcome once onDone or onError was called. */
  outcome: Promise<'done' | VendorError>;
  firstAudio: Promise<void>;
  audioBytes(): number;
}

function speak(tts: CartesiaTextToSpeech, overrides: Partial<TextToSpeechOptions> = {}): Utterance {
  const chunks: Buffer[] = [];
  const errors: VendorError[] = [];
  let doneCount = 0;
  let settle: (outcome: 'done' | VendorError) => void = () => undefined;
  let heard: () => void = () => undefined;
  const outcome = new Promise<'done' | VendorError>((resolve) => (settle = resolve));
  const firstAudio = new Promise<void>((resolve) => (heard = resolve));
  const synthesis = tts.start(
    { voiceId: VOICE, language: 'en', sampleRate: 16000, ...overrides },
    {
      onAudio(audio) {
        chunks.push(audio);
        heard();
      },
      onDone() {
        doneCount += 1;
        settle('done');
      },
      onError(error) {
        errors.push(error);
        settle(error);
      },
    },
  );
  return {
    synthesis,
    chunks,
    errors,
    get doneCount() {
      return doneCount;
    },
    outcome,
    firstAudio,
    audioBytes: () => chunks.reduce((total, chunk) => total + chunk.length, 0),
  };
}

async function failureOf(utterance: Utterance): Promise<VendorError> {
  const outcome = await utterance.outcome;
  if (outcome === 'done') {
    throw new Error('expected the utterance to fail, it finished');
  }
  return outcome;
}

function closedSocket(connection: RecordedCartesiaConnection | undefined): Promise<true> {
  return waitFor(
    () => Promise.resolve(connection?.closed ? true : undefined),
    3000,
    'the socket to close',
  );
}

async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') {
    throw new Error('no port');
  }
  return address.port;
}

describe('Cartesia streaming text-to-speech', () => {
  let fake: FakeCartesia;
  let tts: CartesiaTextToSpeech;

  beforeAll(async () => {
    fake = await startFakeCartesia();
    tts = new CartesiaTextToSpeech({
      apiKey: FAKE_CARTESIA_KEY,
      baseUrl: fake.baseUrl,
      connectTimeoutMs: 300,
      firstAudioTimeoutMs: 300,
    });
  });

  afterAll(async () => {
    await fake.close();
  });

  function nextConnection(): () => RecordedCartesiaConnection | undefined {
    const index = fake.connections.length;
    return () => fake.connections[index];
  }

  it('connects to /tts/websocket with the API version in the query and the key in a header', async () => {
    const connection = nextConnection();
    const utterance = speak(tts);
    utterance.synthesis.push(FIRST);
    utterance.synthesis.end();
    expect(await utterance.outcome).toBe('done');

    expect(connection()?.path).toBe('/tts/websocket');
    expect(connection()?.query).toEqual({ cartesia_version: '2025-04-16' });
    expect(connection()?.headers['x-api-key']).toBe(FAKE_CARTESIA_KEY);
  });

  it('sends each piece as a continuation of one context, then an empty transcript that ends it', async () => {
    const connection = nextConnection();
    const utterance = speak(tts, { language: 'hi', sampleRate: 8000 });
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
    const utterance = speak(tts, {
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
    const connection = nextConnection();
    const utterance = speak(tts);
    utterance.synthesis.push(FIRST);
    await utterance.firstAudio;
    const bytesBeforeSecond = utterance.audioBytes();
    utterance.synthesis.push(SECOND);
    utterance.synthesis.end();
    expect(await utterance.outcome).toBe('done');
    await closedSocket(connection());

    expect(bytesBeforeSecond).toBeGreaterThan(0);
    const expected = fakeCartesiaSpeechBytes(FIRST.trim().length + SECOND.trim().length, 16000);
    expect(utterance.audioBytes()).toBe(expected);
    expect(utterance.chunks.every((chunk) => chunk.length % 2 === 0)).toBe(true);
    expect(utterance.chunks.some((chunk) => chunk.readInt16LE(2) !== 0)).toBe(true);
    expect(utterance.doneCount).toBe(1);
    expect(utterance.errors).toEqual([]);
    expect(utterance.synthesis.characters).toBe(FIRST.length + SECOND.length);
    expect(connection()?.closeCode).toBe(1000);
  });

  it('keeps an odd trailing byte for the next chunk so every chunk holds whole samples', async () => {
    const oddFake = await startFakeCartesia({ chunkBytes: 1001 });
    try {
      const oddTts = new CartesiaTextToSpeech({
        apiKey: FAKE_CARTESIA_KEY,
        baseUrl: oddFake.baseUrl,
      });
      const utterance = speak(oddTts, { sampleRate: 24000 });
      utterance.synthesis.push(FIRST);
      utterance.synthesis.end();
      expect(await utterance.outcome).toBe('done');

      expect(utterance.chunks.every((chunk) => chunk.length % 2 === 0)).toBe(true);
      expect(utterance.audioBytes()).toBe(fakeCartesiaSpeechBytes(FIRST.trim().length, 24000));
    } finally {
      await oddFake.close();
    }
  });

  it("ignores timestamps and other contexts' audio", async () => {
    const noisyFake = await startFakeCartesia({ interleaveOtherMessages: true });
    try {
      const noisyTts = new CartesiaTextToSpeech({
        apiKey: FAKE_CARTESIA_KEY,
        baseUrl: noisyFake.baseUrl,
      });
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
      const slowTts = new CartesiaTextToSpeech({
        apiKey: FAKE_CARTESIA_KEY,
        baseUrl: slowFake.baseUrl,
      });
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
    const utterance = speak(tts);
    utterance.synthesis.end();
    expect(await utterance.outcome).toBe('done');
    expect(utterance.synthesis.characters).toBe(0);
  });

  it('reports a refused connection as unavailable', async () => {
    const port = await unusedPort();
    const offline = new CartesiaTextToSpeech({
      apiKey: FAKE_CARTESIA_KEY,
      baseUrl: `ws://127.0.0.1:${port}`,
      connectTimeoutMs: 300,
    });
    const utterance = speak(offline);
    utterance.synthesis.push(FIRST);
    const error = await failureOf(utterance);
    expect(error.failure).toBe('unavailable');
    expect(error.retryable).toBe(true);
  });

  it.each([
    [401, 'unauthorized'],
    [429, 'rate-limited'],
    [500, 'unavailable'],
    [400, 'rejected'],
  ] as const)(
    'reports HTTP %i on the handshake as %s before any audio',
    async (status, failure) => {
      const connection = nextConnection();
      fake.failNext({ status });
      const utterance = speak(tts);
      utterance.synthesis.push(FIRST);
      utterance.synthesis.end();
      const error = await failureOf(utterance);
      await closedSocket(connection());

      expect(error.failure).toBe(failure);
      expect(error.status).toBe(status);
      expect(utterance.chunks).toEqual([]);
      expect(utterance.errors).toHaveLength(1);
      expect(utterance.doneCount).toBe(0);
    },
  );

  it('reports a refused key as unauthorized without the key in the message', async () => {
    const wrongKey = new CartesiaTextToSpeech({
      apiKey: 'not-the-key',
      baseUrl: fake.baseUrl,
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
    const utterance = speak(tts);
    // Pushed in the same tick as start(): the socket cannot be open yet.
    utterance.synthesis.push('a'.repeat(15_000));
    utterance.synthesis.push('b'.repeat(15_000));
    const error = await failureOf(utterance);

    expect(error.failure).toBe('rejected');
    expect(error.message).toContain('before the connection opened');
    expect(utterance.synthesis.characters).toBe(0);
  });

  it('reports a handshake that never completes as a timeout and drops the socket', async () => {
    const connection = nextConnection();
    fake.failNext({ hang: true });
    const utterance = speak(tts);
    utterance.synthesis.push(FIRST);
    const error = await failureOf(utterance);
    await closedSocket(connection());

    expect(error.failure).toBe('timeout');
    expect(error.message).toContain('no connection within 300 ms');
    expect(utterance.errors).toHaveLength(1);
  });

  it('reports no audio within the first-audio bound as a timeout and closes the socket', async () => {
    const connection = nextConnection();
    fake.failNext({ silent: true });
    const utterance = speak(tts);
    utterance.synthesis.push(FIRST);
    const error = await failureOf(utterance);
    await closedSocket(connection());

    expect(error.failure).toBe('timeout');
    expect(error.message).toContain('no audio within 300 ms');
    expect(connection()?.closeCode).toBe(1000);
    expect(utterance.errors).toHaveLength(1);
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
      const connection = nextConnection();
      fake.failNext({ errorMessage: { errorCode, status, message } });
      const utterance = speak(tts);
      utterance.synthesis.push(FIRST);
      utterance.synthesis.end();
      const error = await failureOf(utterance);
      await closedSocket(connection());

      expect(error.failure).toBe(failure);
      expect(error.status).toBe(status);
      expect(error.message).toContain(errorCode);
      expect(error.message).not.toContain(FAKE_CARTESIA_KEY);
      expect(utterance.errors).toHaveLength(1);
      expect(utterance.doneCount).toBe(0);
    },
  );

  it('reports a message that is not JSON as malformed', async () => {
    const connection = nextConnection();
    fake.failNext({ malformed: true });
    const utterance = speak(tts);
    utterance.synthesis.push(FIRST);
    const error = await failureOf(utterance);
    await closedSocket(connection());

    expect(error.failure).toBe('malformed');
    expect(utterance.errors).toHaveLength(1);
  });

  it('reports a connection dropped mid-stream as unavailable, after the audio that came', async () => {
    const connection = nextConnection();
    fake.failNext({ dropAfterFirstChunk: true });
    const utterance = speak(tts);
    utterance.synthesis.push(FIRST);
    utterance.synthesis.end();
    const error = await failureOf(utterance);
    await closedSocket(connection());

    expect(error.failure).toBe('unavailable');
    expect(utterance.chunks.length).toBe(1);
    expect(utterance.errors).toHaveLength(1);
    expect(utterance.doneCount).toBe(0);
  });

  it('keeps two concurrent utterances apart', async () => {
    const short = speak(tts, { sampleRate: 8000 });
    const long = speak(tts, { sampleRate: 24000 });
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
