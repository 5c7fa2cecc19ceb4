import { Inject, Injectable } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import type { SessionUsage } from '../sessions/schemas/session.schema.js';
import type { CostBreakdown } from './schemas/call-log.schema.js';

const round = (value: number): number => Math.round(value * 10_000) / 10_000;

/** Prices a finished call from configurable rates: telephony per started minute, AI parts from usage. */
@Injectable()
export class CallCostCalculator {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  calculate(durationSec: number, usage: Partial<SessionUsage> | undefined): CostBreakdown {
    const rates = this.config.rates;
    const startedMinutes = Math.ceil(Math.max(0, durationSec) / 60);
    const telephony = round(startedMinutes * rates.telephonyPerMinute);
    const stt = round(((usage?.sttSeconds ?? 0) / 60) * rates.sttPerMinute);
    const llm = round(((usage?.llmTokens ?? 0) / 1000) * rates.llmPer1kTokens);
    const tts = round(((usage?.ttsCharacters ?? 0) / 1000) * rates.ttsPer1kCharacters);
    return { stt, llm, tts, telephony, total: round(stt + llm + tts + telephony) };
  }
}
