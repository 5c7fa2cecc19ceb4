import { Module } from '@nestjs/common';
import { AdminUsersController } from './users/admin-users.controller.js';
import { AgentsController } from './agents/agents.controller.js';
import { AgentsModule } from './agents/agents.module.js';
import { AuthController } from './auth/auth.controller.js';
import { AuthModule } from './auth/auth.module.js';
import { CallsController } from './calls/calls.controller.js';
import { CallsModule } from './calls/calls.module.js';
import { CampaignsController } from './campaigns/campaigns.controller.js';
import { CampaignsModule } from './campaigns/campaigns.module.js';
import { DncController } from './campaigns/dnc.controller.js';
import { QueueDashboardModule } from './metrics/queue-dashboard.module.js';
import { RecordingsController } from './recordings/recordings.controller.js';
import { RecordingsModule } from './recordings/recordings.module.js';
import { PhonesController } from './phones/phones.controller.js';
import { PhonesModule } from './phones/phones.module.js';
import { SessionsController } from './sessions/sessions.controller.js';
import { SessionsModule } from './sessions/sessions.module.js';
import { TelephonyController } from './telephony/telephony.controller.js';
import { TelephonyModule } from './telephony/telephony.module.js';
import { UsersController } from './users/users.controller.js';
import { UsersModule } from './users/users.module.js';
import { WebhookDeliveriesController } from './webhooks/webhook-deliveries.controller.js';
import { WebhookEndpointsController } from './webhooks/webhook-endpoints.controller.js';
import { WebhooksModule } from './webhooks/webhooks.module.js';

/**
 * The `api` role: every REST route (customers' API, the admin API, the queue dashboard and
 * Exotel's webhooks). Feature modules hold the services; this module only mounts their routes,
 * so a worker or media process registers none of them.
 */
@Module({
  imports: [
    AuthModule,
    UsersModule,
    AgentsModule,
    PhonesModule,
    SessionsModule,
    CallsModule,
    TelephonyModule,
    WebhooksModule,
    RecordingsModule,
    CampaignsModule,
    QueueDashboardModule,
  ],
  controllers: [
    AuthController,
    UsersController,
    AdminUsersController,
    AgentsController,
    PhonesController,
    CallsController,
    SessionsController,
    TelephonyController,
    WebhookEndpointsController,
    WebhookDeliveriesController,
    RecordingsController,
    CampaignsController,
    DncController,
  ],
})
export class ApiModule {}
