import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  SpeechSynthesis,
  TextToSpeechOptions,
} from '../src/voice/ports/text-to-speech.port.js';
import type { VendorError } from '../src/voice/ports/vendor-error.js';
import { ElevenLabsTextToSpeech } from '../src/voice/providers/elevenlabs/elevenlabs-text-to-speech.js';
import {
  FAKE_ELEVENLABS_KEY,
  fakeElevenLabsSpeechBytes,
  startFakeElevenLabs,
  type FakeElevenLabs,
  type RecordedElevenLabsConnection,
} from './support/fake-elevenlabs-server.js';
import { waitFor } from './support/wait-for.js';

const FIRST = 'Hello there, thanks for calling.';
const SECOND = ' How can I help you today?';

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

function speak(
  tts: ElevenLabsTextToSpeech,
  overrides: Partial<TextToSpeechOptions> = {},
): Utterance {
  const chunks: Buffer[] = [];
  const errors: VendorError[] = [];
  let doneCount = 0;
  let settle: (outcome: 'done' | VendorError) => void = () => undefined;
  let heard: () => void = () => undefined;
  const outcome = new Promise<'done' | VendorError>((resolve) => (settle = resolve));
  const firstAudio = new Promise<void>((resolve) => (heard = resolve));
  const synthesis = tts.start(
    { voiceId: 'voice123', language: 'en', sampleRate: 16000, ...overrides },
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

function closedSocket(connection: RecordedElevenLabsConnection | undefined): Promise<true> {
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

describe('ElevenLabs streaming text-to-speech', () => {
  let fake: FakeElevenLabs;
  let tts: ElevenLabsTextToSpeech;

  beforeAll(async () => {
    fake = await startFakeElevenLabs();
    tts = new ElevenLabsTextToSpeech({
      apiKey: FAKE_ELEVENLABS_KEY,
      baseUrl: fake.baseUrl,
      connectTimeoutMs: 300,
      firstAudioTimeoutMs: 300,
    });
  });

  afterAll(async () => {
    await fake.close();
  });

  function nextConnection(): () => RecordedElevenLabsConnection | undefined {
    const index = fake.connections.length;
    return () => fake.connections[index];
  }

  it('connects to stream-input with voice, model, PCM rate and language in the URL and the key in a header', async () => {
    const connection = nextConnection();
    const utterance = speak(tts, { language: 'hi', sampleRate: 24000 });
    utterance.synthesis.push(FIRST);
    utterance.synthesis.end();
    expect(await utterance.outcome).toBe('done');

    expect(connection()?.path).toBe('/v1/text-to-speech/voice123/stream-input');
    expect(connection()?.query).toEqual({
      model_id: 'eleven_turbo_v2_5',
      output_format: 'pcm_24000',
      language_code: 'hi',
    });
    expect(connection()?.headers['xi-api-key']).toBe(FAKE_ELEVENLABS_KEY);
  });

  it('leaves language_code out for a model that does not take it', async () => {
    const connection = nextConnection();
    const utterance = speak(tts, { model: 'eleven_multilingual_v2', language: 'de' });
    utterance.synthesis.push(FIRST);
    utterance.synthesis.end();
    expect(await utterance.outcome).toBe('done');

    expect(connection()?.query).toEqual({
      model_id: 'eleven_multilingual_v2',
      output_format: 'pcm_16000',
    });
  });

  it('opens with a blank space, the known voice settings of valid types and a chunk schedule', async () => {
    const connection = nextConnection();
    const utterance = speak(tts, {
      settings: {
        stability: 0.4,
        similarity_boost: '0.8',
        style: 0.1,
        use_speaker_boost: true,
        speed: 5,
        accent: 'british',
      },
    });
    utterance.synthesis.push(FIRST);
    utterance.synthesis.end();
    expect(await utterance.outcome).toBe('done');

    const [opening] = connection()?.messages ?? [];
    expect(opening).toEqual({
      text: ' ',
      voice_settings: { stability: 0.4, style: 0.1, use_speaker_boost: true },
      generation_config: { chunk_length_schedule: expect.any(Array) },
    });
    const schedule = (opening as { generation_config: { chunk_length_schedule: number[] } })
      .generation_config.chunk_length_schedule;
    expect(schedule.every((length) => length >= 50 && length <= 500)).toBe(true);
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
    const expected = fakeElevenLabsSpeechBytes(FIRST.trim().length + SECOND.trim().length, 16000);
    expect(utterance.audioBytes()).toBe(expected);
    expect(utterance.chunks.every((chunk) => chunk.length % 2 === 0)).toBe(true);
    expect(utterance.chunks.some((chunk) => chunk.readInt16LE(2) !== 0)).toBe(true);
    expect(utterance.doneCount).toBe(1);
    expect(utterance.errors).toEqual([]);
    expect(utterance.synthesis.characters).toBe(FIRST.length + SECOND.length);
    expect(connection()?.messages.slice(1)).toEqual([
      { text: `${FIRST} `, flush: true },
      { text: `${SECOND} `, flush: true },
      { text: '' },
    ]);
    expect(connection()?.closeCode).toBe(1000);
  });

  it('keeps an odd trailing byte for the next chunk so every chunk holds whole samples', async () => {
    const oddFake = await startFakeElevenLabs({ chunkBytes: 1001 });
    try {
      const oddTts = new ElevenLabsTextToSpeech({
        apiKey: FAKE_ELEVENLABS_KEY,
        baseUrl: oddFake.baseUrl,
      });
      const utterance = speak(oddTts, { sampleRate: 8000 });
      utterance.synthesis.push(FIRST);
      utterance.synthesis.end();
      expect(await utterance.outcome).toBe('done');

      expect(utterance.chunks.every((chunk) => chunk.length % 2 === 0)).toBe(true);
      expect(utterance.audioBytes()).toBe(fakeElevenLabsSpeechBytes(FIRST.trim().length, 8000));
    } finally {
      await oddFake.close();
    }
  });

  it('calls onDone at once for an utterance that ended without text', async () => {
    const utterance = speak(tts);
    utterance.synthesis.end();
    expect(await utterance.outcome).toBe('done');
    expect(utterance.synthesis.characters).toBe(0);
  });

  it('stops at cancel: no audio after it, and the vendor sees the socket closed', async () => {
    const slowFake = await startFakeElevenLabs({ chunkDelayMs: 40 });
    try {
      const slowTts = new ElevenLabsTextToSpeech({
        apiKey: FAKE_ELEVENLABS_KEY,
        baseUrl: slowFake.baseUrl,
      });
      const utterance = speak(slowTts);
      utterance.synthesis.push(FIRST.repeat(4));
      utterance.synthesis.end();
      await utterance.firstAudio;
      utterance.synthesis.cancel();
      const chunksAtCancel = utterance.chunks.length;
      await closedSocket(slowFake.connections[0]);

      expect(slowFake.connections[0]?.closeCode).toBe(1000);
      expect(utterance.chunks.length).toBe(chunksAtCancel);
      expect(utterance.audioBytes()).toBeLessThan(
        fakeElevenLabsSpeechBytes(FIRST.repeat(4).trim().length, 16000),
      );
      expect(utterance.doneCount).toBe(0);
      expect(utterance.errors).toEqual([]);
    } finally {
      await slowFake.close();
    }
  });

  it('refuses a voice id that is not a plain id without connecting', async () => {
    const connectionsBefore = fake.connections.length;
    const refused = speak(tts, { voiceId: '../../v1/user' });
    refused.synthesis.push(FIRST);
    const error = await failureOf(refused);
    expect(error.failure).toBe('rejected');

    // A valid utterance started afterwards is the next connection the vendor sees.
    const valid = speak(tts);
    valid.synthesis.push(FIRST);
    valid.synthesis.end();
    expect(await valid.outcome).toBe('done');
    expect(fake.connections.length).toBe(connectionsBefore + 1);
    expect(fake.connections[connectionsBefore]?.path).toBe(
      '/v1/text-to-speech/voice123/stream-input',
    );
    expect(refused.errors).toHaveLength(1);
  });

  it('reports a refused connection as unavailable', async () => {
    const port = await unusedPort();
    const offline = new ElevenLabsTextToSpeech({
      apiKey: FAKE_ELEVENLABS_KEY,
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

  it('reports a refused key (error message then a policy close) as unauthorized', async () => {
    const connection = nextConnection();
    const wrongKey = new ElevenLabsTextToSpeech({
      apiKey: 'not-the-key',
      baseUrl: fake.baseUrl,
      connectTimeoutMs: 300,
      firstAudioTimeoutMs: 300,
    });
    const utterance = speak(wrongKey);
    utterance.synthesis.push(FIRST);
    const error = await failureOf(utterance);
    await closedSocket(connection());

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
    ['quota_exceeded', 'rate-limited', 'This request exceeds your quota of 10000.'],
    ['voice_id_does_not_exist', 'rejected', 'A voice with voice_id voice123 does not exist.'],
    ['invalid_api_key', 'unauthorized', `Invalid API key: ${FAKE_ELEVENLABS_KEY}`],
  ] as const)('classifies the vendor error %s as %s', async (code, failure, message) => {
    const connection = nextConnection();
    fake.failNext({ errorMessage: { error: code, message } });
    const utterance = speak(tts);
    utterance.synthesis.push(FIRST);
    utterance.synthesis.end();
    const error = await failureOf(utterance);
    await closedSocket(connection());

    expect(error.failure).toBe(failure);
    expect(error.message).toContain(code);
    expect(error.message).not.toContain(FAKE_ELEVENLABS_KEY);
    expect(utterance.errors).toHaveLength(1);
    expect(utterance.doneCount).toBe(0);
  });

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
    long.synthesis.push(FIRST + SECOND);
    short.synthesis.end();
    long.synthesis.end();
    expect(await Promise.all([short.outcome, long.outcome])).toEqual(['done', 'done']);

    expect(short.audioBytes()).toBe(fakeElevenLabsSpeechBytes(FIRST.trim().length, 8000));
    expect(long.audioBytes()).toBe(
      fakeElevenLabsSpeechBytes((FIRST + SECOND).trim().length, 24000),
    );
  });
});
