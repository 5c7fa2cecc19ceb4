import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  LanguageModelEvent,
  LanguageModelRequest,
} from '../src/voice/ports/language-model.port.js';
import type { TextToSpeechHandlers } from '../src/voice/ports/text-to-speech.port.js';
import { VendorError } from '../src/voice/ports/vendor-error.js';
import {
  OpenAiLanguageModel,
  type OpenAiLanguageModelOptions,
} from '../src/voice/providers/openai/openai-language-model.js';
import {
  OpenAiTextToSpeech,
  type OpenAiTextToSpeechOptions,
} from '../src/voice/providers/openai/openai-text-to-speech.js';
import {
  type ServerSentEvent,
  ServerSentEventParser,
  ServerSentEventTooLongError,
} from '../src/voice/providers/openai/server-sent-events.js';
import { type FakeOpenAi, startFakeOpenAi } from './support/fake-openai-server.js';

const WRONG_KEY = 'sk-wrong-0123456789abcdef';

let fake: FakeOpenAi;
let refusedBaseUrl: string;

beforeAll(async () => {
  fake = await startFakeOpenAi();
  // A port that was just free: nothing listens there any more.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  refusedBaseUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 1}/v1`;
});

afterAll(async () => {
  await fake.close();
});

function languageModel(options: Partial<OpenAiLanguageModelOptions> = {}): OpenAiLanguageModel {
  return new OpenAiLanguageModel({
    apiKey: fake.apiKey,
    baseUrl: fake.baseUrl,
    firstTokenTimeoutMs: 1000,
    idleTimeoutMs: 1000,
    ...options,
  });
}

function chatRequest(overrides: Partial<LanguageModelRequest> = {}): LanguageModelRequest {
  return {
    model: 'gpt-4o-mini',
    temperature: 0.3,
    messages: [{ role: 'user', content: 'Hello there' }],
    ...overrides,
  };
}

async function collect(stream: AsyncIterable<LanguageModelEvent>): Promise<LanguageModelEvent[]> {
  const events: LanguageModelEvent[] = [];
  for await (const event of stream) {
    events.push(event);
  }
  return events;
}

async function failureOf(stream: AsyncIterable<LanguageModelEvent>): Promise<VendorError> {
  try {
    await collect(stream);
  } catch (error) {
    if (error instanceof VendorError) {
      return error;
    }
    throw error;
  }
  throw new Error('expected the stream to fail');
}

function textOf(events: LanguageModelEvent[]): string {
  return events.map((event) => (event.type === 'text' ? event.text : '')).join('');
}

function lastRequest(): FakeOpenAi['requests'][number] {
  const request = fake.requests.at(-1);
  if (!request) {
    throw new Error('the fake received no request');
  }
  return request;
}

describe('ServerSentEventParser', () => {
  const stream = Buffer.from(
    [
      ': a comment\r\n',
      'data: {"text":"नमस्ते"}\r\n\r\n',
      'event: usage\r\ndata:first line\r\ndata: second line\r\n\r\n',
      'data: cr\rdata: only\r\r',
      'id: 7\nretry: 100\ndata\n\n',
      'data: [DONE]\n\n',
    ].join(''),
  );
  const expected: ServerSentEvent[] = [
    { event: 'message', data: '{"text":"नमस्ते"}' },
    { event: 'usage', data: 'first line\nsecond line' },
    { event: 'message', data: 'cr\nonly' },
    { event: 'message', data: '' },
    { event: 'message', data: '[DONE]' },
  ];

  it('gives the same events wherever the bytes are split', () => {
    for (let split = 0; split <= stream.length; split++) {
      const parser = new ServerSentEventParser();
      const events = [
        ...parser.push(stream.subarray(0, split)),
        ...parser.push(stream.subarray(split)),
      ];
      expect(events, `split at byte ${split}`).toEqual(expected);
    }
  });

  it('gives the same events when fed one byte at a time', () => {
    const parser = new ServerSentEventParser();
    const events: ServerSentEvent[] = [];
    for (const byte of stream) {
      events.push(...parser.push(Uint8Array.of(byte)));
    }
    expect(events).toEqual(expected);
  });

  it('drops an event the stream cut off before its blank line', () => {
    const parser = new ServerSentEventParser();

    expect(parser.push(Buffer.from('data: {"complete":true}\n\ndata: {"cut'))).toEqual([
      { event: 'message', data: '{"complete":true}' },
    ]);
    expect(parser.push(Buffer.from('":1}\n'))).toEqual([]);
  });

  it('refuses a line longer than its bound, even before the line ends', () => {
    const parser = new ServerSentEventParser(64);

    expect(() => parser.push(Buffer.from(`data: ${'x'.repeat(100)}`))).toThrow(
      ServerSentEventTooLongError,
    );
  });
});

