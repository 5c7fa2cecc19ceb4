import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { BullBoardModule } from '@bull-board/nestjs';
import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { CallsModule } from '../calls/calls.module.js';
import { Queues } from '../infra/queue/queues.js';
import { UsersModule } from '../users/users.module.js';
import { QueueDashboardAccess } from './queue-dashboard-access.js';
import { QueueDashboardSignInController } from './queue-dashboard-sign-in.controller.js';
import { QueueDashboardSignInService } from './queue-dashboard-sign-in.service.js';
import { QUEUE_DASHBOARD_ROUTE, QueueDashboardPaths } from './queue-dashboard.paths.js';

/**
 * bull-board's dashboard, admins only: its routes are guarded by QueueDashboardAccess (attached
 * in app.factory as each route registers); browsers sign in through QueueDashboardSignInController.
 */
@Module({
  imports: [
    AuthModule,
    UsersModule,
    CallsModule,
    BullBoardModule.forRoot({ route: QUEUE_DASHBOARD_ROUTE, adapter: FastifyAdapter }),
    BullBoardModule.forFeature(
      { name: Queues.callPlacement, adapter: BullMQAdapter },
      { name: Queues.callEvents, adapter: BullMQAdapter },
    ),
  ],
  controllers: [QueueDashboardSignInController],
  providers: [QueueDashboardPaths, QueueDashboardAccess, QueueDashboardSignInService],
  exports: [QueueDashboardPaths, QueueDashboardAccess],
})
export class QueueDashboardModule {}
