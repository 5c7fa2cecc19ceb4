import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { CallsModule } from '../calls/calls.module.js';
import { CallLog, CallLogSchema } from '../calls/schemas/call-log.schema.js';
import { CallRecordingsRepository } from './call-recordings.repository.js';
import { RecordingCopyService } from './recording-copy.service.js';
import { RecordingMaintenanceService } from './recording-maintenance.service.js';
import { RecordingsService } from './recordings.service.js';

/**
 * Our copies of call recordings: the copy job's service (worker role), the download and
 * retention API (api role), the sweep and retention jobs (scheduler). Storage comes from the
 * global StorageModule.
 */
@Module({
  imports: [
    MongooseModule.forFeature([{ name: CallLog.name, schema: CallLogSchema }]),
    CallsModule,
  ],
  providers: [
    CallRecordingsRepository,
    RecordingCopyService,
    RecordingMaintenanceService,
    RecordingsService,
  ],
  exports: [RecordingCopyService, RecordingMaintenanceService, RecordingsService],
})
export class RecordingsModule {}
