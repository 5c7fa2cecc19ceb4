import { Module } from '@nestjs/common';
import { CallEventsProcessor } from './calls/call-events.processor.js';
import { CallsModule } from './calls/calls.module.js';
import { CampaignDispatchProcessor } from './campaigns/campaign-dispatch.processor.js';
import { CampaignsModule } from './campaigns/campaigns.module.js';
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

/**
 * The `worker` role: the queue workers that carry the call lifecycle, its webhooks and
 * recordings, and the campaign dispatcher.
 */
@Module({
  imports: [CallsModule, TelephonyModule, WebhooksModule, RecordingsModule, CampaignsModule],
  providers: [
    CallEventsProcessor,
    CallPlacementProcessor,
    WebhookDispatchProcessor,
    WebhookDeliveryProcessor,
    CallAnalysisProcessor,
    RecordingCopyProcessor,
    CampaignDispatchProcessor,
  ],
})
export class WorkerModule {}