describe('OpenAiLanguageModel', () => {
  it('posts the chat request with model, temperature, max_tokens, tool history and tools', async () => {
    const parameters = { type: 'object', properties: { date: { type: 'string' } } };
    await collect(
      languageModel().stream(
        chatRequest({
          maxTokens: 150,
          messages: [
            { role: 'system', content: 'You book appointments.' },
            { role: 'user', content: 'Any slot on Friday?' },
            {
              role: 'assistant',
              content: '',
              toolCalls: [{ id: 'call_1', name: 'find_slots', arguments: '{"date":"friday"}' }],
            },
            { role: 'tool', toolCallId: 'call_1', content: '["10:30"]' },
          ],
          tools: [{ name: 'find_slots', description: 'Free slots on a day.', parameters }],
        }),
      ),
    );

    const request = lastRequest();
    expect(request.path).toBe('/v1/chat/completions');
    expect(request.headers.authorization).toBe(`Bearer ${fake.apiKey}`);
    expect(request.body).toEqual({
      model: 'gpt-4o-mini',
      temperature: 0.3,
      max_tokens: 150,
      stream: true,
      stream_options: { include_usage: true },
      messages: [
        { role: 'system', content: 'You book appointments.' },
        { role: 'user', content: 'Any slot on Friday?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: 'call_1',
              type: 'function',
              function: { name: 'find_slots', arguments: '{"date":"friday"}' },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '["10:30"]' },
      ],
      tools: [
        {
          type: 'function',
          function: { name: 'find_slots', description: 'Free slots on a day.', parameters },
        },
      ],
    });
  });

  it('leaves max_tokens and tools out when the request has none', async () => {
    await collect(languageModel().stream(chatRequest()));

    expect(lastRequest().body).not.toHaveProperty('max_tokens');
    expect(lastRequest().body).not.toHaveProperty('tools');
  });

  it('yields the first text while the server is still streaming the reply', async () => {
    const text = 'Sure, I can help you with booking that appointment today.';
    fake.reply({ text, tokenDelayMs: 25 });
    const events: LanguageModelEvent[] = [];
    let serverFinishedAtFirstText: boolean | undefined;

    for await (const event of languageModel().stream(chatRequest())) {
      if (event.type === 'text' && serverFinishedAtFirstText === undefined) {
        serverFinishedAtFirstText = lastRequest().finished;
      }
      events.push(event);
    }

    expect(serverFinishedAtFirstText).toBe(false);
    expect(events.filter((event) => event.type === 'text').length).toBeGreaterThan(5);
    expect(textOf(events)).toBe(text);
    expect(events.at(-1)).toMatchObject({ type: 'done', finishReason: 'stop' });
  });

  it('assembles a tool call streamed as fragments', async () => {
    const argumentsObject = { date: '2025-05-02', time: '10:30', name: 'Asha Rao' };
    fake.reply({ toolCalls: [{ name: 'book_slot', arguments: argumentsObject }] });

    const events = await collect(languageModel().stream(chatRequest()));

    const fragments = lastRequest().sentData.filter((data) =>
      data.includes('"function":{"arguments"'),
    );
    expect(fragments.length).toBeGreaterThan(3);
    const calls = events.filter((event) => event.type === 'tool-call');
    expect(calls).toEqual([
      {
        type: 'tool-call',
        call: {
          id: expect.stringMatching(/^call_fake/),
          name: 'book_slot',
          arguments: JSON.stringify(argumentsObject),
        },
      },
    ]);
    expect(events.at(-1)).toMatchObject({ type: 'done', finishReason: 'tool_calls' });
  });

  it('gives each of two parallel tool calls its own arguments, in index order', async () => {
    fake.reply({
      text: 'Let me check.',
      toolCalls: [
        { name: 'find_slots', arguments: { date: 'friday' } },
        { name: 'find_doctor', arguments: '{"speciality":"dentist"}' },
      ],
    });

    const events = await collect(languageModel().stream(chatRequest()));

    expect(textOf(events)).toBe('Let me check.');
    expect(
      events.flatMap((event) =>
        event.type === 'tool-call' ? [[event.call.name, event.call.arguments]] : [],
      ),
    ).toEqual([
      ['find_slots', '{"date":"friday"}'],
      ['find_doctor', '{"speciality":"dentist"}'],
    ]);
  });

  it('reports the usage the server counted', async () => {
    fake.reply({ text: 'Fine.', usage: { prompt_tokens: 57, completion_tokens: 9 } });

    const events = await collect(languageModel().stream(chatRequest()));

    expect(events.at(-1)).toEqual({
      type: 'done',
      finishReason: 'stop',
      usage: { promptTokens: 57, completionTokens: 9 },
      estimated: false,
    });
  });

  it('estimates usage from characters when the server sends none', async () => {
    const text = 'Your appointment is confirmed for Friday at ten thirty.';
    fake.reply({ text, usage: false });

    const events = await collect(
      languageModel().stream(
        chatRequest({ messages: [{ role: 'user', content: 'x'.repeat(400) }] }),
      ),
    );

    expect(lastRequest().sentData.some((data) => data.includes('"usage":{'))).toBe(false);
    expect(events.at(-1)).toEqual({
      type: 'done',
      finishReason: 'stop',
      usage: { promptTokens: 100, completionTokens: Math.ceil(text.length / 4) },
      estimated: true,
    });
  });

  it('reads CRLF endings, comments, multi-line data and events cut at any byte', async () => {
    const text = 'नमस्ते! Your slot is at 10:30, ठीक है?';
    fake.reply({
      text,
      framing: { lineEnding: '\r\n', comments: true, multiLineData: true, bytesPerWrite: 3 },
    });

    const events = await collect(languageModel().stream(chatRequest()));

    expect(textOf(events)).toBe(text);
    expect(events.at(-1)).toMatchObject({ type: 'done', estimated: false });
  });

  it('ends quietly when aborted mid-stream, and the server sees the connection close', async () => {
    fake.reply({
      text: 'This is a long reply that the caller interrupts. '.repeat(10),
      tokenDelayMs: 20,
    });
    const controller = new AbortController();
    const events: LanguageModelEvent[] = [];

    for await (const event of languageModel().stream(chatRequest({ signal: controller.signal }))) {
      events.push(event);
      if (event.type === 'text') {
        controller.abort();
      }
    }

    expect(events.map((event) => event.type)).toEqual(['text']);
    expect(await lastRequest().outcome).toBe('closed-early');
  });

  it('sends nothing when the signal is already aborted', async () => {
    const before = fake.requests.length;
    const controller = new AbortController();
    controller.abort();

    const events = await collect(
      languageModel().stream(chatRequest({ signal: controller.signal })),
    );

    expect(events).toEqual([]);
    expect(fake.requests.length).toBe(before);
  });

  describe('failures', () => {
    it('reports a refused connection as unavailable', async () => {
      const error = await failureOf(
        languageModel({ baseUrl: refusedBaseUrl }).stream(chatRequest()),
      );

      expect(error.failure).toBe('unavailable');
      expect(error.message).toContain('ECONNREFUSED');
    });

    it('reports a refused key (401) as unauthorized, without the key in the message', async () => {
      const error = await failureOf(languageModel({ apiKey: WRONG_KEY }).stream(chatRequest()));

      expect(error).toMatchObject({ failure: 'unauthorized', status: 401 });
      expect(error.message).not.toContain(WRONG_KEY);
    });

    it('reports 429 as rate-limited', async () => {
      fake.failNext({ status: 429 });

      const error = await failureOf(languageModel().stream(chatRequest()));

      expect(error).toMatchObject({ failure: 'rate-limited', status: 429, retryable: true });
    });

    it('reports 500 as unavailable', async () => {
      fake.failNext({ status: 500 });

      const error = await failureOf(languageModel().stream(chatRequest()));

      expect(error).toMatchObject({ failure: 'unavailable', status: 500 });
    });

    it("reports 400 as rejected with OpenAI's message cut short", async () => {
      const message = `Invalid value for 'temperature': must be at most 2. ${'detail '.repeat(200)}`;
      fake.failNext({ status: 400, message });

      const error = await failureOf(languageModel().stream(chatRequest()));

      expect(error).toMatchObject({ failure: 'rejected', status: 400, retryable: false });
      expect(error.message).toContain("Invalid value for 'temperature'");
      expect(error.message.length).toBeLessThan(300);
    });

    it('times out when no event comes within the first-token bound', async () => {
      fake.reply({ text: 'Too late.', firstTokenDelayMs: 3000 });
      const started = Date.now();

      const error = await failureOf(
        languageModel({ firstTokenTimeoutMs: 200 }).stream(chatRequest()),
      );

      expect(error.failure).toBe('timeout');
      expect(Date.now() - started).toBeLessThan(1500);
      expect(await lastRequest().outcome).toBe('closed-early');
    });

    it('times out when the server never answers', async () => {
      fake.failNext({ hang: true });

      const error = await failureOf(
        languageModel({ firstTokenTimeoutMs: 200 }).stream(chatRequest()),
      );

      expect(error.failure).toBe('timeout');
      expect(await lastRequest().outcome).toBe('closed-early');
    });

    it('times out when the stream stalls mid-reply', async () => {
      fake.failNext({ stallAfterFirstChunk: true });

      const error = await failureOf(languageModel({ idleTimeoutMs: 200 }).stream(chatRequest()));

      expect(error.failure).toBe('timeout');
      expect(error.message).toContain('mid-reply');
      expect(lastRequest().sentData).toHaveLength(1);
      expect(await lastRequest().outcome).toBe('closed-early');
    });

    it('reports an event that is not JSON as malformed', async () => {
      fake.failNext({ malformed: true });

      const error = await failureOf(languageModel().stream(chatRequest()));

      expect(error.failure).toBe('malformed');
    });

    it('reports a stream dropped before [DONE] as unavailable', async () => {
      fake.failNext({ dropMidStream: true });

      const error = await failureOf(languageModel().stream(chatRequest()));

      expect(error.failure).toBe('unavailable');
      expect(lastRequest().sentData).toHaveLength(1);
    });

    it('reports a reply larger than the byte bound as malformed', async () => {
      fake.reply({ text: 'word '.repeat(2000), tokenDelayMs: 1 });

      const error = await failureOf(
        languageModel({ maxResponseBytes: 8 * 1024 }).stream(chatRequest()),
      );

      expect(error.failure).toBe('malformed');
      expect(await lastRequest().outcome).toBe('closed-early');
    });
  });
});

