import type { SpeechToTextEvent } from '../../ports/speech-to-text.port.js';

/** What one Deepgram message means for the stream's consumer. */
export type DeepgramMessageMeaning =
  | { kind: 'event'; event: Exclude<SpeechToTextEvent, { type: 'error' }> }
  | { kind: 'nothing' }
  | { kind: 'malformed'; reason: string };

const NOTHING: DeepgramMessageMeaning = { kind: 'nothing' };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalFlag(message: Record<string, unknown>, name: string): boolean | undefined {
  const value = message[name];
  if (value === undefined) {
    return false;
  }
  return typeof value === 'boolean' ? value : undefined;
}

function interpretResults(message: Record<string, unknown>): DeepgramMessageMeaning {
  const channel = message.channel;
  const alternatives = isRecord(channel) ? channel.alternatives : undefined;
  const best: unknown = Array.isArray(alternatives) ? alternatives[0] : undefined;
  const transcript = isRecord(best) ? best.transcript : undefined;
  const isFinal = optionalFlag(message, 'is_final');
  const speechFinal = optionalFlag(message, 'speech_final');
  if (typeof transcript !== 'string' || isFinal === undefined || speechFinal === undefined) {
    return { kind: 'malformed', reason: 'a Results message without channel.alternatives[0]' };
  }
  const text = transcript.trim();
  if (text !== '') {
    return isFinal
      ? { kind: 'event', event: { type: 'final', text, endOfTurn: speechFinal } }
      : { kind: 'event', event: { type: 'interim', text } };
  }
  // Endpointing can fire after the words were already finalized: the turn ends without new text.
  return isFinal && speechFinal ? { kind: 'event', event: { type: 'end-of-turn' } } : NOTHING;
}

/** Reads one text frame of Deepgram's live transcription protocol, trusting nothing in it. */
export function interpretDeepgramMessage(text: string): DeepgramMessageMeaning {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    return { kind: 'malformed', reason: 'a message that is not JSON' };
  }
  if (!isRecord(message) || typeof message.type !== 'string') {
    return { kind: 'malformed', reason: 'a message without a type' };
  }
  switch (message.type) {
    case 'Results':
      return interpretResults(message);
    case 'SpeechStarted':
      return { kind: 'event', event: { type: 'speech-started' } };
    case 'UtteranceEnd':
      return { kind: 'event', event: { type: 'end-of-turn' } };
    default:
      // Metadata, and message types Deepgram adds later, carry nothing the conversation needs.
      return NOTHING;
  }
}

export const DEEPGRAM_VENDOR = 'deepgram';
