import { Module } from '@nestjs/common';
import { CallsModule } from '../calls/calls.module.js';
import { MetricsModule } from '../metrics/metrics.module.js';
import { ConversationService } from './conversation.service.js';
import { CONVERSATION_STARTER } from './ports/call-audio.port.js';
import { VoiceMetrics } from './voice-metrics.js';
import { VoiceProviders } from './voice-providers.js';

/** The voice runtime: conversations on live calls, through vendor adapters behind ports. */
@Module({
  imports: [CallsModule, MetricsModule],
  providers: [
    VoiceProviders,
    VoiceMetrics,
    ConversationService,
    { provide: CONVERSATION_STARTER, useExisting: ConversationService },
  ],
  exports: [CONVERSATION_STARTER, VoiceProviders],
})
export class VoiceModule {}
