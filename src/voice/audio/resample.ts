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
  /**
   * Input samples still needed: `historyLength` of them from `history[0]`, the first being
   * absolute input index `historyStart`. The array grows by doubling and is reused, so a
   * stream allocates nothing per chunk once warm.
   */
  private history = new Float64Array(0);
  private historyLength = 0;
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
    const count = evenLength / 2;
    const samples = new Float64Array(count);
    for (let index = 0; index < count; index++) {
      samples[index] = bytes.readInt16LE(index * 2);
    }
    this.append(samples);
    this.inputCount += count;
    return this.produce(this.historyStart + this.historyLength - 1 - HALF_WIDTH);
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
    this.history = new Float64Array(4 * HALF_WIDTH);
    this.historyLength = HALF_WIDTH;
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
    const needed = this.historyLength + samples.length;
    if (needed > this.history.length) {
      const grown = new Float64Array(Math.max(needed, 2 * this.history.length));
      grown.set(this.history.subarray(0, this.historyLength));
      this.history = grown;
    }
    this.history.set(samples, this.historyLength);
    this.historyLength = needed;
  }

  /** Produces every output whose instant is at or before input index `lastPosition`. */
  private produce(lastPosition: number): Buffer {
    const history = this.history;
    const outputs = Math.max(
      0,
      Math.ceil(((lastPosition - this.position + 1) * this.outputStep) / this.inputStep) + 1,
    );
    const buffer = Buffer.alloc(outputs * 2);
    let written = 0;
    while (this.position <= lastPosition) {
      const taps = this.phases[this.phase];
      if (!taps || written === outputs) {
        break;
      }
      const first = this.position - HALF_WIDTH + 1 - this.historyStart;
      let value = 0;
      for (let tap = 0; tap < taps.length; tap++) {
        value += (taps[tap] ?? 0) * (history[first + tap] ?? 0);
      }
      buffer.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(value))), written * 2);
      written += 1;
      const advanced = this.phase + this.inputStep;
      this.position += Math.floor(advanced / this.outputStep);
      this.phase = advanced % this.outputStep;
    }
    const keepFrom = this.position - HALF_WIDTH + 1;
    if (keepFrom > this.historyStart) {
      const dropped = keepFrom - this.historyStart;
      history.copyWithin(0, dropped, this.historyLength);
      this.historyLength -= dropped;
      this.historyStart = keepFrom;
    }
    return buffer.subarray(0, written * 2);
  }
}
