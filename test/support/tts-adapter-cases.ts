import { createServer } from 'node:net';
import { afterAll, beforeAll, expect } from 'vitest';
import type {
  SpeechSynthesis,
  TextToSpeech,
  TextToSpeechOptions,
} from '../../src/voice/ports/text-to-speech.port.js';
import type { VendorError, VendorFailure } from '../../src/voice/ports/vendor-error.js';
import {
  fakeTtsSpeechBytes,
  type FakeTtsFailure,
  type FakeTtsOptions,
  type FakeTtsServer,
  type RecordedTtsConnection,
} from './fake-tts-websocket-server.js';
import { waitFor } from './wait-for.js';

/**
 * What the streaming text-to-speech adapters' specs share: an utterance recorded for
 * assertions, the vendor's fake and adapter for a describe block, and the cases whose logic
 * does not depend on the vendor (connection failures, scripted failures, whole samples). Each
 * spec keeps its tests' names and order and calls a case as a test's body.
 */

export const FIRST = 'Hello there, thanks for calling.';
export const SECOND = ' How can I help you today?';

export interface Utterance {
  synthesis: SpeechSynthesis;
  chunks: Buffer[];
  errors: VendorError[];
  doneCount: number;
  /** Resolves with the outcome once onDone or onError was called. */
  outcome: Promise<'done' | VendorError>;
  firstAudio: Promise<void>;
  audioBytes(): number;
}

