import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { Queues } from '../infra/queue/queues.js';
import { CallWebhookEvents } from './call-webhook-events.js';
import { PostCallJobs } from './post-call-jobs.js';
import { WebhookEndpoint, WebhookEndpointSchema } from './schemas/webhook-endpoint.schema.js';
import { WebhookEndpointsRepository } from './webhook-endpoints.repository.js';
import { WebhookRoutes } from './webhook-routes.js';

const queues = BullModule.registerQueue(
  { name: Queues.webhookDispatch },
  { name: Queues.callAnalysis },
  { name: Queues.recordingCopy },
);

/**
 * What the call paths need to raise webhook events (routing and the dispatch queue), apart from
 * the webhooks feature itself so that calls, telephony and voice can import it without a cycle.
 */
@Module({
  imports: [
    MongooseModule.forFeature([{ name: WebhookEndpoint.name, schema: WebhookEndpointSchema }]),
    queues,
  ],
  providers: [WebhookEndpointsRepository, WebhookRoutes, CallWebhookEvents, PostCallJobs],
  exports: [
    WebhookEndpointsRepository,
    WebhookRoutes,
    CallWebhookEvents,
    PostCallJobs,
    queues,
    MongooseModule,
  ],
})
export class WebhookEventsModule {}
