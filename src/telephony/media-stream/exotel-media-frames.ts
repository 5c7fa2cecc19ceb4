/**
 * Exotel's Voicebot (bidirectional AgentStream) frames, and only them: parsed from the socket
 * into plain events, and built for the socket from plain audio. Nothing else in the code base
 * knows Exotel's JSON.
 */

export const EXOTEL_SAMPLE_RATES = [8000, 16000, 24000] as const;
export type ExotelSampleRate = (typeof EXOTEL_SAMPLE_RATES)[number];

/** Longest text frame accepted from Exotel (a 100 ms media frame at 24 kHz is ~6.5 KB). */
export const MAX_INBOUND_FRAME_BYTES = 64 * 1024;
/** Exotel's limit on custom parameters (3 pairs, 256 characters), with room for JSON quoting. */
const MAX_CUSTOM_PARAMETERS = 3;
const MAX_FIELD_LENGTH = 256;
const BASE64_PATTERN = /^[A-Za-z0-9+/]*={0,2}$/;
const DTMF_PATTERN = /^[0-9*#A-D]$/;

export interface StreamStart {
  streamSid: string;
  callSid: string;
  accountSid: string;
  from: string;
  to: string;
  customParameters: Record<string, string>;
  sampleRate: ExotelSampleRate;
}

export type InboundFrame =
  | { event: 'connected' }
  | { event: 'start'; start: StreamStart }
  | { event: 'media'; audio: Buffer }
  | { event: 'dtmf'; digit: string }
  | { event: 'mark'; name: string }
  | { event: 'stop'; reason: string };

export type ParsedFrame = { ok: true; frame: InboundFrame } | { ok: false; problem: string };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A short string field (Exotel sends numbers as strings; a number is accepted too). */
function text(record: Record<string, unknown>, name: string): string | undefined {
  const value = record[name];
  if (typeof value === 'number' && Number.isFinite(value)) {
    return String(value);
  }
  return typeof value === 'string' && value.length <= MAX_FIELD_LENGTH ? value : undefined;
}

function customParameters(value: unknown): Record<string, string> | undefined {
  if (value === undefined || value === null) {
    return {};
  }
  if (!isRecord(value)) {
    return undefined;
  }
  const entries = Object.entries(value);
  if (entries.length > MAX_CUSTOM_PARAMETERS * 4) {
    return undefined;
  }
  const parameters: Record<string, string> = {};
  for (const [key, item] of entries) {
    if (typeof item === 'string' && key.length <= 64 && item.length <= MAX_FIELD_LENGTH) {
      parameters[key] = item;
    }
  }
  return parameters;
}

function parseStart(frame: Record<string, unknown>): ParsedFrame {
  const start = frame.start;
  if (!isRecord(start)) {
    return { ok: false, problem: 'start without its start object' };
  }
  const streamSid = text(start, 'stream_sid') ?? text(frame, 'stream_sid');
  const callSid = text(start, 'call_sid');
  if (!streamSid || !callSid) {
    return { ok: false, problem: 'start without stream_sid or call_sid' };
  }
  const format = isRecord(start.media_format) ? start.media_format : {};
  const rate = Number(text(format, 'sample_rate') ?? 8000);
  if (!(EXOTEL_SAMPLE_RATES as readonly number[]).includes(rate)) {
    return { ok: false, problem: `unsupported sample rate ${String(format.sample_rate)}` };
  }
  const parameters = customParameters(start.custom_parameters);
  if (!parameters) {
    return { ok: false, problem: 'custom_parameters is not a small object of strings' };
  }
  return {
    ok: true,
    frame: {
      event: 'start',
      start: {
        streamSid,
        callSid,
        accountSid: text(start, 'account_sid') ?? '',
        from: text(start, 'from') ?? '',
        to: text(start, 'to') ?? '',
        customParameters: parameters,
        sampleRate: rate as ExotelSampleRate,
      },
    },
  };
}

function parseMedia(frame: Record<string, unknown>): ParsedFrame {
  const media = frame.media;
  const payload = isRecord(media) ? media.payload : undefined;
  if (typeof payload !== 'string' || payload.length % 4 !== 0 || !BASE64_PATTERN.test(payload)) {
    return { ok: false, problem: 'media payload is not base64' };
  }
  const audio = Buffer.from(payload, 'base64');
  if (audio.length % 2 !== 0) {
    return { ok: false, problem: 'media payload is not whole 16-bit samples' };
  }
  return { ok: true, frame: { event: 'media', audio } };
}

/** Parses one text frame from Exotel; anything that is not its protocol is a problem, never a throw. */
export function parseInboundFrame(data: string): ParsedFrame {
  let frame: unknown;
  try {
    frame = JSON.parse(data);
  } catch {
    return { ok: false, problem: 'frame is not JSON' };
  }
  if (!isRecord(frame) || typeof frame.event !== 'string') {
    return { ok: false, problem: 'frame is not an event object' };
  }
  switch (frame.event) {
    case 'connected':
      return { ok: true, frame: { event: 'connected' } };
    case 'start':
      return parseStart(frame);
    case 'media':
      return parseMedia(frame);
    case 'dtmf': {
      const digit = isRecord(frame.dtmf) ? text(frame.dtmf, 'digit') : undefined;
      return digit !== undefined && DTMF_PATTERN.test(digit)
        ? { ok: true, frame: { event: 'dtmf', digit } }
        : { ok: false, problem: 'dtmf without a digit' };
    }
    case 'mark': {
      const name = isRecord(frame.mark) ? text(frame.mark, 'name') : undefined;
      return name !== undefined
        ? { ok: true, frame: { event: 'mark', name } }
        : { ok: false, problem: 'mark without a name' };
    }
    case 'stop': {
      const reason = (isRecord(frame.stop) ? text(frame.stop, 'reason') : undefined) ?? 'stopped';
      return { ok: true, frame: { event: 'stop', reason } };
    }
    default:
      return { ok: false, problem: `unknown event ${JSON.stringify(frame.event.slice(0, 32))}` };
  }
}

export function mediaFrame(streamSid: string, audio: Buffer): string {
  return JSON.stringify({
    event: 'media',
    stream_sid: streamSid,
    media: { payload: audio.toString('base64') },
  });
}

export function markFrame(streamSid: string, name: string): string {
  return JSON.stringify({ event: 'mark', stream_sid: streamSid, mark: { name } });
}

export function clearFrame(streamSid: string): string {
  return JSON.stringify({ event: 'clear', stream_sid: streamSid });
}
