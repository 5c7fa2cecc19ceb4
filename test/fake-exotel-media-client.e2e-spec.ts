import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  connectFakeExotel,
  ExotelHandshakeRefused,
  type FakeExotelMediaClient,
  type FakeExotelOptions,
} from './support/fake-exotel-media-client.js';
import { rms, tone } from './support/pcm-audio.js';
import { waitFor } from './support/wait-for.js';

/** The bot's side of one call, as the in-test server sees it. */
interface BotCall {
  request: IncomingMessage;
  frames: { at: number; data: string | Buffer; binary: boolean }[];
  /** Parsed text frames. */
  messages: any[];
  closeCode: Promise<number>;
  send(frame: unknown): void;
}

interface Bot {
  url: string;
  callFor(testCall: string): Promise<BotCall>;
  close(): Promise<void>;
}

async function startBot(options: { refuseWith?: number } = {}): Promise<Bot> {
  const server = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    verifyClient:
      options.refuseWith === undefined
        ? undefined
        : (_info, callback) => callback(false, options.refuseWith),
  });
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const calls: BotCall[] = [];
  server.on('connection', (socket: WebSocket, request) => {
    const call: BotCall = {
      request,
      frames: [],
      messages: [],
      closeCode: new Promise((resolve) => socket.on('close', (code) => resolve(code))),
      send: (frame) =>
        socket.send(
          typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame),
        ),
    };
    socket.on('message', (data, binary) => {
      const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer);
      call.frames.push({ at: performance.now(), data: binary ? bytes : bytes.toString(), binary });
      if (!binary) {
        try {
          call.messages.push(JSON.parse(bytes.toString()));
        } catch {
          // hostile-frame tests send text that is not JSON; `frames` keeps it
        }
      }
    });
    calls.push(call);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/api/v1/telephony/exotel/stream`,
    callFor: (testCall) =>
      waitFor(
        () =>
          Promise.resolve(
            calls.find((call) => call.request.url?.includes(`test-call=${testCall}`)),
          ),
        2_000,
        `the call ${testCall} to reach the bot`,
      ),
    close: () =>
      new Promise((resolve) => {
        for (const client of server.clients) {
          client.terminate();
        }
        server.close(() => resolve());
      }),
  };
}

function eventually(condition: () => boolean, what: string, timeoutMs = 2_000): Promise<true> {
  return waitFor(() => Promise.resolve(condition() ? true : undefined), timeoutMs, what);
}

/** A bot media frame of `bytes` bytes of 8 kHz tone. */
function media(streamSid: string, bytes: number): object {
  const audio = tone((bytes / 16_000) * 1000, 8000);
  return { event: 'media', stream_sid: streamSid, media: { payload: audio.toString('base64') } };
}

function mark(streamSid: string, name: string): object {
  return { event: 'mark', stream_sid: streamSid, mark: { name } };
}

function payloadOf(message: any): Buffer {
  return Buffer.from(message.media.payload, 'base64');
}

describe('fake Exotel media client (the Voicebot applet side of the stream)', () => {
  let bot: Bot;
  let callCounter = 0;
  const openCalls: FakeExotelMediaClient[] = [];

  beforeAll(async () => {
    bot = await startBot();
  });

  afterAll(async () => {
    await Promise.all(openCalls.map((client) => client.close()));
    await bot.close();
  });

  async function call(
    options: Partial<FakeExotelOptions> & { query?: string } = {},
  ): Promise<{ client: FakeExotelMediaClient; botCall: BotCall }> {
    callCounter += 1;
    const testCall = String(callCounter);
    const query = options.query ? `${options.query}&` : '';
    const client = await connectFakeExotel({
      realtime: false,
      ...options,
      url: `${bot.url}?${query}test-call=${testCall}`,
    });
    openCalls.push(client);
    return { client, botCall: await bot.callFor(testCall) };
  }

  it('opens with connected, then start carrying the call, the URL custom parameters and the media format', async () => {
    const { client, botCall } = await call({
      query: 'sample-rate=8000&agent=a1',
      headers: { authorization: 'Basic a2V5OnRva2Vu' },
      callSid: 'call-1',
      from: '+919000000001',
    });
    await eventually(() => botCall.messages.length >= 2, 'connected and start');

    expect(botCall.request.headers.authorization).toBe('Basic a2V5OnRva2Vu');
    expect(botCall.messages[0]).toEqual({ event: 'connected' });
    expect(client.streamSid).toMatch(/^MZ[0-9a-f]{32}$/);
    expect(botCall.messages[1]).toEqual({
      event: 'start',
      sequence_number: '1',
      stream_sid: client.streamSid,
      start: {
        stream_sid: client.streamSid,
        call_sid: 'call-1',
        account_sid: 'fake-account',
        from: '+919000000001',
        to: '+918047491899',
        custom_parameters: { agent: 'a1', 'test-call': expect.any(String) },
        media_format: { encoding: 'audio/x-raw', sample_rate: '8000', bit_rate: '16' },
      },
    });
  });

  it('sends caller speech as 100 ms frames of 1,600 bytes at 8 kHz with rising sequence, chunk and timestamp', async () => {
    const { client, botCall } = await call();
    const spoken = await client.speak(300);
    await client.silence(100);
    await eventually(() => botCall.messages.length === 6, 'four media frames');

    expect(spoken).toMatchObject({ frames: 3, complete: true });
    const frames = botCall.messages.slice(2);
    expect(frames.map((frame) => frame.event)).toEqual(['media', 'media', 'media', 'media']);
    expect(frames.map((frame) => frame.sequence_number)).toEqual(['2', '3', '4', '5']);
    expect(frames.map((frame) => frame.media.chunk)).toEqual(['1', '2', '3', '4']);
    expect(frames.map((frame) => frame.media.timestamp)).toEqual(['100', '200', '300', '400']);
    expect(frames.every((frame) => frame.stream_sid === client.streamSid)).toBe(true);
    expect(frames.map((frame) => payloadOf(frame).length)).toEqual([1600, 1600, 1600, 1600]);
    expect(rms(payloadOf(frames[0]))).toBeGreaterThan(1000);
    expect(rms(payloadOf(frames[3]))).toBe(0);
  });

  it('takes the sample rate from the URL like Exotel and sends 3,200-byte frames at 16 kHz', async () => {
    const { client, botCall } = await call({ query: 'sample-rate=16000' });
    await client.speak(200);
    await eventually(() => botCall.messages.length === 4, 'two media frames');

    expect(client.sampleRate).toBe(16000);
    expect(botCall.messages[1].start.media_format.sample_rate).toBe('16000');
    expect(botCall.messages.slice(2).map((frame) => payloadOf(frame).length)).toEqual([3200, 3200]);
  });

  it('paces speech at wall-clock speed when realtime', async () => {
    const { client, botCall } = await call({ realtime: true });
    const askedAt = performance.now();
    const spoken = await client.speak(300);
    await eventually(() => botCall.messages.length === 5, 'three media frames');

    // A frame leaves once its 100 ms have been captured, so the last one leaves as speech ends.
    expect(spoken).toMatchObject({ frames: 3, complete: true });
    expect(spoken.endedAt - askedAt).toBeGreaterThanOrEqual(300);
    const arrivals = botCall.frames.slice(2).map((frame) => frame.at - askedAt);
    expect(arrivals[0]).toBeGreaterThanOrEqual(100);
    expect(arrivals[2]).toBeGreaterThanOrEqual(300);
  });

  it('streams background silence around speech so the bot gets an unbroken stream', async () => {
    const { client, botCall } = await call({ realtime: true });
    const mediaFrames = () => botCall.messages.filter((message) => message.event === 'media');
    client.startSilence();
    await eventually(() => mediaFrames().length >= 2, 'silence before speech');
    await client.speak(200);
    const afterSpeech = mediaFrames().length + 2;
    await eventually(() => mediaFrames().length >= afterSpeech, 'silence after speech');
    client.stopSilence();
    await client.stop();

    const frames = mediaFrames();
    const loud = frames.map((frame) => rms(payloadOf(frame)) > 0);
    expect(loud.slice(0, 2)).toEqual([false, false]);
    expect(loud.filter(Boolean)).toHaveLength(2);
    expect(loud.at(-1)).toBe(false);
    expect(frames.map((frame) => Number(frame.media.chunk))).toEqual(
      frames.map((_frame, index) => index + 1),
    );
    const arrivals = botCall.frames
      .filter((frame) => !frame.binary && JSON.parse(frame.data as string).event === 'media')
      .map((frame) => frame.at);
    const longestPause = Math.max(...arrivals.slice(1).map((at, index) => at - arrivals[index]!));
    expect(longestPause).toBeLessThan(250);
  });

  it('sends DTMF like Exotel, and on hang-up sends stop then closes with 1000', async () => {
    const { client, botCall } = await call({ callSid: 'call-dtmf' });
    client.dtmf('5');
    const closed = await client.stop();

    expect(closed.code).toBe(1000);
    expect(await botCall.closeCode).toBe(1000);
    expect(botCall.messages.slice(2)).toEqual([
      {
        event: 'dtmf',
        sequence_number: '2',
        stream_sid: client.streamSid,
        dtmf: { digit: '5', duration: '100' },
      },
      {
        event: 'stop',
        sequence_number: '3',
        stream_sid: client.streamSid,
        stop: { call_sid: 'call-dtmf', account_sid: 'fake-account', reason: 'callended' },
      },
    ]);
  });

  it('echoes a mark only once the audio sent before it has played', async () => {
    const { client, botCall } = await call({ realtime: true, playbackRate: 10 });
    for (let chunk = 0; chunk < 5; chunk += 1) {
      botCall.send(media(client.streamSid, 3200));
    }
    botCall.send(mark(client.streamSid, 'reply-1'));
    await eventually(() => botCall.messages.some((message) => message.event === 'mark'), 'echo');

    const echo = botCall.messages.find((message) => message.event === 'mark');
    expect(echo).toEqual({
      event: 'mark',
      sequence_number: '2',
      stream_sid: client.streamSid,
      mark: { name: 'reply-1' },
    });
    // 1 s of 8 kHz audio plays in 100 ms at ten times the speed.
    expect(client.marksEchoed[0]!.at - client.audio[0]!.at).toBeGreaterThanOrEqual(99.9);
    expect(client.marksReceived.map((received) => received.name)).toEqual(['reply-1']);
    expect(client.playedAudioMs).toBe(1000);
    expect(client.heardAudio()).toHaveLength(16_000);
    expect(client.violations).toEqual([]);
  });

  it('echoes a mark at once when audio plays instantly (not realtime)', async () => {
    const { client, botCall } = await call();
    botCall.send(media(client.streamSid, 3200));
    botCall.send(mark(client.streamSid, 'short'));
    await eventually(() => client.marksEchoed.length === 1, 'echo');

    expect(client.marksEchoed[0]!.at - client.marksReceived[0]!.at).toBeLessThan(20);
    expect(client.heardAudio()).toHaveLength(3200);
  });

  it('on clear drops audio not yet playing, finishes the chunk playing, and echoes the marks behind it', async () => {
    const { client, botCall } = await call({ realtime: true });
    for (let chunk = 0; chunk < 10; chunk += 1) {
      botCall.send(media(client.streamSid, 3200));
    }
    botCall.send(mark(client.streamSid, 'long-reply'));
    botCall.send({ event: 'clear', stream_sid: client.streamSid });
    const clear = await client.waitFor((frame) => frame.event === 'clear');
    await eventually(() => client.marksEchoed.length === 1, 'the pending mark echoed on clear');

    expect(client.clears).toEqual([clear.at]);
    expect(client.marksEchoed[0]!.at - client.clears[0]!).toBeLessThan(50);
    expect(client.queuedAudioMs).toBeLessThanOrEqual(200);

    botCall.send(mark(client.streamSid, 'after-clear'));
    await eventually(() => client.marksEchoed.length === 2, 'the mark after the clear');
    expect(client.marksEchoed[1]!.at - client.audio[0]!.at).toBeGreaterThanOrEqual(199.9);
    expect(client.playedAudioMs).toBe(200);
    expect(client.heardAudio()).toEqual(client.audio[0]!.bytes);
  });

  it('counts a gap when the playout buffer runs dry inside an utterance, not between utterances', async () => {
    const { client, botCall } = await call({ realtime: true, playbackRate: 10 });
    botCall.send(media(client.streamSid, 3200));
    await client.waitUntil(() => client.playedAudioMs === 200, 1_000, 'the first chunk played');
    botCall.send(media(client.streamSid, 3200));
    botCall.send(mark(client.streamSid, 'utterance-1'));
    await eventually(() => client.marksEchoed.length === 1, 'the first utterance played');
    botCall.send(media(client.streamSid, 3200));
    botCall.send(mark(client.streamSid, 'utterance-2'));
    await eventually(() => client.marksEchoed.length === 2, 'the second utterance played');

    const gaps = client.audioGaps(0);
    expect(gaps).toHaveLength(1);
    expect(gaps[0]!.durationMs).toBeGreaterThan(0);
    expect(gaps[0]!.at).toBeCloseTo(client.audio[0]!.at + 20, 6);
    expect(client.audioGaps(gaps[0]!.durationMs)).toEqual([]);
  });

  describe('records every breach of Exotel rules by the bot', () => {
    const cases: [string, (streamSid: string) => unknown[]][] = [
      ['payload-not-multiple-of-320', (sid) => [media(sid, 3300)]],
      ['short-chunk-followed-by-media', (sid) => [media(sid, 1600), media(sid, 3200)]],
      ['chunk-over-100kb', (sid) => [media(sid, 100_160)]],
      [
        'bad-base64',
        (sid) => [{ event: 'media', stream_sid: sid, media: { payload: 'not base64!' } }],
      ],
      ['unknown-event', (sid) => [{ event: 'play', stream_sid: sid }]],
      ['not-a-json-object', () => ['[1,2,3]']],
      ['invalid-json', () => ['{"event":']],
      ['wrong-stream-sid', () => [media('MZsomeoneelse', 3200)]],
      ['binary-frame', () => [Buffer.alloc(3200)]],
      ['malformed-event', (sid) => [{ event: 'mark', stream_sid: sid, mark: {} }]],
    ];

    it.each(cases)('%s', async (kind, frames) => {
      const { client, botCall } = await call();
      for (const frame of frames(client.streamSid)) {
        botCall.send(frame);
      }
      botCall.send(mark(client.streamSid, 'sentinel'));
      await eventually(() => client.marksEchoed.length === 1, 'the sentinel mark');

      expect(client.violations.map((violation) => violation.kind)).toEqual([kind]);
    });

    it('accepts a reply whose short last chunk ends at a mark, and a short chunk cut by clear', async () => {
      const { client, botCall } = await call();
      const sid = client.streamSid;
      for (const frame of [media(sid, 3200), media(sid, 640), mark(sid, 'reply')]) {
        botCall.send(frame);
      }
      for (const frame of [
        media(sid, 960),
        { event: 'clear', stream_sid: sid },
        media(sid, 3200),
      ]) {
        botCall.send(frame);
      }
      botCall.send(mark(sid, 'sentinel'));
      await eventually(() => client.marksEchoed.length === 2, 'both marks');

      expect(client.violations).toEqual([]);
      expect(client.audio.map((chunk) => chunk.bytes.length)).toEqual([3200, 640, 960, 3200]);
    });
  });

  it('sends hostile raw frames verbatim and can drop the connection without a close frame', async () => {
    const { client, botCall } = await call({ autoStart: false });
    client.sendRaw('{"event":"media"');
    client.sendRaw(Buffer.from([0, 1, 2]));
    await eventually(() => botCall.frames.length === 2, 'the raw frames');
    const closed = await client.drop();

    expect(botCall.frames.map((frame) => [frame.binary, frame.data])).toEqual([
      [false, '{"event":"media"'],
      [true, Buffer.from([0, 1, 2])],
    ]);
    expect(closed.code).toBe(1006);
    expect(await botCall.closeCode).toBe(1006);
  });

  it('fails the connection with 1009 when the bot sends a frame over maxPayloadBytes', async () => {
    const { client, botCall } = await call({ maxPayloadBytes: 64 * 1024 });
    botCall.send(media(client.streamSid, 64_000));
    await client.closed;

    expect(await botCall.closeCode).toBe(1009);
    expect(client.errors.map((error) => error.message)).toEqual([
      expect.stringMatching(/max payload size exceeded/i),
    ]);
  });

  it('rejects with the HTTP status when the endpoint refuses the upgrade', async () => {
    const refusing = await startBot({ refuseWith: 401 });
    try {
      const refused = connectFakeExotel({ url: refusing.url });
      await expect(refused).rejects.toBeInstanceOf(ExotelHandshakeRefused);
      await expect(refused).rejects.toMatchObject({ status: 401 });
    } finally {
      await refusing.close();
    }
  });

  it('leaves no timer behind once the call ends', async () => {
    const timers = () =>
      process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length;
    const before = timers();
    const { client, botCall } = await call({ realtime: true });
    client.startSilence();
    const speaking = client.speak(1000);
    botCall.send(media(client.streamSid, 32_000));
    botCall.send(mark(client.streamSid, 'never-played'));
    await eventually(() => client.marksReceived.length === 1, 'the mark to be queued');
    const waiting = client.waitUntil(() => false, 5_000, 'something that never happens');
    await client.stop();

    await expect(waiting).rejects.toThrow(/call ended/);
    expect(await speaking).toMatchObject({ complete: false });
    expect(client.marksEchoed).toEqual([]);
    expect(timers()).toBeLessThanOrEqual(before);
  });
});
