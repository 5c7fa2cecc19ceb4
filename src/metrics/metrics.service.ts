import { InjectQueue } from '@nestjs/bullmq';
import { Injectable } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { CallLogsRepository } from '../calls/call-logs.repository.js';
import { Queues } from '../infra/queue/queues.js';

const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed', 'completed'] as const;

/** Prometheus metrics: HTTP latency, calls by status, queue depths and failed jobs. */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  private readonly httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  readonly httpErrors: Counter<'route' | 'status_code'>;

  constructor(
    callLogs: CallLogsRepository,
    @InjectQueue(Queues.callPlacement) placementQueue: Queue,
    @InjectQueue(Queues.callEvents) eventsQueue: Queue,
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
    new Gauge({
      name: 'calls_by_status',
      help: 'Call logs per status',
      labelNames: ['status'],
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const row of await callLogs.countByStatus()) {
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

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
