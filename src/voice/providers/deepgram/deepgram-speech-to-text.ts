import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import type {
  SpeechToText,
  SpeechToTextEvent,
  SpeechToTextOptions,
  SpeechToTextStream,
} from '../../ports/speech-to-text.port.js';
import { VendorError } from '../../ports/vendor-error.js';
import { DeepgramLiveStream } from './deepgram-live-stream.js';
import { DEEPGRAM_VENDOR } from './deepgram-messages.js';
import { vendorText } from '../vendor-text.js';

export interface DeepgramSpeechToTextOptions {
  apiKey: string;
  /** Where Deepgram's API is, e.g. `wss://api.deepgram.com`. */
  baseUrl: string;
  /** Time allowed for the WebSocket handshake (default 5000). */
  connectTimeoutMs?: number;
  /** Silence (no audio written) after which a KeepAlive is sent (default 4000). */
  keepAliveIntervalMs?: number;
  /** Model when the stream's options name none (default `nova-2`). */
  defaultModel?: string;
  /** Time `finish()` waits for Deepgram's last results and close (default 3000). */
  finishTimeoutMs?: number;
}

/** Deepgram's messages are small JSON; anything bigger is not its protocol. */
const MAX_MESSAGE_BYTES = 1024 * 1024;
/** Deepgram's interim results come about once a second, so a shorter UtteranceEnd gap means nothing. */
const MIN_UTTERANCE_END_MS = 1000;

function handshakeFailure(response: IncomingMessage): VendorError {
  const status = response.statusCode ?? 0;
  // Deepgram explains a refused stream in the `dg-error` header of the upgrade answer.
  const header = response.headers['dg-error'];
  const reason = vendorText(Array.isArray(header) ? header.join(' ') : (header ?? ''));
  const detail = reason === '' ? '' : `: ${reason}`;
  if (status === 401 || status === 403) {
    return new VendorError(DEEPGRAM_VENDOR, 'unauthorized', `refused the key (${status})`, status);
  }
  if (status === 429) {
    return new VendorError(DEEPGRAM_VENDOR, 'rate-limited', `rate limited (429)${detail}`, status);
  }
  if (status >= 400 && status < 500) {
    return new VendorError(
      DEEPGRAM_VENDOR,
      'rejected',
      `refused the stream (${status})${detail}`,
      status,
    );
  }
  if (status >= 500) {
    return new VendorError(DEEPGRAM_VENDOR, 'unavailable', `answered ${status}${detail}`, status);
  }
  return new VendorError(
    DEEPGRAM_VENDOR,
    'malformed',
    `answered the upgrade with ${status}`,
    status,
  );
}

function connectionFailure(error: Error & { code?: unknown }): VendorError {
  const code = typeof error.code === 'string' ? error.code : 'unknown';
  return new VendorError(DEEPGRAM_VENDOR, 'unavailable', `connection failed (${code})`);
}

/** Deepgram live transcription (`/v1/listen` over a WebSocket) as a SpeechToText. */
export class DeepgramSpeechToText implements SpeechToText {
  readonly vendor = DEEPGRAM_VENDOR;

  constructor(private readonly options: DeepgramSpeechToTextOptions) {}

  open(
    options: SpeechToTextOptions,
    onEvent: (event: SpeechToTextEvent) => void,
  ): Promise<SpeechToTextStream> {
    if (!Number.isInteger(options.sampleRate) || options.sampleRate <= 0) {
      return Promise.reject(
        new VendorError(DEEPGRAM_VENDOR, 'rejected', `invalid sample rate ${options.sampleRate}`),
      );
    }
    const settings = {
      sampleRate: options.sampleRate,
      keepAliveIntervalMs: this.options.keepAliveIntervalMs ?? 4000,
      finishTimeoutMs: this.options.finishTimeoutMs ?? 3000,
    };
    return this.connect(
      this.listenUrl(options),
      (socket) => new DeepgramLiveStream(socket, settings, onEvent),
    );
  }

  private listenUrl(options: SpeechToTextOptions): string {
    const query = new URLSearchParams({
      model: options.model ?? this.options.defaultModel ?? 'nova-2',
      language: options.language,
      encoding: 'linear16',
      sample_rate: String(options.sampleRate),
      channels: '1',
      interim_results: 'true',
      endpointing: String(Math.max(0, Math.round(options.endpointingMs))),
      utterance_end_ms: String(Math.max(MIN_UTTERANCE_END_MS, Math.round(options.utteranceEndMs))),
      vad_events: 'true',
      smart_format: 'true',
      punctuate: 'true',
    });
    return `${this.options.baseUrl.replace(/\/+$/, '')}/v1/listen?${query.toString()}`;
  }

  /**
   * `startStream` runs inside the `open` callback: a frame that came with the handshake answer
   * is emitted before any promise continuation, and must find the stream's listeners.
   */
  private connect(
    url: string,
    startStream: (socket: WebSocket) => DeepgramLiveStream,
  ): Promise<DeepgramLiveStream> {
    const timeoutMs = this.options.connectTimeoutMs ?? 5000;
    return new Promise((resolve, reject) => {
      let socket: WebSocket;
      try {
        socket = new WebSocket(url, {
          headers: { Authorization: `Token ${this.options.apiKey}` },
          maxPayload: MAX_MESSAGE_BYTES,
          perMessageDeflate: false,
          followRedirects: false,
        });
      } catch {
        reject(new VendorError(DEEPGRAM_VENDOR, 'rejected', 'the base URL is not a WebSocket URL'));
        return;
      }
      let settled = false;
      const giveUp = (error: VendorError): void => {
        if (settled) {
          return;
        }
        settled = true;
        clearTimeout(timer);
        // Aborting the handshake emits one more socket error, which the listener below ignores.
        socket.terminate();
        reject(error);
      };
      const timer = setTimeout(() => {
        giveUp(new VendorError(DEEPGRAM_VENDOR, 'timeout', `no handshake within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.on('unexpected-response', (_request, response) => {
        giveUp(handshakeFailure(response));
      });
      socket.on('error', (error) => {
        giveUp(connectionFailure(error));
      });
      socket.on('close', () => {
        giveUp(new VendorError(DEEPGRAM_VENDOR, 'unavailable', 'closed during the handshake'));
      });
      socket.once('open', () => {
        if (settled) {
          return;
        }
        settled = true;
        clearTimeout(timer);
        socket.removeAllListeners();
        resolve(startStream(socket));
      });
    });
  }
}
