import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { CallLogsRepository } from '../calls/call-logs.repository.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { Queues } from '../infra/queue/queues.js';

type StatusCounts = Awaited<ReturnType<CallLogsRepository['countByStatus']>>;

const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed', 'completed'] as const;

/** Prometheus metrics: HTTP latency, calls by status, queue depths and failed jobs. */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  private readonly httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  readonly httpErrors: Counter<'route' | 'status_code'>;
  private lastStatusCount?: { startedAt: number; counts: Promise<StatusCounts> };

  constructor(
    private readonly callLogs: CallLogsRepository,
    @InjectQueue(Queues.callPlacement) placementQueue: Queue,
    @InjectQueue(Queues.callEvents) eventsQueue: Queue,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    collectDefaultMetrics({ register: this.registry });
    this.httpDuration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request latency',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [this.registry],
    });
    this.httpErrors = new Counter({
      name: 'http_server_errors_total',
      help: 'Responses with a 5xx status',
      labelNames: ['route', 'status_code'],
      registers: [this.registry],
    });
    const countsByStatus = (): Promise<StatusCounts> => this.countsByStatus();
    new Gauge({
      name: 'calls_by_status',
      help: 'Call logs per status (recounted at most every METRICS_CALLS_REFRESH_SECONDS)',
      labelNames: ['status'],
      registers: [this.registry],
      async collect() {
        const counts = await countsByStatus();
        this.reset();
        for (const row of counts) {
          this.set({ status: row.status }, row.count);
        }
      },
    });
    const queues = [placementQueue, eventsQueue];
    new Gauge({
      name: 'queue_jobs',
      help: 'Jobs per queue and state (failed = failed jobs kept for inspection)',
      labelNames: ['queue', 'state'],
      registers: [this.registry],
      async collect() {
        for (const queue of queues) {
          const counts = await queue.getJobCounts(...QUEUE_STATES);
          for (const state of QUEUE_STATES) {
            this.set({ queue: queue.name, state }, counts[state] ?? 0);
          }
        }
      },
    });
  }

  observeRequest(method: string, route: string, statusCode: number, seconds: number): void {
    this.httpDuration.observe({ method, route, status_code: String(statusCode) }, seconds);
    if (statusCode >= 500) {
      this.httpErrors.inc({ route, status_code: String(statusCode) });
    }
  }

  /**
   * The count groups every call log, which grows without bound: scrapes (every 15 s, from
   * each Prometheus replica) reuse one count for the refresh period, and concurrent scrapes
   * share the count in flight. A failed count is not kept, so the next scrape tries again.
   */
  private countsByStatus(): Promise<StatusCounts> {
    const now = Date.now();
    const refreshMs = this.config.metrics.callsByStatusRefreshSeconds * 1000;
    if (this.lastStatusCount === undefined || now - this.lastStatusCount.startedAt >= refreshMs) {
      const counts = this.callLogs.countByStatus();
      const entry = { startedAt: now, counts };
      this.lastStatusCount = entry;
      counts.catch(() => {
        if (this.lastStatusCount === entry) {
          this.lastStatusCount = undefined;
        }
      });
    }
    return this.lastStatusCount.counts;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
