import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  SpeechToTextEvent,
  SpeechToTextOptions,
  SpeechToTextStream,
} from '../src/voice/ports/speech-to-text.port.js';
import { VendorError, type VendorFailure } from '../src/voice/ports/vendor-error.js';
import {
  DeepgramSpeechToText,
  type DeepgramSpeechToTextOptions,
} from '../src/voice/providers/deepgram/deepgram-speech-to-text.js';
import {
  type FakeDeepgram,
  type FakeDeepgramConnection,
  startFakeDeepgram,
} from './support/fake-deepgram-server.js';
import { waitFor } from './support/wait-for.js';

const SAMPLE_RATE = 16_000;
const FRAME_MS = 20;

const STREAM: SpeechToTextOptions = {
  language: 'en',
  sampleRate: SAMPLE_RATE,
  endpointingMs: 200,
  utteranceEndMs: 1000,
};

/** A 440 Hz tone loud enough to be speech for the fake (RMS ~5600). */
function tone(ms: number): Buffer {
  const samples = (SAMPLE_RATE * ms) / 1000;
  const audio = Buffer.alloc(samples * 2);
  for (let index = 0; index < samples; index += 1) {
    const sample = Math.round(8000 * Math.sin((2 * Math.PI * 440 * index) / SAMPLE_RATE));
    audio.writeInt16LE(sample, index * 2);
  }
  return audio;
}

function silence(ms: number): Buffer {
  return Buffer.alloc(((SAMPLE_RATE * ms) / 1000) * 2);
}

/** Writes audio the way a call does: 20 ms frames. */
function speak(stream: SpeechToTextStream, ...parts: Buffer[]): void {
  const audio = Buffer.concat(parts);
  const frameBytes = (SAMPLE_RATE * FRAME_MS * 2) / 1000;
  for (let offset = 0; offset < audio.length; offset += frameBytes) {
    stream.write(audio.subarray(offset, offset + frameBytes));
  }
}

/** Records a stream's events and waits for the ones a test expects. */
class EventLog {
  readonly events: SpeechToTextEvent[] = [];
  private readonly waiters: { type: string; count: number; resolve: () => void }[] = [];

  readonly onEvent = (event: SpeechToTextEvent): void => {
    this.events.push(event);
    for (const waiter of [...this.waiters]) {
      if (this.count(waiter.type) >= waiter.count) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  };

  types(): string[] {
    return this.events.map((event) => event.type);
  }

  count(type: string): number {
    return this.events.filter((event) => event.type === type).length;
  }

  errors(): VendorError[] {
    return this.events.flatMap((event) => (event.type === 'error' ? [event.error] : []));
  }

  async until(type: SpeechToTextEvent['type'], count = 1, timeoutMs = 3000): Promise<void> {
    if (this.count(type) >= count) {
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        this.waiters.push({ type, count, resolve });
        timer = setTimeout(() => {
          reject(
            new Error(
              `no ${count}× ${type} within ${timeoutMs} ms; got ${this.types().join(', ')}`,
            ),
          );
        }, timeoutMs);
      });
    } finally {
      clearTimeout(timer);
    }
  }
}

async function openFailure(promise: Promise<SpeechToTextStream>): Promise<VendorError> {
  try {
    const stream = await promise;
    stream.close();
  } catch (error) {
    expect(error).toBeInstanceOf(VendorError);
    return error as VendorError;
  }
  throw new Error('the stream opened');
}

async function eventually(condition: () => boolean, what: string): Promise<void> {
  await waitFor(() => Promise.resolve(condition() ? true : undefined), 3000, what);
}

async function closedOnFake(connection: FakeDeepgramConnection): Promise<void> {
  await eventually(() => connection.closed, 'the fake to see the socket close');
}

