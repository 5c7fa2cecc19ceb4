/**
 * The call's audio as a carrier transport (telephony's Exotel media stream) hands it to the
 * conversation: plain PCM16 LE mono both ways, at the stream's sample rate. The transport alone
 * knows the carrier's frames, chunk rules and close codes.
 */
export interface CallAudioTransport {
  readonly sampleRate: number;
  /** Queues the agent's audio for playback, in order. */
  play(audio: Buffer): void;
  /**
   * Ends a piece of played audio (a sentence): `onPlayed(name)` follows once the caller has
   * heard everything queued before it. A mark still queued when `clear()` is called is never
   * reported (whatever the carrier echoes for it).
   */
  mark(name: string): void;
  /** Drops all audio queued for playback (barge-in). */
  clear(): void;
  /** Ends the media stream (and with it the carrier's call leg). */
  close(reason: string): void;
}

/** What the conversation hears from the transport. */
export interface CallAudioListener {
  /** Caller audio, PCM16 LE mono at the transport's sample rate. */
  onAudio(audio: Buffer): void;
  onDtmf(digit: string): void;
  onPlayed(markName: string): void;
  /** The stream ended (caller hung up, carrier stop, socket lost, or our close). Called once. */
  onClosed(reason: string): void;
}

/** Who a live stream belongs to, as the transport authenticated it. */
export interface CallStreamIdentity {
  sessionId: string;
  callSid: string;
  streamSid: string;
}

/**
 * Starts the conversation for an authenticated stream (the voice runtime implements it; the
 * transport only calls it once the session is known to be live and this stream is its only one).
 */
export interface ConversationStarter {
  start(identity: CallStreamIdentity, transport: CallAudioTransport): Promise<CallAudioListener>;
}

export const CONVERSATION_STARTER = Symbol('CONVERSATION_STARTER');
