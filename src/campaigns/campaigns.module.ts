import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { CALL_OUTCOME_LISTENER } from '../calls/call-outcome.port.js';
import { CallsModule } from '../calls/calls.module.js';
import { Queues } from '../infra/queue/queues.js';
import { WebhooksModule } from '../webhooks/webhooks.module.js';
import { CampaignCallBudget } from './campaign-call-budget.js';
import { CampaignCallOutcomes } from './campaign-call-outcomes.js';
import { CampaignClock } from './campaign-clock.js';
import { CampaignContactsRepository } from './campaign-contacts.repository.js';
import { CampaignContactsService } from './campaign-contacts.service.js';
import { CampaignDispatchKick } from './campaign-dispatch-kick.js';
import { CampaignDispatcher } from './campaign-dispatcher.js';
import { CampaignEvents } from './campaign-events.js';
import { CampaignsRepository } from './campaigns.repository.js';
import { CampaignsService } from './campaigns.service.js';
import { DncRepository } from './dnc.repository.js';
import { DncService } from './dnc.service.js';
import { CampaignContact, CampaignContactSchema } from './schemas/campaign-contact.schema.js';
import { Campaign, CampaignSchema } from './schemas/campaign.schema.js';
import { DncEntry, DncEntrySchema } from './schemas/dnc-entry.schema.js';

const queues = BullModule.registerQueue({ name: Queues.campaignDispatch });

/**
 * Campaigns and the do-not-call list: their API's services (api role), the dispatcher (worker
 * role, CampaignDispatchProcessor) and the call-outcome listener every role that finalizes
 * calls needs, so it is loaded in all of them.
 */
@Module({
  imports: [
    MongooseModule.forFeature([
      { name: Campaign.name, schema: CampaignSchema },
      { name: CampaignContact.name, schema: CampaignContactSchema },
      { name: DncEntry.name, schema: DncEntrySchema },
    ]),
    queues,
    CallsModule,
    WebhooksModule,
  ],
  providers: [
    CampaignsRepository,
    CampaignContactsRepository,
    DncRepository,
    CampaignClock,
    CampaignEvents,
    CampaignDispatchKick,
    CampaignsService,
    CampaignContactsService,
    DncService,
    CampaignCallBudget,
    CampaignCallOutcomes,
    { provide: CALL_OUTCOME_LISTENER, useExisting: CampaignCallOutcomes },
    CampaignDispatcher,
  ],
  exports: [
    CampaignsService,
    CampaignContactsService,
    DncService,
    CampaignDispatcher,
    CampaignClock,
    CALL_OUTCOME_LISTENER,
    queues,
  ],
})
export class CampaignsModule {}