describe('Deepgram live speech-to-text against a fake Deepgram', () => {
  let fake: FakeDeepgram;

  beforeAll(async () => {
    fake = await startFakeDeepgram();
  });

  afterAll(async () => {
    await fake.close();
  });

  function deepgram(overrides: Partial<DeepgramSpeechToTextOptions> = {}): DeepgramSpeechToText {
    return new DeepgramSpeechToText({
      apiKey: fake.apiKey,
      baseUrl: fake.baseUrl,
      connectTimeoutMs: 300,
      finishTimeoutMs: 300,
      ...overrides,
    });
  }

  /** Opens a stream and returns it with the fake's record of its connection. */
  async function openStream(
    log: EventLog,
    adapter = deepgram(),
    options: SpeechToTextOptions = STREAM,
  ): Promise<{ stream: SpeechToTextStream; connection: FakeDeepgramConnection }> {
    const index = fake.connections.length;
    const stream = await adapter.open(options, log.onEvent);
    return { stream, connection: fake.connections[index]! };
  }

  it('opens /v1/listen with the stream settings in the query and the key as a Token header', async () => {
    const { stream, connection } = await openStream(new EventLog(), deepgram(), {
      ...STREAM,
      language: 'hi',
      model: 'nova-3',
    });
    stream.close();

    expect(connection.path).toBe('/v1/listen');
    expect(connection.headers.authorization).toBe(`Token ${fake.apiKey}`);
    expect(connection.query).toEqual({
      model: 'nova-3',
      language: 'hi',
      encoding: 'linear16',
      sample_rate: '16000',
      channels: '1',
      interim_results: 'true',
      endpointing: '200',
      utterance_end_ms: '1000',
      vad_events: 'true',
      smart_format: 'true',
      punctuate: 'true',
    });
  });

  it('uses the default model and never asks for an UtteranceEnd gap under 1000 ms', async () => {
    const { stream, connection } = await openStream(new EventLog(), deepgram(), {
      ...STREAM,
      utteranceEndMs: 400,
    });
    stream.close();

    expect(connection.query.model).toBe('nova-2');
    expect(connection.query.utterance_end_ms).toBe('1000');
  });

  it('turns speech into speech-started, interims, a final that ends the turn, then end-of-turn', async () => {
    fake.say(['hello there']);
    const log = new EventLog();
    const { stream } = await openStream(log);

    speak(stream, tone(300), silence(300));
    await log.until('final');
    speak(stream, silence(1000));
    await log.until('end-of-turn');
    stream.close();

    expect(log.events).toEqual([
      { type: 'speech-started' },
      { type: 'interim', text: 'hello' },
      { type: 'interim', text: 'hello' },
      { type: 'interim', text: 'hello there' },
      { type: 'final', text: 'hello there', endOfTurn: true },
      { type: 'end-of-turn' },
    ]);
  });

  it('keeps utterances apart: each pause ends one turn with its own transcript', async () => {
    fake.say(['I need help', 'with my order']);
    const log = new EventLog();
    const { stream } = await openStream(log);

    speak(stream, tone(200), silence(300), tone(200), silence(300));
    await log.until('final', 2);
    stream.close();

    const finals = log.events.filter((event) => event.type === 'final');
    expect(finals).toEqual([
      { type: 'final', text: 'I need help', endOfTurn: true },
      { type: 'final', text: 'with my order', endOfTurn: true },
    ]);
    expect(log.count('speech-started')).toBe(2);
  });

  it('counts the seconds of audio sent, and sends every byte to Deepgram', async () => {
    const { stream, connection } = await openStream(new EventLog());

    speak(stream, tone(500), silence(1000));
    expect(stream.audioSeconds).toBeCloseTo(1.5, 6);
    await stream.finish();

    expect(connection.audioBytes).toBe(1.5 * SAMPLE_RATE * 2);
    stream.write(tone(100));
    expect(stream.audioSeconds).toBeCloseTo(1.5, 6);
  });

  it('finish flushes the utterance in progress, then resolves once Deepgram closed normally', async () => {
    fake.say(['cut short']);
    const log = new EventLog();
    const { stream, connection } = await openStream(log);

    speak(stream, tone(200));
    await stream.finish();

    expect(connection.textMessages).toContain(JSON.stringify({ type: 'CloseStream' }));
    expect(log.events.at(-1)).toEqual({ type: 'final', text: 'cut short', endOfTurn: false });
    expect(log.count('error')).toBe(0);
    await closedOnFake(connection);
    expect(connection.closeCode).toBe(1000);
    expect(connection.sentMessages.at(-1)).toMatchObject({ type: 'Metadata' });
  });

  it('finish waits for a delayed final, keeping its place before Metadata and the close', async () => {
    fake.say([{ text: 'slow answer', finalDelayMs: 150 }]);
    const log = new EventLog();
    const { stream, connection } = await openStream(log);

    speak(stream, tone(200));
    await stream.finish();

    expect(log.events.at(-1)).toEqual({ type: 'final', text: 'slow answer', endOfTurn: false });
    await closedOnFake(connection);
    expect(connection.closeCode).toBe(1000);
  });

  it('finish gives up after finishTimeoutMs when Deepgram never closes, and closes the socket', async () => {
    fake.script({ stallReading: true });
    const log = new EventLog();
    const { stream, connection } = await openStream(log, deepgram({ finishTimeoutMs: 200 }));
    const started = Date.now();

    await stream.finish();

    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    fake.resumeReading(connection);
    await closedOnFake(connection);
    expect(connection.textMessages).toEqual([JSON.stringify({ type: 'CloseStream' })]);
    expect(log.events).toEqual([]);
  });

  it('close() drops the socket at once: the fake sees it closed and no event follows', async () => {
    const log = new EventLog();
    const { stream, connection } = await openStream(log);
    speak(stream, tone(200));
    await log.until('speech-started');

    stream.close();
    const eventsAtClose = log.events.length;
    await closedOnFake(connection);

    expect(connection.closeCode).toBe(1006);
    expect(log.events.length).toBe(eventsAtClose);
    expect(log.count('error')).toBe(0);
    await stream.finish();
  });

  it('a consumer that throws does not break the stream', async () => {
    fake.say(['still heard']);
    const finals: string[] = [];
    const stream = await deepgram().open(STREAM, (event) => {
      if (event.type === 'final') {
        finals.push(event.text);
      }
      throw new Error('consumer bug');
    });

    speak(stream, tone(200), silence(300));
    await eventually(() => finals.length > 0, 'the final');
    stream.close();

    expect(finals).toEqual(['still heard']);
  });

  describe('when the handshake fails', () => {
    it('reports a refused connection (nothing listening) as unavailable', async () => {
      const closedServer = createServer();
      await new Promise<void>((resolve) => closedServer.listen(0, '127.0.0.1', resolve));
      const { port } = closedServer.address() as AddressInfo;
      await new Promise<void>((resolve) => closedServer.close(() => resolve()));

      const error = await openFailure(
        deepgram({ baseUrl: `ws://127.0.0.1:${port}` }).open(STREAM, new EventLog().onEvent),
      );

      expect(error.failure).toBe('unavailable');
      expect(error.retryable).toBe(true);
    });

    it('reports 401 as unauthorized before any audio is sent, never naming the key', async () => {
      const index = fake.connections.length;
      const error = await openFailure(
        deepgram({ apiKey: 'a-revoked-key' }).open(STREAM, new EventLog().onEvent),
      );

      expect(error.failure).toBe('unauthorized');
      expect(error.status).toBe(401);
      expect(error.retryable).toBe(false);
      expect(error.message).not.toContain('a-revoked-key');
      const connection = fake.connections[index]!;
      expect(connection.status).toBe(401);
      expect(connection.audioBytes).toBe(0);
    });

    it.each([
      [429, 'rate-limited'],
      [500, 'unavailable'],
      [403, 'unauthorized'],
    ] as [number, VendorFailure][])('reports %i as %s', async (status, failure) => {
      fake.script({ status });

      const error = await openFailure(deepgram().open(STREAM, new EventLog().onEvent));

      expect(error.failure).toBe(failure);
      expect(error.status).toBe(status);
    });

    it('reports 400 as rejected with the dg-error reason, cut short', async () => {
      fake.script({ status: 400, dgError: 'Bad Request: unknown model nova-9' });
      const error = await openFailure(deepgram().open(STREAM, new EventLog().onEvent));
      expect(error.failure).toBe('rejected');
      expect(error.message).toContain('Bad Request: unknown model nova-9');

      fake.script({ status: 400, dgError: `Bad Request: ${'x'.repeat(2000)}` });
      const long = await openFailure(deepgram().open(STREAM, new EventLog().onEvent));
      expect(long.failure).toBe('rejected');
      expect(long.message.length).toBeLessThan(300);
    });

    it('reports a handshake that never completes as a timeout and drops the socket', async () => {
      fake.script({ hang: true });
      const index = fake.connections.length;
      const started = Date.now();

      const error = await openFailure(
        deepgram({ connectTimeoutMs: 200 }).open(STREAM, new EventLog().onEvent),
      );

      expect(error.failure).toBe('timeout');
      expect(Date.now() - started).toBeGreaterThanOrEqual(190);
      const connection = fake.connections[index]!;
      expect(connection.status).toBe(0);
      await closedOnFake(connection);
    });
  });

  describe('when the open stream fails', () => {
    it('reports a message that is not JSON as malformed, once, and closes the socket', async () => {
      fake.script({ malformed: true });
      const log = new EventLog();
      const { stream, connection } = await openStream(log);

      await log.until('error');
      await closedOnFake(connection);

      expect(log.types()).toEqual(['error']);
      expect(log.errors()[0]!.failure).toBe('malformed');
      await stream.finish();
    });

    it('ignores message types it does not know, but a Results without its structure is malformed', async () => {
      fake.script({
        sendAfterOpen: [
          JSON.stringify({ type: 'SomethingNew', detail: 1 }),
          JSON.stringify({ type: 'Metadata', request_id: 'r' }),
          JSON.stringify({ type: 'SpeechStarted', channel: [0, 1], timestamp: 0.2 }),
          JSON.stringify({ type: 'Results', is_final: true, channel: { alternatives: [] } }),
        ],
      });
      const log = new EventLog();
      const { connection } = await openStream(log);

      await log.until('error');
      await closedOnFake(connection);

      expect(log.types()).toEqual(['speech-started', 'error']);
      expect(log.errors()[0]!.failure).toBe('malformed');
    });

    it('refuses a message over 1 MB as malformed instead of buffering it', async () => {
      fake.script({
        sendAfterOpen: [JSON.stringify({ type: 'Results', padding: 'x'.repeat(2 * 1024 * 1024) })],
      });
      const log = new EventLog();
      const { connection } = await openStream(log);

      await log.until('error');
      await closedOnFake(connection);

      expect(log.types()).toEqual(['error']);
      expect(log.errors()[0]!.failure).toBe('malformed');
    });

    it('reports an abrupt 1011 close mid-stream as unavailable, exactly once', async () => {
      fake.script({ dropAfterMs: 100 });
      const log = new EventLog();
      const { stream, connection } = await openStream(log);
      speak(stream, tone(60));

      await log.until('error');
      await closedOnFake(connection);

      expect(connection.closeCode).toBe(1011);
      expect(log.types()).toEqual(['speech-started', 'error']);
      const [error] = log.errors();
      expect(error!.failure).toBe('unavailable');
      expect(error!.message).toContain('1011');
      const seconds = stream.audioSeconds;
      speak(stream, tone(100));
      expect(stream.audioSeconds).toBe(seconds);
      await stream.finish();
      expect(log.count('error')).toBe(1);
    });

    it('fails with timeout when Deepgram stops reading the audio (over ~1 MB buffered)', async () => {
      fake.script({ stallReading: true });
      const log = new EventLog();
      const { stream, connection } = await openStream(log);

      const chunk = silence(2000);
      for (let written = 0; log.count('error') === 0 && written < 64 * 1024 * 1024;) {
        stream.write(chunk);
        written += chunk.length;
      }

      expect(log.types()).toEqual(['error']);
      expect(log.errors()[0]!.failure).toBe('timeout');
      fake.resumeReading(connection);
      await closedOnFake(connection);
    });

    it('a failing stream leaves a concurrent stream working', async () => {
      fake.script({ dropAfterMs: 100 });
      const failing = new EventLog();
      const healthy = new EventLog();
      const first = await openStream(failing);
      const second = await openStream(healthy);

      await failing.until('error');
      fake.say(['still here']);
      speak(second.stream, tone(200), silence(300));
      await healthy.until('final');
      await second.stream.finish();

      expect(failing.count('error')).toBe(1);
      expect(healthy.count('error')).toBe(0);
      expect(healthy.events).toContainEqual({ type: 'final', text: 'still here', endOfTurn: true });
      await closedOnFake(first.connection);
      await closedOnFake(second.connection);
      expect(second.connection.closeCode).toBe(1000);
    });
  });
});

