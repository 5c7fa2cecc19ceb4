import { Injectable } from '@nestjs/common';
import { AgentsRepository } from '../agents/agents.repository.js';
import { CallLogsRepository } from '../calls/call-logs.repository.js';
import {
  DailyCallStatsRepository,
  dailyCallStatKey,
} from '../calls/daily-call-stats.repository.js';
import { MARKER_RETENTION_MS } from '../calls/finalization-deadline.js';
import { UsersRepository } from '../users/users.repository.js';

const BATCH = 200;
// At most this many batches a run (the next run goes on), so a backlog cannot hold the lock.
const MAX_BATCHES = 25;

/**
 * Removes the exactly-once markers of finalized calls from their user, agent and roll-up
 * document, once the call was finalized MARKER_RETENTION_MS ago: by then no finalizer may
 * still write an effect of it (see CallLifecycleService), so the markers have done their job
 * and only make the documents grow. Idempotent: a batch cut short is removed again next time.
 */
@Injectable()
export class MarkerSweepService {
  constructor(
    private readonly callLogs: CallLogsRepository,
    private readonly users: UsersRepository,
    private readonly agents: AgentsRepository,
    private readonly dailyStats: DailyCallStatsRepository,
  ) {}

  /** Returns the number of calls whose markers were removed. */
  async run(now = new Date()): Promise<number> {
    const finalizedBefore = new Date(now.getTime() - MARKER_RETENTION_MS);
    let removed = 0;
    for (let batch = 0; batch < MAX_BATCHES; batch += 1) {
      const calls = await this.callLogs.findWithMarkersFinalizedBefore(finalizedBefore, BATCH);
      if (calls.length === 0) {
        break;
      }
      await Promise.all([
        this.users.removeChargeMarkers(
          calls
            .filter((call) => call.billing?.charged !== undefined)
            .map((call) => ({
              userId: call.userId,
              callLogId: call._id.toString(),
              charged: call.billing?.charged ?? 0,
            })),
        ),
        this.agents.removeStatsMarkers(
          calls.map((call) => ({ agentId: call.agentId, callLogId: call._id.toString() })),
        ),
        this.dailyStats.removeMarkers(
          calls.map((call) => ({ key: dailyCallStatKey(call), callLogId: call._id.toString() })),
        ),
      ]);
      await this.callLogs.clearMarkersPending(calls.map((call) => call._id));
      removed += calls.length;
      if (calls.length < BATCH) {
        break;
      }
    }
    return removed;
  }
}
