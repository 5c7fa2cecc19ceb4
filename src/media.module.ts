import { Module } from '@nestjs/common';
import { SessionsModule } from './sessions/sessions.module.js';
import { ExotelMediaStreamGateway } from './telephony/media-stream/exotel-media-stream.gateway.js';
import { TelephonyModule } from './telephony/telephony.module.js';
import { VoiceModule } from './voice/voice.module.js';

/** The `media` role: Exotel's media streams and the conversations they carry. */
@Module({
  imports: [TelephonyModule, SessionsModule, VoiceModule],
  providers: [ExotelMediaStreamGateway],
  exports: [ExotelMediaStreamGateway],
})
export class MediaModule {}
