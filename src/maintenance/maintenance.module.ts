import { Module } from '@nestjs/common';
import { CallsModule } from '../calls/calls.module.js';
import { TelephonyModule } from '../telephony/telephony.module.js';
import { RecordingsModule } from '../recordings/recordings.module.js';
import { WebhooksModule } from '../webhooks/webhooks.module.js';
import { BackupModule } from './backup/backup.module.js';
import { CallReconciliationService } from './call-reconciliation.service.js';
import { MaintenanceScheduler } from './maintenance.scheduler.js';
import { MarkerSweepService } from './marker-sweep.service.js';
import { SessionPurgeService } from './session-purge.service.js';
import { SessionTimeoutService } from './session-timeout.service.js';

@Module({
  imports: [CallsModule, TelephonyModule, BackupModule, WebhooksModule, RecordingsModule],
  providers: [
    SessionTimeoutService,
    CallReconciliationService,
    MarkerSweepService,
    SessionPurgeService,
    MaintenanceScheduler,
  ],
  exports: [
    SessionTimeoutService,
    CallReconciliationService,
    MarkerSweepService,
    SessionPurgeService,
    MaintenanceScheduler,
    BackupModule,
  ],
})
export class MaintenanceModule {}
