import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { AgentsDataModule } from '../agents/agents-data.module.js';
import { CallsModule } from '../calls/calls.module.js';
import { Queues } from '../infra/queue/queues.js';
import { VoiceModule } from '../voice/voice.module.js';
import { CallAnalysisService } from './call-analysis.service.js';
import { WebhookDelivery, WebhookDeliverySchema } from './schemas/webhook-delivery.schema.js';
import { WebhookDeliveriesRepository } from './webhook-deliveries.repository.js';
import { WebhookDeliveriesService } from './webhook-deliveries.service.js';
import { WebhookDeliveryService } from './webhook-delivery.service.js';
import { WebhookDispatcher } from './webhook-dispatcher.js';
import { WebhookEndpointsService } from './webhook-endpoints.service.js';
import { WebhookSweepService } from './webhook-sweep.service.js';

const queues = BullModule.registerQueue({ name: Queues.webhookDelivery });

/**
 * Customer webhooks: endpoints, the delivery log, dispatch and delivery, the post-call
 * analysis. Its routes are mounted by the api role, its processors by the worker role.
 */
@Module({
  imports: [
    MongooseModule.forFeature([{ name: WebhookDelivery.name, schema: WebhookDeliverySchema }]),
    queues,
    CallsModule,
    AgentsDataModule,
    VoiceModule,
  ],
  providers: [
    WebhookDeliveriesRepository,
    WebhookDeliveryService,
    WebhookDispatcher,
    WebhookEndpointsService,
    WebhookDeliveriesService,
    CallAnalysisService,
    WebhookSweepService,
  ],
  exports: [
    WebhookDeliveriesRepository,
    WebhookDeliveryService,
    WebhookDispatcher,
    WebhookEndpointsService,
    WebhookDeliveriesService,
    CallAnalysisService,
    WebhookSweepService,
  ],
})
export class WebhooksModule {}
