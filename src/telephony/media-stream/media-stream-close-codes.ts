/**
 * Close codes of the media-stream socket (4000-4999 are the application's). Each refusal
 * happens before any vendor is contacted.
 */
export const MediaStreamCloseCode = {
  /** The call is over (stop, hang-up, end of conversation). */
  normal: 1000,
  /** Something failed on our side. */
  internalError: 1011,
  /** A frame that is not Exotel's protocol where it cannot be skipped (media before start, ...). */
  protocolError: 4400,
  /** No credentials, a bad signature or an expired one. */
  unauthorized: 4401,
  /** The signed session belongs to another call (CallSid differs). */
  wrongCall: 4403,
  /** No such session. */
  sessionNotFound: 4404,
  /** No start frame in time. */
  startTimeout: 4408,
  /** The session already has a live stream. */
  alreadyStreaming: 4409,
  /** The session has ended. */
  sessionEnded: 4410,
  /** The peer does not read what we send (its buffer grew past the bound). */
  peerNotReading: 4413,
  /** More frames per second than a call can produce. */
  flood: 4429,
} as const;
