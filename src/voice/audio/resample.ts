/**
 * Input samples on each side of an output sample that the filter reads. At 24 kHz in, 32 is
 * 1.3 ms of latency and a transition band narrow enough that 24 kHz → 8 kHz keeps speech up to
 * ~2.5 kHz flat while tones above ~4.5 kHz (which would fold back into the band) are removed.
 */
const HALF_WIDTH = 32;
/** Cut-off as a share of the lower Nyquist frequency: the filter's transition sits below it. */
const CUTOFF_SHARE = 0.875;

function greatestCommonDivisor(first: number, second: number): number {
  let a = first;
  let b = second;
  while (b !== 0) {
    [a, b] = [b, a % b];
  }
  return a;
}

function normalizedSinc(x: number): number {
  return x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
}

function blackman(position: number): number {
  // `position` runs over [-1, 1]; the window is 0 at both ends.
  const phase = Math.PI * (position + 1);
  return 0.42 - 0.5 * Math.cos(phase) + 0.08 * Math.cos(2 * phase);
}

/**
 * Streaming PCM16 LE mono resampler for rates with a small common divisor (24000 → 8000 or
 * 16000): a windowed-sinc low-pass evaluated only at the output instants (polyphase), so
 * downsampling does not alias. Chunks may have any length, odd byte counts included; the filter
 * state carries across them, so the output is the same however the input is split.
 */
export class PcmResampler {
  /** Output samples per `inputStep` input samples. */
  private readonly outputStep: number;
  private readonly inputStep: number;
  /** Filter taps for each output phase (the output instant's fraction of an input sample). */
  private readonly phases: Float64Array[];
  private readonly identity: boolean;
  private oddByte: Buffer | undefined;
  /** Input samples still needed, starting at absolute input index `historyStart`. */
  private history = new Float64Array(0);
  private historyStart = 0;
  /** The next output sits at input time `position + phase / outputStep`. */
  private position = 0;
  private phase = 0;
  private inputCount = 0;

  constructor(
    readonly fromRate: number,
    readonly toRate: number,
  ) {
    for (const rate of [fromRate, toRate]) {
      if (!Number.isInteger(rate) || rate <= 0) {
        throw new RangeError(`sample rate must be a positive integer, got ${rate}`);
      }
    }
    const divisor = greatestCommonDivisor(fromRate, toRate);
    this.outputStep = toRate / divisor;
    this.inputStep = fromRate / divisor;
    this.identity = fromRate === toRate;
    this.phases = this.identity ? [] : this.designFilter();
    this.reset();
  }

  /** Resamples the next bytes; returns what can be produced so far (even length). */
  push(chunk: Buffer): Buffer {
    const bytes = this.oddByte ? Buffer.concat([this.oddByte, chunk]) : chunk;
    const evenLength = bytes.length - (bytes.length % 2);
    this.oddByte = evenLength < bytes.length ? Buffer.from(bytes.subarray(evenLength)) : undefined;
    if (this.identity) {
      return Buffer.from(bytes.subarray(0, evenLength));
    }
    const samples = new Float64Array(evenLength / 2);
    for (let index = 0; index < samples.length; index++) {
      samples[index] = bytes.readInt16LE(index * 2);
    }
    this.append(samples);
    this.inputCount += samples.length;
    return this.produce(this.historyStart + this.history.length - 1 - HALF_WIDTH);
  }

  /** Ends the stream: returns the last samples (an odd trailing byte is dropped) and resets. */
  flush(): Buffer {
    if (this.identity) {
      this.reset();
      return Buffer.alloc(0);
    }
    this.append(new Float64Array(HALF_WIDTH));
    const tail = this.produce(this.inputCount - 1);
    this.reset();
    return tail;
  }

  private reset(): void {
    this.oddByte = undefined;
    this.history = new Float64Array(HALF_WIDTH);
    this.historyStart = -HALF_WIDTH;
    this.position = 0;
    this.phase = 0;
    this.inputCount = 0;
  }

  private designFilter(): Float64Array[] {
    const cutoff = (CUTOFF_SHARE * Math.min(this.fromRate, this.toRate)) / 2 / this.fromRate;
    const phases: Float64Array[] = [];
    for (let phase = 0; phase < this.outputStep; phase++) {
      const taps = new Float64Array(2 * HALF_WIDTH);
      let sum = 0;
      for (let tap = 0; tap < taps.length; tap++) {
        // Distance in input samples from the output instant to this tap's input sample.
        const distance = phase / this.outputStep + (HALF_WIDTH - 1 - tap);
        const value =
          2 * cutoff * normalizedSinc(2 * cutoff * distance) * blackman(distance / HALF_WIDTH);
        taps[tap] = value;
        sum += value;
      }
      // Unity gain at DC for every phase, so a constant level never ripples.
      for (let tap = 0; tap < taps.length; tap++) {
        taps[tap] = (taps[tap] ?? 0) / sum;
      }
      phases.push(taps);
    }
    return phases;
  }

  private append(samples: Float64Array): void {
    const joined = new Float64Array(this.history.length + samples.length);
    joined.set(this.history);
    joined.set(samples, this.history.length);
    this.history = joined;
  }

  /** Produces every output whose instant is at or before input index `lastPosition`. */
  private produce(lastPosition: number): Buffer {
    const output: number[] = [];
    while (this.position <= lastPosition) {
      const taps = this.phases[this.phase];
      if (!taps) {
        break;
      }
      const first = this.position - HALF_WIDTH + 1 - this.historyStart;
      let value = 0;
      for (let tap = 0; tap < taps.length; tap++) {
        value += (taps[tap] ?? 0) * (this.history[first + tap] ?? 0);
      }
      output.push(Math.max(-32768, Math.min(32767, Math.round(value))));
      const advanced = this.phase + this.inputStep;
      this.position += Math.floor(advanced / this.outputStep);
      this.phase = advanced % this.outputStep;
    }
    const keepFrom = this.position - HALF_WIDTH + 1;
    if (keepFrom > this.historyStart) {
      this.history = this.history.slice(keepFrom - this.historyStart);
      this.historyStart = keepFrom;
    }
    const buffer = Buffer.alloc(output.length * 2);
    output.forEach((sample, index) => buffer.writeInt16LE(sample, index * 2));
    return buffer;
  }
}
