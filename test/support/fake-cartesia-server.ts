import {
  fakeTtsSpeechBytes,
  startFakeTtsServer,
  tone,
  type FakeTtsFailure,
  type FakeTtsMessageHandlers,
  type FakeTtsOptions,
  type FakeTtsServer,
  type FakeTtsStream,
  type RecordedTtsConnection,
} from './fake-tts-websocket-server.js';

/**
 * A local stand-in for Cartesia's text-to-speech WebSocket on 127.0.0.1:
 * `GET /tts/websocket?cartesia_version=...` with the key in the `X-API-Key` header (or the
 * `api_key` query). Generation requests carry `model_id`, `transcript`, `voice {mode:"id", id}`,
 * `output_format {container:"raw", encoding, sample_rate}`, `context_id` and `continue`; each
 * transcript of a context is spoken as it arrives (`{"type":"chunk","data":base64,"done":false,
 * "status_code":206,"step_time","context_id"}`), and after the input with `continue: false` the
 * context ends with `{"type":"done","done":true,"status_code":206,"context_id"}`.
 * `{"context_id","cancel":true}` stops a context's audio. Errors are
 * `{"type":"error","done":true,"status_code","title","message","error_code","context_id"}`.
 * The socket stays open across contexts (the client closes it). The audio, the recording of
 * connections and the scripted failures are those of every fake TTS server.
 */

export const FAKE_CARTESIA_KEY = 'fake-cartesia-key';

export interface FakeCartesiaOptions extends FakeTtsOptions {
  /** The only key accepted (default `fake-cartesia-key`). */
  apiKey?: string;
  /** Before each chunk, also send a timestamps message and a chunk of another context. */
  interleaveOtherMessages?: boolean;
}

interface CartesiaErrorMessage {
  message: string;
  errorCode: string;
  status: number;
}

/**
 * How the next connection fails, once; the vendor's error message answers the first
 * generation request.
 */
export type FakeCartesiaFailure = FakeTtsFailure<CartesiaErrorMessage>;

export type RecordedCartesiaConnection = RecordedTtsConnection;

export type FakeCartesia = FakeTtsServer<FakeCartesiaFailure>;

const SAMPLE_RATES = new Set([8000, 16000, 22050, 24000, 44100, 48000]);

/** Bytes of fake speech for `characters` characters of text. */
export const fakeCartesiaSpeechBytes = fakeTtsSpeechBytes;

/** Why a generation request is invalid, or undefined when it is a valid one. */
function invalidRequest(request: Record<string, unknown>): string | undefined {
  const voice = request.voice as Record<string, unknown> | undefined;
  const format = request.output_format as Record<string, unknown> | undefined;
  if (typeof request.model_id !== 'string' || request.model_id.length === 0) {
    return 'model_id is required';
  }
  if (typeof request.transcript !== 'string') {
    return 'transcript is required';
  }
  if (typeof request.context_id !== 'string' || request.context_id.length === 0) {
    return 'context_id is required';
  }
  if (voice?.mode !== 'id' || typeof voice.id !== 'string') {
    return 'voice must be {"mode":"id","id":...}';
  }
  if (
    format?.container !== 'raw' ||
    format.encoding !== 'pcm_s16le' ||
    typeof format.sample_rate !== 'number' ||
    !SAMPLE_RATES.has(format.sample_rate)
  ) {
    return 'output_format must be raw pcm_s16le at a supported sample_rate';
  }
  return undefined;
}

export function startFakeCartesia(options: FakeCartesiaOptions = {}): Promise<FakeCartesia> {
  const apiKey = options.apiKey ?? FAKE_CARTESIA_KEY;
  return startFakeTtsServer<CartesiaErrorMessage>(options, {
    refusalBody: (message) => ({ error: message }),
    upgrade(request, url) {
      if (url.pathname !== '/tts/websocket') {
        return { refuse: 404, message: 'Not found' };
      }
      const key = request.headers['x-api-key'] ?? url.searchParams.get('api_key');
      if (key !== apiKey) {
        return { refuse: 401, message: 'Invalid API key' };
      }
      if (!url.searchParams.get('cartesia_version') && !request.headers['cartesia-version']) {
        return { refuse: 400, message: 'Cartesia-Version is required' };
      }
      return { serve: (stream) => serveContexts(stream, options) };
    },
  });
}

function serveContexts(
  stream: FakeTtsStream<CartesiaErrorMessage>,
  options: FakeCartesiaOptions,
): FakeTtsMessageHandlers {
  const { failure, isOpen, send } = stream;
  const cancelled = new Set<string>();
  let speaking = Promise.resolve();

  const sendError = (contextId: unknown, status: number, code: string, message: string): void => {
    send({
      type: 'error',
      done: true,
      status_code: status,
      title: 'Request failed',
      message,
      error_code: code,
      request_id: 'fake-request',
      context_id: contextId,
    });
  };

  const sendChunk = (contextId: string, sampleRate: number, audio: Buffer): void => {
    if (options.interleaveOtherMessages) {
      const words = { words: ['fake'], start: [0], end: [0.1] };
      send({
        type: 'timestamps',
        done: false,
        status_code: 206,
        context_id: contextId,
        word_timestamps: words,
      });
      const foreign = tone(64, sampleRate).toString('base64');
      send({
        type: 'chunk',
        data: foreign,
        done: false,
        status_code: 206,
        step_time: 1,
        context_id: 'another-context',
      });
    }
    send({
      type: 'chunk',
      data: audio.toString('base64'),
      done: false,
      status_code: 206,
      step_time: 1,
      context_id: contextId,
    });
  };

  return {
    invalidJson() {
      sendError(undefined, 400, 'invalid_json', 'The message is not valid JSON.');
    },
    message(request, firstMessage) {
      if (request.cancel === true && typeof request.context_id === 'string') {
        cancelled.add(request.context_id);
        return;
      }
      if (failure && 'errorMessage' in failure && firstMessage) {
        const { status, errorCode, message: text } = failure.errorMessage;
        sendError(request.context_id, status, errorCode, text);
        return;
      }
      if (failure && 'silent' in failure) {
        return;
      }
      const invalid = invalidRequest(request);
      if (invalid) {
        sendError(request.context_id, 400, 'invalid_request', invalid);
        return;
      }
      const contextId = request.context_id as string;
      const text = request.transcript as string;
      const sampleRate = (request.output_format as { sample_rate: number }).sample_rate;
      const last = request.continue !== true;
      speaking = speaking.then(async () => {
        await stream.speak(
          text,
          sampleRate,
          (audio) => {
            sendChunk(contextId, sampleRate, audio);
          },
          () => !cancelled.has(contextId),
        );
        if (last && isOpen() && !cancelled.has(contextId)) {
          send({ type: 'done', done: true, status_code: 206, context_id: contextId });
        }
      });
    },
  };
}
