import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/app-config.js';
import { CallCostCalculator, MAX_CALL_COST } from './call-cost.calculator.js';

describe('CallCostCalculator', () => {
  const calculator = new CallCostCalculator(loadConfig({ NODE_ENV: 'test' }).config);

  it('charges telephony per started minute', () => {
    expect(calculator.calculate(0, undefined).telephony).toBe(0);
    expect(calculator.calculate(1, undefined).telephony).toBe(0.03);
    expect(calculator.calculate(60, undefined).telephony).toBe(0.03);
    expect(calculator.calculate(61, undefined).telephony).toBe(0.06);
  });

  it('prices speech, tokens and characters from usage and sums the total', () => {
    const cost = calculator.calculate(120, {
      sttSeconds: 90,
      llmTokens: 1500,
      ttsCharacters: 2000,
    });
    expect(cost).toEqual({ telephony: 0.06, stt: 0.009, llm: 0.045, tts: 0.03, total: 0.144 });
  });

  it('uses the configured rates', () => {
    const custom = new CallCostCalculator(
      loadConfig({ NODE_ENV: 'test', RATE_TELEPHONY_PER_MINUTE: '1' }).config,
    );
    expect(custom.calculate(121, undefined).total).toBe(3);
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -5])(
    'never prices a duration or usage of %d below zero or as a non-number',
    (figure) => {
      const cost = calculator.calculate(figure, {
        sttSeconds: figure,
        llmTokens: figure,
        ttsCharacters: figure,
      });
      expect(cost).toEqual({ telephony: 0, stt: 0, llm: 0, tts: 0, total: 0 });
    },
  );

  it('keeps an absurdly long call finite, at most MAX_CALL_COST', () => {
    const cost = calculator.calculate(1e308, {
      sttSeconds: 1e308,
      llmTokens: Number.MAX_VALUE,
      ttsCharacters: 1e308,
    });
    for (const part of Object.values(cost)) {
      expect(Number.isFinite(part)).toBe(true);
      expect(part).toBeGreaterThanOrEqual(0);
      expect(part).toBeLessThanOrEqual(MAX_CALL_COST);
    }
    expect(cost.total).toBe(MAX_CALL_COST);
  });
});