/** Starts an utterance whose audio, errors and outcome are recorded. */
export function startUtterance(tts: TextToSpeech, options: TextToSpeechOptions): Utterance {
  const chunks: Buffer[] = [];
  const errors: VendorError[] = [];
  let doneCount = 0;
  let settle: (outcome: 'done' | VendorError) => void = () => undefined;
  let heard: () => void = () => undefined;
  const outcome = new Promise<'done' | VendorError>((resolve) => (settle = resolve));
  const firstAudio = new Promise<void>((resolve) => (heard = resolve));
  const synthesis = tts.start(options, {
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
  });
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

export async function failureOf(utterance: Utterance): Promise<VendorError> {
  const outcome = await utterance.outcome;
  if (outcome === 'done') {
    throw new Error('expected the utterance to fail, it finished');
  }
  return outcome;
}

export function closedSocket(connection: RecordedTtsConnection | undefined): Promise<true> {
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

export interface TtsAdapterBounds {
  connectTimeoutMs?: number;
  firstAudioTimeoutMs?: number;
}

/** What a spec tells the shared cases about its vendor. */
export interface TtsVendorUnderTest<ErrorMessage> {
  startFake(options?: FakeTtsOptions): Promise<FakeTtsServer<FakeTtsFailure<ErrorMessage>>>;
  /** The vendor's adapter with the fake's key, on this base URL. */
  adapter(baseUrl: string, bounds?: TtsAdapterBounds): TextToSpeech;
  /** Starts an utterance with the spec's usual options. */
  speak(tts: TextToSpeech, overrides?: Partial<TextToSpeechOptions>): Utterance;
}

export interface TtsAdapterRig<ErrorMessage> extends TtsVendorUnderTest<ErrorMessage> {
  /** The describe block's fake. */
  readonly fake: FakeTtsServer<FakeTtsFailure<ErrorMessage>>;
  /** The adapter on that fake, with 300 ms bounds. */
  readonly tts: TextToSpeech;
  /** The connection the fake records next, to read once it is there. */
  readonly nextConnection: () => () => RecordedTtsConnection | undefined;
}

/** Starts the vendor's fake and an adapter on it for the enclosing describe block. */
export function useTtsAdapterRig<ErrorMessage>(
  vendor: TtsVendorUnderTest<ErrorMessage>,
): TtsAdapterRig<ErrorMessage> {
  let fake: FakeTtsServer<FakeTtsFailure<ErrorMessage>> | undefined;
  let tts: TextToSpeech | undefined;

  beforeAll(async () => {
    fake = await vendor.startFake();
    tts = vendor.adapter(fake.baseUrl, { connectTimeoutMs: 300, firstAudioTimeoutMs: 300 });
  });

  afterAll(async () => {
    await fake?.close();
  });

  const started = <T>(value: T | undefined): T => {
    if (value === undefined) {
      throw new Error('the fake vendor is started in beforeAll');
    }
    return value;
  };

  return {
    startFake: (options) => vendor.startFake(options),
    adapter: (baseUrl, bounds) => vendor.adapter(baseUrl, bounds),
    speak: (adapter, overrides) => vendor.speak(adapter, overrides),
    get fake() {
      return started(fake);
    },
    get tts() {
      return started(tts);
    },
    nextConnection: () => {
      const connections = started(fake).connections;
      const index = connections.length;
      return () => connections[index];
    },
  };
}

/** The HTTP statuses a refused handshake is tried with, and how each is classified. */
export const HANDSHAKE_STATUSES = [
  [401, 'unauthorized'],
  [429, 'rate-limited'],
  [500, 'unavailable'],
  [400, 'rejected'],
] as const;

/** The bodies of the tests whose logic is the same for every streaming vendor. */
export function ttsAdapterCases<ErrorMessage>(rig: TtsAdapterRig<ErrorMessage>) {
  /** An utterance of FIRST on the rig's adapter whose connection fails as scripted. */
  async function scriptedFailure(
    failure: FakeTtsFailure<ErrorMessage>,
    { end }: { end: boolean },
  ): Promise<{
    utterance: Utterance;
    error: VendorError;
    connection: () => RecordedTtsConnection | undefined;
  }> {
    const connection = rig.nextConnection();
    rig.fake.failNext(failure);
    const utterance = rig.speak(rig.tts);
    utterance.synthesis.push(FIRST);
    if (end) {
      utterance.synthesis.end();
    }
    const error = await failureOf(utterance);
    await closedSocket(connection());
    return { utterance, error, connection };
  }

  return {
    /** Returns the connection, for the vendor's own assertions on it. */
    async speaksSentencesAsPushed(): Promise<RecordedTtsConnection | undefined> {
      const connection = rig.nextConnection();
      const utterance = rig.speak(rig.tts, { sampleRate: 16000 });
      utterance.synthesis.push(FIRST);
      await utterance.firstAudio;
      const bytesBeforeSecond = utterance.audioBytes();
      utterance.synthesis.push(SECOND);
      utterance.synthesis.end();
      expect(await utterance.outcome).toBe('done');
      await closedSocket(connection());

      expect(bytesBeforeSecond).toBeGreaterThan(0);
      const expected = fakeTtsSpeechBytes(FIRST.trim().length + SECOND.trim().length, 16000);
      expect(utterance.audioBytes()).toBe(expected);
      expect(utterance.chunks.every((chunk) => chunk.length % 2 === 0)).toBe(true);
      expect(utterance.chunks.some((chunk) => chunk.readInt16LE(2) !== 0)).toBe(true);
      expect(utterance.doneCount).toBe(1);
      expect(utterance.errors).toEqual([]);
      expect(utterance.synthesis.characters).toBe(FIRST.length + SECOND.length);
      expect(connection()?.closeCode).toBe(1000);
      return connection();
    },

    async keepsOddTrailingByte(sampleRate: number): Promise<void> {
      const oddFake = await rig.startFake({ chunkBytes: 1001 });
      try {
        const oddTts = rig.adapter(oddFake.baseUrl);
        const utterance = rig.speak(oddTts, { sampleRate });
        utterance.synthesis.push(FIRST);
        utterance.synthesis.end();
        expect(await utterance.outcome).toBe('done');

        expect(utterance.chunks.every((chunk) => chunk.length % 2 === 0)).toBe(true);
        expect(utterance.audioBytes()).toBe(fakeTtsSpeechBytes(FIRST.trim().length, sampleRate));
      } finally {
        await oddFake.close();
      }
    },

    async endsWithoutText(): Promise<void> {
      const utterance = rig.speak(rig.tts);
      utterance.synthesis.end();
      expect(await utterance.outcome).toBe('done');
      expect(utterance.synthesis.characters).toBe(0);
    },

    async refusedConnection(): Promise<void> {
      const port = await unusedPort();
      const offline = rig.adapter(`ws://127.0.0.1:${port}`, { connectTimeoutMs: 300 });
      const utterance = rig.speak(offline);
      utterance.synthesis.push(FIRST);
      const error = await failureOf(utterance);
      expect(error.failure).toBe('unavailable');
      expect(error.retryable).toBe(true);
    },

    async handshakeStatus(status: number, failure: VendorFailure): Promise<void> {
      const { utterance, error } = await scriptedFailure({ status }, { end: true });

      expect(error.failure).toBe(failure);
      expect(error.status).toBe(status);
      expect(utterance.chunks).toEqual([]);
      expect(utterance.errors).toHaveLength(1);
      expect(utterance.doneCount).toBe(0);
    },

    async tooMuchQueuedText(): Promise<void> {
      const utterance = rig.speak(rig.tts);
      // Pushed in the same tick as start(): the socket cannot be open yet.
      utterance.synthesis.push('a'.repeat(15_000));
      utterance.synthesis.push('b'.repeat(15_000));
      const error = await failureOf(utterance);

      expect(error.failure).toBe('rejected');
      expect(error.message).toContain('before the connection opened');
      expect(utterance.synthesis.characters).toBe(0);
    },

    async handshakeHangs(): Promise<void> {
      const { utterance, error } = await scriptedFailure({ hang: true }, { end: false });

      expect(error.failure).toBe('timeout');
      expect(error.message).toContain('no connection within 300 ms');
      expect(utterance.errors).toHaveLength(1);
    },

    async noFirstAudio(): Promise<void> {
      const { utterance, error, connection } = await scriptedFailure(
        { silent: true },
        { end: false },
      );

      expect(error.failure).toBe('timeout');
      expect(error.message).toContain('no audio within 300 ms');
      expect(connection()?.closeCode).toBe(1000);
      expect(utterance.errors).toHaveLength(1);
    },

    /**
     * The vendor's own error message (scripted as the fake's `errorMessage`) is classified and
     * quoted without the key; returns the error for the vendor's own assertions.
     */
    async vendorErrorClassified(
      errorMessage: ErrorMessage,
      expected: { failure: VendorFailure; code: string; apiKey: string },
    ): Promise<VendorError> {
      const { utterance, error } = await scriptedFailure({ errorMessage }, { end: true });

      expect(error.failure).toBe(expected.failure);
      expect(error.message).toContain(expected.code);
      expect(error.message).not.toContain(expected.apiKey);
      expect(utterance.errors).toHaveLength(1);
      expect(utterance.doneCount).toBe(0);
      return error;
    },

    async notJson(): Promise<void> {
      const { utterance, error } = await scriptedFailure({ malformed: true }, { end: false });

      expect(error.failure).toBe('malformed');
      expect(utterance.errors).toHaveLength(1);
    },

    async droppedMidStream(): Promise<void> {
      const { utterance, error } = await scriptedFailure(
        { dropAfterFirstChunk: true },
        { end: true },
      );

      expect(error.failure).toBe('unavailable');
      expect(utterance.chunks.length).toBe(1);
      expect(utterance.errors).toHaveLength(1);
      expect(utterance.doneCount).toBe(0);
    },
  };
}
