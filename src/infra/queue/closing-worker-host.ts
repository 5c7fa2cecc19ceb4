import { WorkerHost } from '@nestjs/bullmq';
import type { BeforeApplicationShutdown } from '@nestjs/common';

const GRACEFUL_CLOSE_MS = 5_000;

/**
 * A queue worker that stops cleanly on shutdown: it lets active jobs finish for a few
 * seconds, then force-closes, so an unreachable Redis can never hold the process open.
 * A job cut short is retried by BullMQ's stalled-job check.
 */
export abstract class ClosingWorkerHost extends WorkerHost implements BeforeApplicationShutdown {
  async beforeApplicationShutdown(): Promise<void> {
    const worker = this.worker;
    const connection = worker.opts.connection as { status?: string } | undefined;
    if (connection?.status !== undefined && connection.status !== 'ready') {
      // Redis is unreachable: nothing can be finished gracefully.
      await worker.close(true);
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const closed = await Promise.race([
      worker.close().then(() => true),
      new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), GRACEFUL_CLOSE_MS);
      }),
    ]);
    clearTimeout(timer);
    if (!closed) {
      await worker.close(true);
    }
  }
}
