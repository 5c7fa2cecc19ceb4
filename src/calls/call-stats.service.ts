import { Injectable } from '@nestjs/common';
import { MongoServerInfo } from '../infra/mongo/mongo-server-info.service.js';
import { CallLogsRepository } from './call-logs.repository.js';
import { isSuccessful } from './call-status.js';
import type {
  CallStatsQueryDto,
  CallStatsResponse,
  CallStatsRow,
  StatsGroup,
} from './dto/call.dto.js';
import type { CallStatus } from './schemas/call-log.schema.js';

interface Bucket {
  count: number;
  duration: number;
  cost: number;
  successes: number;
}

const round = (value: number, places: number): number =>
  Math.round(value * 10 ** places) / 10 ** places;

const GROUP_KEYS: Record<StatsGroup, Record<string, unknown> | string> = {
  day: { $dateToString: { format: '%Y-%m-%d', date: '$createdAt' } },
  agent: '$agentId',
  status: '$status',
};

/**
 * Call statistics per day, agent or status. On MongoDB one `$group` by (key, status) does the
 * work and the success rate is folded from the status split; where the server's `$group` is
 * limited (FerretDB) the same calls are streamed with a small projection and folded here.
 */
@Injectable()
export class CallStatsService {
  constructor(
    private readonly callLogs: CallLogsRepository,
    private readonly serverInfo: MongoServerInfo,
  ) {}

  async stats(userId: string, query: CallStatsQueryDto): Promise<CallStatsResponse> {
    const range = { from: query.from, to: query.to };
    const buckets = new Map<string, Bucket>();
    const add = (
      key: string,
      status: CallStatus,
      count: number,
      duration: number,
      cost: number,
    ): void => {
      const bucket = buckets.get(key) ?? { count: 0, duration: 0, cost: 0, successes: 0 };
      bucket.count += count;
      bucket.duration += duration;
      bucket.cost += cost;
      bucket.successes += isSuccessful(status) ? count : 0;
      buckets.set(key, bucket);
    };
    if (await this.serverInfo.supportsFullAggregation()) {
      for (const row of await this.callLogs.aggregateStats(
        userId,
        range,
        GROUP_KEYS[query.groupBy],
      )) {
        add(String(row._id.key), row._id.status, row.count, row.duration, row.cost);
      }
    } else {
      for await (const call of this.callLogs.streamForStats(userId, range)) {
        add(
          statsKeyOf(query.groupBy, call),
          call.status,
          1,
          call.durationSec ?? 0,
          call.costBreakdown?.total ?? 0,
        );
      }
    }
    const data: CallStatsRow[] = [...buckets.entries()]
      .sort(([left], [right]) => left.localeCompare(right))
      .map(([key, bucket]) => ({
        key,
        count: bucket.count,
        totalDuration: bucket.duration,
        avgDuration: bucket.count === 0 ? 0 : round(bucket.duration / bucket.count, 2),
        totalCost: round(bucket.cost, 4),
        successRate: bucket.count === 0 ? 0 : round(bucket.successes / bucket.count, 4),
      }));
    return { groupBy: query.groupBy, data };
  }
}

export function statsKeyOf(
  group: StatsGroup,
  call: { agentId: { toString(): string }; status: CallStatus; createdAt: Date },
): string {
  switch (group) {
    case 'day':
      return call.createdAt.toISOString().slice(0, 10);
    case 'agent':
      return call.agentId.toString();
    case 'status':
      return call.status;
  }
}
