/** One customer's Exotel account, with the API token already decrypted. */
export interface ExotelCredentials {
  apiKey: string;
  apiToken: string;
  /** Account SID, part of every API path. */
  sid: string;
  /** API host of the account's region, e.g. `api.exotel.com` or `api.in.exotel.com`. */
  subdomain: string;
}

/** An outbound call that rings `from` and, once answered, runs the Exotel flow at `url`. */
export interface ConnectCallRequest {
  /** The customer's number, dialled first (Exotel's `From`). */
  from: string;
  /** The ExoPhone the customer sees (Exotel's `CallerId`). */
  callerId: string;
  /** The flow to run once answered; build it with `exotelFlowUrl(sid, appId)`. */
  url: string;
  /** Where Exotel posts the `answered` and `terminal` events (JSON). */
  statusCallback: string;
  /** Echoed back by Exotel in the terminal StatusCallback and to Passthru applets. */
  customField?: string;
  /** Longest the call may last, in seconds (Exotel allows at most 14400). */
  timeLimit?: number;
  record?: boolean;
}

/** Exotel's Call object (v1 API, JSON flavour); fields are absent or null until known. */
export interface ExotelCall {
  Sid: string;
  ParentCallSid?: string | null;
  DateCreated?: string | null;
  DateUpdated?: string | null;
  AccountSid?: string | null;
  To?: string | null;
  From?: string | null;
  PhoneNumberSid?: string | null;
  Status?: string | null;
  StartTime?: string | null;
  EndTime?: string | null;
  /** Seconds, sent as a string ("17") or a number. */
  Duration?: string | number | null;
  Price?: string | number | null;
  Direction?: string | null;
  AnsweredBy?: string | null;
  Uri?: string | null;
  RecordingUrl?: string | null;
  [field: string]: unknown;
}

export interface ConnectCallResult {
  callSid: string;
  /** Exotel's status word (`queued`, `in-progress`, ...); map it with `fromExotelStatus`. */
  status: string;
  /** The Call object as Exotel sent it. */
  raw: ExotelCall;
}

export interface ExotelCallDetails {
  callSid: string;
  /** Exotel's status word; map it with `fromExotelStatus`. */
  status: string;
  /** Exotel's "YYYY-MM-DD HH:mm:ss" in the account's time zone, as written. */
  startTime?: string;
  endTime?: string;
  /** Seconds; Exotel fills it in a few minutes after the call ends. */
  durationSec?: number;
  recordingUrl?: string;
  /** The Call object as Exotel sent it. */
  raw: ExotelCall;
}
