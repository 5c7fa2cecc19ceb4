import { Module } from '@nestjs/common';
import { CALL_CONTROL } from '../calls/call-control.port.js';
import { CallsModule } from '../calls/calls.module.js';
import { CallPlacementProcessor } from './call-placement.processor.js';
import { CallPlacementService } from './call-placement.service.js';
import { ExotelCallControl } from './exotel-call-control.js';
import { ExotelRequestBudget } from './exotel/exotel-request-budget.js';
import { ExotelClient } from './exotel/exotel.client.js';
import { TelephonyController } from './telephony.controller.js';
import { TelephonyService } from './telephony.service.js';

@Module({
  imports: [CallsModule],
  controllers: [TelephonyController],
  providers: [
    ExotelClient,
    ExotelRequestBudget,
    TelephonyService,
    CallPlacementService,
    CallPlacementProcessor,
    { provide: CALL_CONTROL, useClass: ExotelCallControl },
  ],
  exports: [ExotelClient, CallPlacementService, CALL_CONTROL],
})
export class TelephonyModule {}
