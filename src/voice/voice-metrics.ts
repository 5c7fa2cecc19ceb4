import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram } from 'prom-client';
import { MetricsService } from '../metrics/metrics.service.js';
import type { ConversationEnding, TurnLatency } from './conversation/conversation-ports.js';

const STAGES: Array<[keyof TurnLatency, string]> = [
  ['sttFinalMs', 'stt_final'],
  ['llmFirstTokenMs', 'llm_first_token'],
  ['ttsFirstAudioMs', 'tts_first_audio'],
  ['firstAudioSentMs', 'first_audio_sent'],
];

/** Prometheus figures of the voice runtime: per-turn latency by stage, conversations. */
@Injectable()
export class VoiceMetrics {
  private readonly turnLatency: Histogram<'stage'>;
  private readonly ended: Counter<'status' | 'error'>;
  readonly active: Gauge;

  constructor(metrics: MetricsService) {
    const registers = [metrics.registry];
    this.turnLatency = new Histogram({
      name: 'voice_turn_latency_seconds',
      help: 'Per-turn latency by stage: stt_final (end of caller speech to final text), llm_first_token, tts_first_audio, first_audio_sent (end of caller speech to first agent audio sent)',
      labelNames: ['stage'],
      buckets: [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10],
      registers,
    });
    this.ended = new Counter({
      name: 'voice_conversations_ended_total',
      help: 'Conversations ended, by how they ended and the vendor error that ended them',
      labelNames: ['status', 'error'],
      registers,
    });
    this.active = new Gauge({
      name: 'voice_conversations_active',
      help: 'Conversations running in this process',
      registers,
    });
  }

  observeTurn(latency: TurnLatency): void {
    for (const [field, stage] of STAGES) {
      const value = latency[field];
      if (value !== undefined) {
        this.turnLatency.observe({ stage }, value / 1000);
      }
    }
  }

  observeEnd(ending: ConversationEnding): void {
    this.ended.inc({ status: ending.status, error: ending.error?.code ?? 'none' });
  }
}
