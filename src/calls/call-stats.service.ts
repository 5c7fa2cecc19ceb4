import { Injectable } from '@nestjs/common';
import { DailyCallStatsRepository, type DailyCallStatRow } from './daily-call-stats.repository.js';
import type {
  CallStatsQueryDto,
  CallStatsResponse,
  CallStatsRow,
  StatsGroup,
} from './dto/call.dto.js';
import { utcDay } from './schemas/daily-call-stat.schema.js';

interface Bucket {
  count: number;
  duration: number;
  cost: number;
  successes: number;
}

const round = (value: number, places: number): number =>
  Math.round(value * 10 ** places) / 10 ** places;

function keyOf(group: StatsGroup, row: DailyCallStatRow): string {
  switch (group) {
    case 'day':
      return row.day;
    case 'agent':
      return row.agentId.toString();
    case 'status':
      return row.status;
  }
}

/**
 * Statistics of the user's finalized calls per day, agent or status, folded from the daily
 * roll-up (one document per day, agent and status): the same few documents on every server,
 * however many calls there were.
 */
@Injectable()
export class CallStatsService {
  constructor(private readonly dailyStats: DailyCallStatsRepository) {}

  async stats(userId: string, query: CallStatsQueryDto): Promise<CallStatsResponse> {
    const rows = await this.dailyStats.findForDays(
      userId,
      query.from && utcDay(query.from),
      query.to && utcDay(query.to),
    );
    const buckets = new Map<string, Bucket>();
    for (const row of rows) {
      const key = keyOf(query.groupBy, row);
      const bucket = buckets.get(key) ?? { count: 0, duration: 0, cost: 0, successes: 0 };
      bucket.count += row.count;
      bucket.duration += row.durationSec;
      bucket.cost += row.cost;
      bucket.successes += row.successes;
      buckets.set(key, bucket);
    }
    const data: CallStatsRow[] = [...buckets.entries()]
      .filter(([, bucket]) => bucket.count > 0)
      .sort(([left], [right]) => left.localeCompare(right))
      .map(([key, bucket]) => ({
        key,
        count: bucket.count,
        totalDuration: bucket.duration,
        avgDuration: round(bucket.duration / bucket.count, 2),
        totalCost: round(bucket.cost, 4),
        successRate: round(bucket.successes / bucket.count, 4),
      }));
    return { groupBy: query.groupBy, data };
  }
}
