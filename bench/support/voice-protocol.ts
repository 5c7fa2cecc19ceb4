/**
 * What bench:voice's two processes share: the fixed delays of the fake vendors, how a caller
 * behaves, and the messages between the app process and the fakes process (Node IPC).
 */

/** The fakes' fixed delays (ms); together they are the part of a turn that is not ours. */
export const FAKE_DELAYS = {
  /** VOICE_ENDPOINTING_MS: caller silence the fake Deepgram hears before its final. */
  endpointingMs: 300,
  /** The fake Deepgram's final, this long after endpointing (`finalDelayMs`). */
  sttFinalMs: 100,
  /** The fake model's first token after the request (`firstTokenDelayMs`); the rest at once. */
  llmFirstTokenMs: 200,
  /** The fake OpenAI speech's first audio, after the request (`firstAudioDelayMs`). */
  ttsFirstAudioMs: 100,
} as const;

export const FIXED_DELAY_MS =
  FAKE_DELAYS.endpointingMs +
  FAKE_DELAYS.sttFinalMs +
  FAKE_DELAYS.llmFirstTokenMs +
  FAKE_DELAYS.ttsFirstAudioMs;

/**
 * The fake OpenAI voice: 45 ms of audio per character (about 22 characters a second, brisk
 * speech), streamed as 250 ms pieces (12,000 bytes of 24 kHz PCM) every 125 ms, i.e. at twice
 * real time, so a stall of the app shows as a hole in the caller's playback.
 */
export const FAKE_VOICE = {
  msPerCharacter: 45,
  chunkBytes: 12_000,
  chunkDelayMs: 125,
} as const;

/** How every caller behaves (each call draws its own pauses and speech lengths). */
export const CALLER = {
  turns: 3,
  /** Speech lengths, whole 100 ms frames so endpointing starts on a frame boundary. */
  speechMs: [600, 700, 800, 900, 1000],
  /** Silence after the agent's last audio before the caller talks. */
  pauseMs: { min: 300, max: 1500 },
  /** The first turn waits up to this much more, so the calls' turns do not line up. */
  firstTurnSpreadMs: 2000,
  /** Calls connect one after another, spread over this much time (at least). */
  rampMs: 3000,
  /** Bound on any single wait of a call (greeting, reply, STT stream opening). */
  stepTimeoutMs: 20_000,
} as const;

export const GREETING = 'Hello! How can I help you today?';

/** The caller's words as the fake Deepgram hears them: a number ties the turn together. */
export function callerLine(id: number): string {
  return `Where is my order ${id}`;
}

/** The fake model's answer to `callerLine(id)`: two sentences, the first names the order. */
export function agentReply(id: number): string {
  return `Order ${id} is on its way to you now. It should reach you by Friday afternoon.`;
}

export function callerLineId(text: string): number | undefined {
  const match = /order (\d+)$/.exec(text.trim());
  return match ? Number(match[1]) : undefined;
}

export function replyId(text: string): number | undefined {
  const match = /^Order (\d+) /.exec(text.trim());
  return match ? Number(match[1]) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

export interface LiveCallTarget {
  /** ws://127.0.0.1:<port>/api/v1/telephony/exotel/stream?session=…&exp=…&sig=… */
  streamUrl: string;
  callSid: string;
}

/** App process -> fakes process. */
export type ToFakes =
  { type: 'run'; level: number; seed: number; calls: LiveCallTarget[] } | { type: 'stop' };

/** Milliseconds between the moments of one turn, all taken on the fakes' clock. */
export interface TurnStages {
  /** Caller's speech end -> the fake Deepgram's final leaves (endpointing + STT delay + app). */
  speechEndToFinal: number;
  /** Final leaves -> the chat request reaches the fake model (the app). */
  finalToChat: number;
  /** Chat request -> first token leaves (the fake's delay). */
  chatToFirstToken: number;
  /** First token -> the first sentence's speech request reaches the fake (the app). */
  firstTokenToSpeech: number;
  /** Speech request -> first audio leaves (the fake's delay). */
  speechToFirstAudio: number;
  /** First audio leaves the fake -> the caller receives the reply's first media frame (the app). */
  firstAudioToCaller: number;
}

export interface TurnReport {
  speechMs: number;
  /** Caller's speech end -> first agent audio of the reply at the caller. */
  latencyMs: number;
  /** Absent when a moment could not be matched to the turn. */
  stages?: TurnStages;
}

export interface CallReport {
  ok: boolean;
  problem?: string;
  /** Stream opened -> first greeting audio at the caller. */
  greetingMs?: number;
  turns: TurnReport[];
  /** Holes in the playback inside one utterance (ms each). */
  gapsMs: number[];
  /** Utterances (sentences between marks) the caller received. */
  utterances: number;
  violations: string[];
  closeCode?: number;
}

export interface FakesLoad {
  /** CPU of the fakes process during the turns (ms) and the wall time of that window. */
  cpuMs: number;
  wallMs: number;
  /** Event-loop lag p99 of the fakes process during the turns (ms): the timing noise floor. */
  lagP99Ms: number;
  /** Finals whose words were not scripted (the script ran out: no STT delay on those). */
  unscriptedFinals: number;
}

/** Fakes process -> app process. */
export type FromFakes =
  | {
      type: 'ready';
      deepgram: { baseUrl: string; apiKey: string };
      openai: { baseUrl: string; apiKey: string };
    }
  /** Every call has been greeted: the measured turns start now. */
  | { type: 'turns-started'; level: number }
  /** Every call has finished its turns (each hangs up next). */
  | { type: 'turns-done'; level: number }
  | { type: 'report'; level: number; calls: CallReport[]; fakes: FakesLoad }
  | { type: 'failed'; message: string };
