import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { Queues } from '../infra/queue/queues.js';
import { PhonesModule } from '../phones/phones.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { UsersModule } from '../users/users.module.js';
import { WebhookEventsModule } from '../webhooks/webhook-events.module.js';
import { ActiveCallSlots } from './active-call-slots.js';
import { CallCostCalculator } from './call-cost.calculator.js';
import { CallLifecycleService } from './call-lifecycle.service.js';
import { CallLogsRepository } from './call-logs.repository.js';
import { CallStatsService } from './call-stats.service.js';
import { CallsService } from './calls.service.js';
import { DailyCallStatsRepository } from './daily-call-stats.repository.js';
import { FinalizationClock } from './finalization-deadline.js';
import { CallLog, CallLogSchema } from './schemas/call-log.schema.js';
import { DailyCallStat, DailyCallStatSchema } from './schemas/daily-call-stat.schema.js';

const queues = BullModule.registerQueue(
  { name: Queues.callPlacement },
  { name: Queues.callEvents },
);

@Module({
  imports: [
    MongooseModule.forFeature([
      { name: CallLog.name, schema: CallLogSchema },
      { name: DailyCallStat.name, schema: DailyCallStatSchema },
    ]),
    queues,
    PhonesModule,
    SessionsModule,
    UsersModule,
    WebhookEventsModule,
  ],
  providers: [
    ActiveCallSlots,
    CallLogsRepository,
    CallLifecycleService,
    CallCostCalculator,
    CallsService,
    CallStatsService,
    DailyCallStatsRepository,
    FinalizationClock,
  ],
  exports: [
    ActiveCallSlots,
    CallsService,
    CallStatsService,
    CallLogsRepository,
    CallLifecycleService,
    DailyCallStatsRepository,
    queues,
    PhonesModule,
    SessionsModule,
    UsersModule,
    WebhookEventsModule,
  ],
})
export class CallsModule {}
