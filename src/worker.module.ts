import { Module } from '@nestjs/common';
import { CallEventsProcessor } from './calls/call-events.processor.js';
import { CallsModule } from './calls/calls.module.js';
import { CallPlacementProcessor } from './telephony/call-placement.processor.js';
import { TelephonyModule } from './telephony/telephony.module.js';
import {
  CallAnalysisProcessor,
  WebhookDeliveryProcessor,
  WebhookDispatchProcessor,
} from './webhooks/webhook-processors.js';
import { WebhooksModule } from './webhooks/webhooks.module.js';

/** The `worker` role: the queue workers that carry the call lifecycle and its webhooks. */
@Module({
  imports: [CallsModule, TelephonyModule, WebhooksModule],
  providers: [
    CallEventsProcessor,
    CallPlacementProcessor,
    WebhookDispatchProcessor,
    WebhookDeliveryProcessor,
    CallAnalysisProcessor,
  ],
})
export class WorkerModule {}
