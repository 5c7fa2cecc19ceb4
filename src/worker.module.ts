import { Module } from '@nestjs/common';
import { CallEventsProcessor } from './calls/call-events.processor.js';
import { CallsModule } from './calls/calls.module.js';
import { CallPlacementProcessor } from './telephony/call-placement.processor.js';
import { TelephonyModule } from './telephony/telephony.module.js';

/** The `worker` role: the queue workers that carry the call lifecycle. */
@Module({
  imports: [CallsModule, TelephonyModule],
  providers: [CallEventsProcessor, CallPlacementProcessor],
})
export class WorkerModule {}
