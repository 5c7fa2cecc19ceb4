import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { BullBoardModule } from '@bull-board/nestjs';
import { Module } from '@nestjs/common';
import { CallsModule } from '../calls/calls.module.js';
import { Queues } from '../infra/queue/queues.js';

/** Route of the queue dashboard under the API prefix; admins only (see AdminRequestAuthenticator). */
export const QUEUE_DASHBOARD_ROUTE = '/admin/queues';

@Module({
  imports: [
    CallsModule,
    BullBoardModule.forRoot({ route: QUEUE_DASHBOARD_ROUTE, adapter: FastifyAdapter }),
    BullBoardModule.forFeature(
      { name: Queues.callPlacement, adapter: BullMQAdapter },
      { name: Queues.callEvents, adapter: BullMQAdapter },
    ),
  ],
})
export class QueueDashboardModule {}