describe('Deepgram idle window', () => {
  let fake: FakeDeepgram;

  beforeAll(async () => {
    fake = await startFakeDeepgram({ idleTimeoutMs: 200 });
  });

  afterAll(async () => {
    await fake.close();
  });

  function deepgram(keepAliveIntervalMs: number): DeepgramSpeechToText {
    return new DeepgramSpeechToText({
      apiKey: fake.apiKey,
      baseUrl: fake.baseUrl,
      connectTimeoutMs: 300,
      keepAliveIntervalMs,
    });
  }

  it('sends KeepAlive while no audio is written, so Deepgram keeps the idle stream open', async () => {
    const log = new EventLog();
    const index = fake.connections.length;
    const stream = await deepgram(50).open(STREAM, log.onEvent);
    const connection = fake.connections[index]!;

    // Six KeepAlives 50 ms apart span more than the fake's 200 ms idle window.
    await eventually(() => connection.textMessages.length >= 6, 'six KeepAlive messages');

    expect(new Set(connection.textMessages)).toEqual(
      new Set([JSON.stringify({ type: 'KeepAlive' })]),
    );
    expect(connection.closed).toBe(false);
    expect(log.events).toEqual([]);
    stream.close();
    await closedOnFake(connection);
  });

  it("reports Deepgram's NET-0001 close (nothing received in its window) as a timeout", async () => {
    const log = new EventLog();
    const index = fake.connections.length;
    await deepgram(60_000).open(STREAM, log.onEvent);
    const connection = fake.connections[index]!;

    await log.until('error');
    await closedOnFake(connection);

    expect(connection.closeCode).toBe(1011);
    expect(connection.textMessages).toEqual([]);
    expect(log.types()).toEqual(['error']);
    expect(log.errors()[0]!.failure).toBe('timeout');
  });
});