interface Listener {
  handlers: TextToSpeechHandlers;
  audio: Buffer[];
  errors: VendorError[];
  doneCount: () => number;
  /** Settles on onDone or onError. */
  settled: Promise<'done' | 'error'>;
  firstAudio: Promise<void>;
}

function listen(): Listener {
  const audio: Buffer[] = [];
  const errors: VendorError[] = [];
  let done = 0;
  let settle: (how: 'done' | 'error') => void = () => undefined;
  let heard: () => void = () => undefined;
  const settled = new Promise<'done' | 'error'>((resolve) => (settle = resolve));
  const firstAudio = new Promise<void>((resolve) => (heard = resolve));
  return {
    audio,
    errors,
    doneCount: () => done,
    settled,
    firstAudio,
    handlers: {
      onAudio: (chunk) => {
        audio.push(chunk);
        heard();
      },
      onDone: () => {
        done++;
        settle('done');
      },
      onError: (error) => {
        errors.push(error);
        settle('error');
      },
    },
  };
}

function textToSpeech(options: Partial<OpenAiTextToSpeechOptions> = {}): OpenAiTextToSpeech {
  return new OpenAiTextToSpeech({
    apiKey: fake.apiKey,
    baseUrl: fake.baseUrl,
    firstAudioTimeoutMs: 1000,
    ...options,
  });
}

