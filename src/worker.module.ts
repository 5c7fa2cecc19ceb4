import { Module } from '@nestjs/common';
import { CallEventsProcessor } from './calls/call-events.processor.js';
import { CallsModule } from './calls/calls.module.js';
import { RecordingCopyProcessor } from './recordings/recording-copy.processor.js';
import { RecordingsModule } from './recordings/recordings.module.js';
import { CallPlacementProcessor } from './telephony/call-placement.processor.js';
import { TelephonyModule } from './telephony/telephony.module.js';
import {
  CallAnalysisProcessor,
  WebhookDeliveryProcessor,
  WebhookDispatchProcessor,
} from './webhooks/webhook-processors.js';
import { WebhooksModule } from './webhooks/webhooks.module.js';

/** The `worker` role: the queue workers that carry the call lifecycle, its webhooks and recordings. */
@Module({
  imports: [CallsModule, TelephonyModule, WebhooksModule, RecordingsModule],
  providers: [
    CallEventsProcessor,
    CallPlacementProcessor,
    WebhookDispatchProcessor,
    WebhookDeliveryProcessor,
    CallAnalysisProcessor,
    RecordingCopyProcessor,
  ],
})
export class WorkerModule {}
