import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import type { WebSocket } from 'ws';
import type { AppConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.module.js';
import { withinTime } from '../../infra/queue/enqueue-within.js';
import { RedisLockService, type HeldLock } from '../../infra/lock/redis-lock.service.js';
import { SessionsService } from '../../sessions/sessions.service.js';
import {
  type CallAudioListener,
  type CallStreamIdentity,
  CONVERSATION_STARTER,
  type ConversationStarter,
} from '../../voice/ports/call-audio.port.js';
import type { StreamStart } from './exotel-media-frames.js';
import { ExotelMediaStream, type StreamAdmission } from './exotel-media-stream.js';
import { MediaStreamCloseCode } from './media-stream-close-codes.js';
import { MediaStreamSignals, streamClaimName } from './media-stream-signals.js';
import { MediaStreamUrls } from './media-stream-urls.js';

/**
 * Sockets still waiting for `start` (or being checked) at once: each costs little, but an
 * unauthenticated peer must not be able to hold memory and timers without bound.
 */
const MAX_PENDING_STREAMS = 500;

/** How long a live stream's claim on its session lasts unless renewed (renewed every third). */
const LIVE_CLAIM_MS = 30_000;

type Admission = Awaited<ReturnType<StreamAdmission['admit']>>;

/**
 * The media role's entry point: authenticates each Exotel stream (signed session URL, in the
 * query or in `start.custom_parameters`), makes sure its session is live and has no other
 * stream anywhere in the cluster, then hands it to the conversation.
 */
@Injectable()
export class ExotelMediaStreamGateway
  implements StreamAdmission, OnModuleInit, OnApplicationShutdown
{
  private readonly logger = new Logger('MediaStream');
  private readonly streams = new Map<
    ExotelMediaStream,
    { sessionId?: string; claim?: HeldLock; renewal?: NodeJS.Timeout }
  >();
  private readonly bySession = new Map<string, ExotelMediaStream>();

  constructor(
    private readonly urls: MediaStreamUrls,
    private readonly sessions: SessionsService,
    private readonly locks: RedisLockService,
    private readonly signals: MediaStreamSignals,
    @Inject(CONVERSATION_STARTER) private readonly conversations: ConversationStarter,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Hang-ups asked for elsewhere in the cluster reach the stream here. */
  onModuleInit(): void {
    this.signals.listen(({ sessionId, reason }) => {
      this.endStream(sessionId, reason);
    });
  }

  /** A socket Exotel opened on the stream path, with its URL's query parameters. */
  accept(socket: WebSocket, query: Record<string, unknown>): void {
    if (this.streams.size - this.bySession.size >= MAX_PENDING_STREAMS) {
      socket.close(MediaStreamCloseCode.flood, 'too many streams waiting to start');
      return;
    }
    const stream = new ExotelMediaStream(socket, query, this, this.logger);
    this.streams.set(stream, {});
  }

  /** Live streams in this process. */
  get liveCount(): number {
    return this.bySession.size;
  }

  /** Ends the live stream of a session held by this process; false when there is none here. */
  endStream(sessionId: string, reason: string): boolean {
    const stream = this.bySession.get(sessionId);
    if (!stream) {
      return false;
    }
    stream.close(reason);
    return true;
  }

  async admit(start: StreamStart, stream: ExotelMediaStream): Promise<Admission> {
    const fromQuery = this.urls.check(stream.query);
    const check = fromQuery.ok ? fromQuery : this.urls.check(start.customParameters);
    if (!check.ok) {
      return { admitted: false, code: MediaStreamCloseCode.unauthorized, reason: check.problem };
    }
    const { sessionId } = check;
    const session = await this.sessions.findLive(sessionId);
    if (!session) {
      return {
        admitted: false,
        code: MediaStreamCloseCode.sessionNotFound,
        reason: 'no such session',
      };
    }
    if (session.status !== 'active') {
      return {
        admitted: false,
        code: MediaStreamCloseCode.sessionEnded,
        reason: 'the call has ended',
      };
    }
    if (session.exotelCallSid !== undefined && session.exotelCallSid !== start.callSid) {
      return {
        admitted: false,
        code: MediaStreamCloseCode.wrongCall,
        reason: 'the stream is for another call',
      };
    }
    // The queue connection waits out Redis outages: a stream is refused instead of held.
    const claim = await withinTime(
      this.locks.acquire(streamClaimName(sessionId), LIVE_CLAIM_MS),
      this.config.redis.enqueueTimeoutMs,
      'media stream claims',
    );
    if (!claim) {
      return {
        admitted: false,
        code: MediaStreamCloseCode.alreadyStreaming,
        reason: 'the call already has a live stream',
      };
    }
    const entry = this.streams.get(stream);
    if (!entry) {
      // Closed while the checks ran.
      await this.locks.release(claim);
      return { admitted: false, code: MediaStreamCloseCode.normal, reason: 'closed' };
    }
    entry.sessionId = sessionId;
    entry.claim = claim;
    entry.renewal = setInterval(() => {
      this.renew(stream, claim);
    }, LIVE_CLAIM_MS / 3);
    this.bySession.set(sessionId, stream);
    const identity: CallStreamIdentity = {
      sessionId,
      callSid: start.callSid,
      streamSid: start.streamSid,
    };
    let listener: CallAudioListener;
    try {
      listener = await this.conversations.start(identity, stream);
    } catch (error) {
      this.released(stream);
      throw error;
    }
    return { admitted: true, identity, listener };
  }

  released(stream: ExotelMediaStream): void {
    const entry = this.streams.get(stream);
    this.streams.delete(stream);
    if (!entry) {
      return;
    }
    clearInterval(entry.renewal);
    if (entry.sessionId !== undefined && this.bySession.get(entry.sessionId) === stream) {
      this.bySession.delete(entry.sessionId);
    }
    if (entry.claim) {
      this.locks.release(entry.claim).catch((error: unknown) => {
        this.logger.warn(`could not release the stream claim: ${String(error)}`);
      });
    }
  }

  onApplicationShutdown(): void {
    for (const stream of [...this.streams.keys()]) {
      stream.end(MediaStreamCloseCode.normal, 'server shutting down');
    }
  }

  private renew(stream: ExotelMediaStream, claim: HeldLock): void {
    this.locks.renew(claim, LIVE_CLAIM_MS).then(
      (held) => {
        if (!held) {
          stream.end(
            MediaStreamCloseCode.alreadyStreaming,
            'the stream lost its claim on the call',
          );
        }
      },
      (error: unknown) => {
        // Redis away for a moment: the claim lasts LIVE_CLAIM_MS, the next renewal may succeed.
        this.logger.warn(`could not renew the stream claim: ${String(error)}`);
      },
    );
  }
}