function rms(audio: Buffer): number {
  let sum = 0;
  for (let offset = 0; offset < audio.length; offset += 2) {
    sum += audio.readInt16LE(offset) ** 2;
  }
  return Math.sqrt(sum / (audio.length / 2));
}

function speechRequests(since: number): FakeOpenAi['requests'] {
  return fake.requests.slice(since).filter((request) => request.path === '/v1/audio/speech');
}

describe('OpenAiTextToSpeech', () => {
  it('plays two sentences in push order at 8 kHz, a third of the 24 kHz bytes', async () => {
    const first = 'Your appointment is booked.';
    const second = ' See you on Friday.';
    // The first sentence's audio starts last, quiet; the second is loud.
    fake.speak(
      { forInput: first, firstAudioDelayMs: 150, amplitude: 3000 },
      { forInput: second, amplitude: 12_000 },
    );
    const since = fake.requests.length;
    const listener = listen();
    const synthesis = textToSpeech().start(
      { voiceId: 'nova', language: 'en', sampleRate: 8000, settings: { speed: 1.25 } },
      listener.handlers,
    );

    synthesis.push(first);
    synthesis.push(second);
    synthesis.end();

    expect(await listener.settled).toBe('done');
    const bodies = speechRequests(since).map((request) => request.body);
    expect(bodies).toHaveLength(2);
    expect(bodies).toEqual(
      expect.arrayContaining([
        { model: 'tts-1', voice: 'nova', input: first, response_format: 'pcm', speed: 1.25 },
        { model: 'tts-1', voice: 'nova', input: second, response_format: 'pcm', speed: 1.25 },
      ]),
    );
    expect(synthesis.characters).toBe(first.length + second.length);
    const audio = Buffer.concat(listener.audio);
    const firstBytes = fake.speechBytesFor(first) / 3;
    const secondBytes = fake.speechBytesFor(second) / 3;
    expect(Math.abs(audio.length - (firstBytes + secondBytes))).toBeLessThanOrEqual(4);
    const quiet = rms(audio.subarray(200, firstBytes - 200));
    const loud = rms(audio.subarray(firstBytes + 200, audio.length - 200));
    expect(quiet).toBeGreaterThan(3000 * 0.6);
    expect(quiet).toBeLessThan(3000 * 0.8);
    expect(loud).toBeGreaterThan(12_000 * 0.6);
    expect(loud).toBeLessThan(12_000 * 0.8);
  });

  it('passes 24 kHz audio through unchanged and leaves out a speed OpenAI would refuse', async () => {
    const text = 'One moment please.';
    const since = fake.requests.length;
    const listener = listen();
    const synthesis = textToSpeech({ defaultModel: 'gpt-4o-mini-tts' }).start(
      { voiceId: 'alloy', language: 'en', sampleRate: 24_000, settings: { speed: 9 } },
      listener.handlers,
    );

    synthesis.push(text);
    synthesis.end();

    expect(await listener.settled).toBe('done');
    expect(speechRequests(since)[0]?.body).toEqual({
      model: 'gpt-4o-mini-tts',
      voice: 'alloy',
      input: text,
      response_format: 'pcm',
    });
    expect(Buffer.concat(listener.audio).length).toBe(fake.speechBytesFor(text));
    expect(listener.audio.every((chunk) => chunk.length % 2 === 0)).toBe(true);
  });

  it('reports done at once for an utterance with no text', async () => {
    const listener = listen();
    const synthesis = textToSpeech().start(
      { voiceId: 'alloy', language: 'en', sampleRate: 16_000 },
      listener.handlers,
    );

    synthesis.push('   ');
    synthesis.end();

    expect(await listener.settled).toBe('done');
    expect(synthesis.characters).toBe(0);
  });

  it('stops delivering audio once cancelled, and the server sees the request close', async () => {
    fake.speak({ chunkDelayMs: 20 });
    const since = fake.requests.length;
    const listener = listen();
    const synthesis = textToSpeech().start(
      { voiceId: 'alloy', language: 'en', sampleRate: 16_000 },
      listener.handlers,
    );
    synthesis.push('This is a long sentence that the caller interrupts halfway through.');
    synthesis.end();

    await listener.firstAudio;
    synthesis.cancel();
    const heardBeforeCancel = listener.audio.length;

    expect(await speechRequests(since)[0]?.outcome).toBe('closed-early');
    expect(listener.audio.length).toBe(heardBeforeCancel);
    expect(listener.doneCount()).toBe(0);
    expect(listener.errors).toEqual([]);
  });

  it('reports a refused key (401) once as unauthorized, before any audio', async () => {
    const since = fake.requests.length;
    const listener = listen();
    const synthesis = textToSpeech({ apiKey: WRONG_KEY }).start(
      { voiceId: 'alloy', language: 'en', sampleRate: 8000 },
      listener.handlers,
    );

    synthesis.push('First sentence.');
    synthesis.push(' Second sentence.');
    synthesis.end();

    expect(await listener.settled).toBe('error');
    await Promise.all(speechRequests(since).map((request) => request.outcome));
    expect(listener.errors).toHaveLength(1);
    expect(listener.errors[0]).toMatchObject({ failure: 'unauthorized', status: 401 });
    expect(listener.errors[0]?.message).not.toContain(WRONG_KEY);
    expect(listener.audio).toEqual([]);
    expect(listener.doneCount()).toBe(0);
  });

  it('reports a refused connection as unavailable', async () => {
    const listener = listen();
    const synthesis = textToSpeech({ baseUrl: refusedBaseUrl }).start(
      { voiceId: 'alloy', language: 'en', sampleRate: 8000 },
      listener.handlers,
    );

    synthesis.push('Hello.');
    synthesis.end();

    expect(await listener.settled).toBe('error');
    expect(listener.errors.map((error) => error.failure)).toEqual(['unavailable']);
  });

  it('times out when the server never answers, and closes the request', async () => {
    fake.failNext({ hang: true });
    const since = fake.requests.length;
    const listener = listen();
    const synthesis = textToSpeech({ firstAudioTimeoutMs: 200 }).start(
      { voiceId: 'alloy', language: 'en', sampleRate: 8000 },
      listener.handlers,
    );

    synthesis.push('Hello.');
    synthesis.end();

    expect(await listener.settled).toBe('error');
    expect(listener.errors.map((error) => error.failure)).toEqual(['timeout']);
    expect(await speechRequests(since)[0]?.outcome).toBe('closed-early');
  });

  it('reports a stream dropped mid-sentence as unavailable', async () => {
    fake.failNext({ dropMidStream: true });
    const listener = listen();
    const synthesis = textToSpeech().start(
      { voiceId: 'alloy', language: 'en', sampleRate: 8000 },
      listener.handlers,
    );

    synthesis.push('A sentence long enough for several chunks of audio.');
    synthesis.end();

    expect(await listener.settled).toBe('error');
    expect(listener.errors.map((error) => error.failure)).toEqual(['unavailable']);
  });
});
