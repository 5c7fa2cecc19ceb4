import { describe, expect, it } from 'vitest';
import { PcmResampler } from './resample.js';

function tone(frequency: number, rate: number, seconds: number, amplitude = 10_000): Buffer {
  const count = Math.round(rate * seconds);
  const buffer = Buffer.alloc(count * 2);
  for (let index = 0; index < count; index++) {
    buffer.writeInt16LE(
      Math.round(amplitude * Math.sin((2 * Math.PI * frequency * index) / rate)),
      index * 2,
    );
  }
  return buffer;
}

function samplesOf(buffer: Buffer): number[] {
  const samples: number[] = [];
  for (let offset = 0; offset + 1 < buffer.length; offset += 2) {
    samples.push(buffer.readInt16LE(offset));
  }
  return samples;
}

/** Root mean square of the middle of the signal (the filter's start and end are left out). */
function steadyRms(samples: number[]): number {
  const middle = samples.slice(Math.floor(samples.length * 0.1), Math.floor(samples.length * 0.9));
  return Math.sqrt(middle.reduce((sum, sample) => sum + sample * sample, 0) / middle.length);
}

function zeroCrossingsPerSecond(samples: number[], rate: number): number {
  const middle = samples.slice(Math.floor(samples.length * 0.1), Math.floor(samples.length * 0.9));
  let crossings = 0;
  for (let index = 1; index < middle.length; index++) {
    if ((middle[index - 1] ?? 0) < 0 !== (middle[index] ?? 0) < 0) {
      crossings++;
    }
  }
  return (crossings / middle.length) * rate;
}

/** Feeds `input` in chunks of the given sizes, in turn, then flushes. */
function resampleInChunks(resampler: PcmResampler, input: Buffer, sizes: number[]): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  let turn = 0;
  while (offset < input.length) {
    const size = sizes[turn++ % sizes.length] ?? 1;
    parts.push(resampler.push(input.subarray(offset, offset + size)));
    offset += size;
  }
  parts.push(resampler.flush());
  for (const part of parts) {
    expect(part.length % 2).toBe(0);
  }
  return Buffer.concat(parts);
}

describe('PcmResampler', () => {
  it.each([8000, 16000])(
    'keeps a 440 Hz tone at its frequency and level from 24 kHz to %i Hz',
    (toRate) => {
      const input = tone(440, 24_000, 0.5);
      const output = samplesOf(resampleInChunks(new PcmResampler(24_000, toRate), input, [960]));
      const inputRms = steadyRms(samplesOf(input));

      expect(steadyRms(output)).toBeGreaterThan(inputRms * 0.97);
      expect(steadyRms(output)).toBeLessThan(inputRms * 1.03);
      // A sine crosses zero twice per period.
      expect(zeroCrossingsPerSecond(output, toRate)).toBeGreaterThan(2 * 440 * 0.98);
      expect(zeroCrossingsPerSecond(output, toRate)).toBeLessThan(2 * 440 * 1.02);
    },
  );

  it('removes a 6 kHz tone when going to 8 kHz instead of folding it to 2 kHz', () => {
    const input = tone(6000, 24_000, 0.5);
    const output = samplesOf(resampleInChunks(new PcmResampler(24_000, 8000), input, [960]));

    // At least 40 dB down.
    expect(steadyRms(output)).toBeLessThan(steadyRms(samplesOf(input)) / 100);
  });

  it('keeps a 6 kHz tone when going to 16 kHz, whose band still holds it', () => {
    const input = tone(6000, 24_000, 0.5);
    const output = samplesOf(resampleInChunks(new PcmResampler(24_000, 16_000), input, [960]));

    expect(steadyRms(output)).toBeGreaterThan(steadyRms(samplesOf(input)) * 0.9);
  });

  it.each([
    [24_000, 8000],
    [24_000, 16_000],
    [24_000, 24_000],
  ])(
    'gives input length × %i→%i ratio within a sample, however odd the chunks',
    (fromRate, toRate) => {
      const input = tone(300, fromRate, 0.73);
      const inputSamples = input.length / 2;
      const output = resampleInChunks(
        new PcmResampler(fromRate, toRate),
        input,
        [1, 7, 333, 2, 4801, 5, 64, 999],
      );

      expect(Math.abs(output.length / 2 - (inputSamples * toRate) / fromRate)).toBeLessThanOrEqual(
        1,
      );
    },
  );

  it('gives the same samples however the input is split', () => {
    const input = tone(440, 24_000, 0.2);
    const whole = resampleInChunks(new PcmResampler(24_000, 16_000), input, [input.length]);
    const pieces = resampleInChunks(new PcmResampler(24_000, 16_000), input, [3, 11, 1, 250]);

    expect(pieces.equals(whole)).toBe(true);
  });

  it('passes audio through unchanged when both rates are equal', () => {
    const input = tone(440, 24_000, 0.05);
    const output = resampleInChunks(new PcmResampler(24_000, 24_000), input, [3, 5]);

    expect(output.equals(input)).toBe(true);
  });

  it('refuses a sample rate that is not a positive integer', () => {
    expect(() => new PcmResampler(24_000, 0)).toThrow(RangeError);
    expect(() => new PcmResampler(22_050.5, 8000)).toThrow(RangeError);
  });
});
