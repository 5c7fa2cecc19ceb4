import { Module } from '@nestjs/common';
import { CALL_CONTROL } from '../calls/call-control.port.js';
import { CallsModule } from '../calls/calls.module.js';
import { CallPlacementService } from './call-placement.service.js';
import { ExotelCallControl } from './exotel-call-control.js';
import { ExotelRequestBudget } from './exotel/exotel-request-budget.js';
import { ExotelClient } from './exotel/exotel.client.js';
import { MediaStreamSignals } from './media-stream/media-stream-signals.js';
import { MediaStreamUrls } from './media-stream/media-stream-urls.js';
import { TelephonyService } from './telephony.service.js';

@Module({
  imports: [CallsModule],
  providers: [
    ExotelClient,
    ExotelRequestBudget,
    TelephonyService,
    MediaStreamUrls,
    MediaStreamSignals,
    CallPlacementService,
    { provide: CALL_CONTROL, useClass: ExotelCallControl },
  ],
  exports: [
    ExotelClient,
    CallPlacementService,
    TelephonyService,
    MediaStreamUrls,
    MediaStreamSignals,
    CALL_CONTROL,
  ],
})
export class TelephonyModule {}
