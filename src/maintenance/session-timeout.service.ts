import { Inject, Injectable } from '@nestjs/common';
import { CallLifecycleService } from '../calls/call-lifecycle.service.js';
import { CallLogsRepository } from '../calls/call-logs.repository.js';
import { isTerminal } from '../calls/call-status.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { SessionsRepository } from '../sessions/sessions.repository.js';

export interface SessionTimeoutSummary {
  checked: number;
  timedOut: number;
}

// The shortest timeout an agent may set: sessions idle for less are never candidates.
const MIN_TIMEOUT_SECONDS = 10;
const BATCH = 500;

/**
 * Ends active sessions idle longer than their agent's sessionTimeout (or the default), the
 * way a call end does: through the call lifecycle, with error code SESSION_TIMEOUT on a call
 * that had not ended yet.
 */
@Injectable()
export class SessionTimeoutService {
  constructor(
    private readonly sessions: SessionsRepository,
    private readonly callLogs: CallLogsRepository,
    private readonly lifecycle: CallLifecycleService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async run(now = new Date()): Promise<SessionTimeoutSummary> {
    const candidates = await this.sessions.findActiveIdleSince(
      new Date(now.getTime() - MIN_TIMEOUT_SECONDS * 1000),
      BATCH,
    );
    let timedOut = 0;
    for (const session of candidates) {
      const timeoutSeconds =
        session.agentConfig.sessionTimeout ?? this.config.maintenance.defaultSessionTimeoutSeconds;
      if (now.getTime() - session.lastActivityAt.getTime() < timeoutSeconds * 1000) {
        continue;
      }
      timedOut += 1;
      const call = await this.callLogs.findById(session.callLogId);
      if (call && !isTerminal(call.status)) {
        await this.lifecycle.applyEvent({
          callLogId: call._id.toString(),
          status: call.status === 'in-progress' ? 'agent-ended' : 'failed',
          occurredAt: now,
          error: { code: 'SESSION_TIMEOUT', message: `No activity for ${timeoutSeconds} s` },
        });
      } else {
        // The call ended but its session did not (a crash mid-way): finish the call's end.
        await this.lifecycle.finalize(session.callLogId.toString());
      }
    }
    return { checked: candidates.length, timedOut };
  }
}
