import {
  fakeTtsSpeechBytes,
  startFakeTtsServer,
  type FakeTtsFailure,
  type FakeTtsMessageHandlers,
  type FakeTtsOptions,
  type FakeTtsServer,
  type FakeTtsStream,
  type RecordedTtsConnection,
} from './fake-tts-websocket-server.js';

/**
 * A local stand-in for ElevenLabs' `stream-input` text-to-speech WebSocket on 127.0.0.1:
 * `GET /v1/text-to-speech/{voice_id}/stream-input?model_id&output_format` with the key in the
 * `xi-api-key` header; the client's first message is `{"text":" ", voice_settings?,
 * generation_config?}`, then `{"text": "... ", flush?, try_trigger_generation?}` pieces, and
 * `{"text":""}` ends the input. Audio is generated for the buffered text on flush,
 * try_trigger_generation or the end, sent as `{"audio": base64, "isFinal": null, ...}`, then
 * `{"isFinal": true}` and a normal close. Errors are `{"message","error","code":1008}` followed
 * by a 1008 close (a refused key is reported this way after the socket opened). The audio, the
 * recording of connections and the scripted failures are those of every fake TTS server.
 */

export const FAKE_ELEVENLABS_KEY = 'fake-elevenlabs-key';

export interface FakeElevenLabsOptions extends FakeTtsOptions {
  /** The only key accepted (default `fake-elevenlabs-key`). */
  apiKey?: string;
}

interface ElevenLabsErrorMessage {
  error: string;
  message: string;
}

/**
 * How the next connection fails, once; the vendor's error message (then a 1008 close) answers
 * the first message.
 */
export type FakeElevenLabsFailure = FakeTtsFailure<ElevenLabsErrorMessage>;

export type RecordedElevenLabsConnection = RecordedTtsConnection;

export type FakeElevenLabs = FakeTtsServer<FakeElevenLabsFailure>;

const STREAM_INPUT_PATH = /^\/v1\/text-to-speech\/([^/]+)\/stream-input$/;
const PCM_FORMAT = /^pcm_(8000|16000|22050|24000|44100)$/;

/** Bytes of fake speech for `characters` characters of text. */
export const fakeElevenLabsSpeechBytes = fakeTtsSpeechBytes;

export function startFakeElevenLabs(options: FakeElevenLabsOptions = {}): Promise<FakeElevenLabs> {
  const apiKey = options.apiKey ?? FAKE_ELEVENLABS_KEY;
  const msPerCharacter = options.msPerCharacter ?? 60;
  return startFakeTtsServer<ElevenLabsErrorMessage>(options, {
    refusalBody: (detail) => ({ detail: { status: 'error', message: detail } }),
    upgrade(request, url) {
      const format = PCM_FORMAT.exec(url.searchParams.get('output_format') ?? '');
      if (!STREAM_INPUT_PATH.test(url.pathname) || !format) {
        const status = STREAM_INPUT_PATH.test(url.pathname) ? 400 : 404;
        return { refuse: status, message: 'not supported' };
      }
      const keyAccepted = request.headers['xi-api-key'] === apiKey;
      return {
        serve: (stream) =>
          serveStream(stream, { sampleRate: Number(format[1]), keyAccepted, msPerCharacter }),
      };
    },
  });
}

interface StreamSetup {
  sampleRate: number;
  keyAccepted: boolean;
  msPerCharacter: number;
}

function serveStream(
  stream: FakeTtsStream<ElevenLabsErrorMessage>,
  setup: StreamSetup,
): FakeTtsMessageHandlers {
  const { webSocket, failure, isOpen } = stream;
  const { sampleRate, msPerCharacter } = setup;
  let buffered = '';
  let initialised = false;
  let speaking = Promise.resolve();

  const refuse = (error: string, message: string): void => {
    webSocket.send(JSON.stringify({ message, error, code: 1008 }));
    webSocket.close(1008, message.slice(0, 120));
  };

  const sendChunk = (text: string, audio: Buffer, offset: number): void => {
    const alignment =
      offset === 0
        ? {
            chars: [...text],
            charStartTimesMs: [...text].map((_, index) => index * msPerCharacter),
            charDurationsMs: [...text].map(() => msPerCharacter),
          }
        : null;
    webSocket.send(
      JSON.stringify({
        audio: audio.toString('base64'),
        isFinal: null,
        normalizedAlignment: alignment,
        alignment,
      }),
    );
  };

  const generate = (final: boolean): void => {
    const text = buffered;
    buffered = '';
    speaking = speaking.then(async () => {
      await stream.speak(text, sampleRate, (audio, offset) => {
        sendChunk(text, audio, offset);
      });
      if (final && isOpen()) {
        webSocket.send(JSON.stringify({ isFinal: true }));
        webSocket.close(1000);
      }
    });
  };

  return {
    invalidJson() {
      refuse('invalid_message', 'The message is not valid JSON.');
    },
    message(fields, firstMessage) {
      if (failure && 'errorMessage' in failure && firstMessage) {
        refuse(failure.errorMessage.error, failure.errorMessage.message);
        return;
      }
      if (!setup.keyAccepted && firstMessage) {
        refuse('invalid_api_key', 'Invalid API key');
        return;
      }
      if (failure && 'silent' in failure) {
        return;
      }
      if (typeof fields.text !== 'string') {
        refuse('invalid_message', 'The message has no text field.');
        return;
      }
      if (!initialised) {
        if (fields.text !== ' ') {
          refuse('invalid_message', 'The initial text that must be sent is a blank space.');
          return;
        }
        initialised = true;
        return;
      }
      if (fields.text === '') {
        generate(true);
        return;
      }
      buffered += fields.text;
      if (fields.flush === true || fields.try_trigger_generation === true) {
        generate(false);
      }
    },
  };
}
