import { Inject, Injectable } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import type { SessionUsage } from '../sessions/schemas/session.schema.js';
import type { CostBreakdown } from './schemas/call-log.schema.js';

/**
 * The most any one call can cost: far above any real bill, and small enough that rounding to
 * four decimals stays exact. Callbacks are validated and capped before they get here; this
 * keeps a bill finite even if some other path hands over an absurd figure.
 */
export const MAX_CALL_COST = Math.floor(Number.MAX_SAFE_INTEGER / 10_000);

/** Rounds to four decimals, never above MAX_CALL_COST (an overflow becomes the cap). */
const amount = (value: number): number =>
  Math.min(Math.round(value * 10_000) / 10_000, MAX_CALL_COST);

/** A duration or usage figure: anything not finite and positive (NaN, -5, Infinity) counts as 0. */
const quantity = (value: number | undefined): number =>
  value !== undefined && Number.isFinite(value) && value > 0 ? value : 0;

/** Prices a finished call from configurable rates: telephony per started minute, AI parts from usage. */
@Injectable()
export class CallCostCalculator {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  calculate(durationSec: number, usage: Partial<SessionUsage> | undefined): CostBreakdown {
    const rates = this.config.rates;
    const startedMinutes = Math.ceil(quantity(durationSec) / 60);
    const telephony = amount(startedMinutes * rates.telephonyPerMinute);
    const stt = amount((quantity(usage?.sttSeconds) / 60) * rates.sttPerMinute);
    const llm = amount((quantity(usage?.llmTokens) / 1000) * rates.llmPer1kTokens);
    const tts = amount((quantity(usage?.ttsCharacters) / 1000) * rates.ttsPer1kCharacters);
    return { stt, llm, tts, telephony, total: amount(stt + llm + tts + telephony) };
  }
}
