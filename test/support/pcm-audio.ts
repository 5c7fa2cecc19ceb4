/** PCM16 little-endian mono, the only audio format the voice pipeline carries. */
export const BYTES_PER_SAMPLE = 2;

/** Bytes of `ms` milliseconds of audio (whole samples). */
export function bytesForDuration(ms: number, sampleRate: number): number {
  return Math.round((sampleRate * ms) / 1000) * BYTES_PER_SAMPLE;
}

/** Milliseconds of audio that `bytes` hold. */
export function durationOfBytes(bytes: number, sampleRate: number): number {
  return (bytes / BYTES_PER_SAMPLE / sampleRate) * 1000;
}

/** A sine tone: loud enough for a speech detector, distinct from silence by its RMS. */
export function tone(ms: number, sampleRate: number, frequency = 300, amplitude = 8000): Buffer {
  const audio = Buffer.alloc(bytesForDuration(ms, sampleRate));
  const limit = Math.min(Math.abs(amplitude), 32_767);
  for (let sample = 0; sample < audio.length / BYTES_PER_SAMPLE; sample += 1) {
    const value = Math.round(limit * Math.sin((2 * Math.PI * frequency * sample) / sampleRate));
    audio.writeInt16LE(value, sample * BYTES_PER_SAMPLE);
  }
  return audio;
}

export function silence(ms: number, sampleRate: number): Buffer {
  return Buffer.alloc(bytesForDuration(ms, sampleRate));
}

/** Root mean square of the samples (0 for silence or no audio); a trailing odd byte is ignored. */
export function rms(audio: Buffer): number {
  const samples = Math.floor(audio.length / BYTES_PER_SAMPLE);
  if (samples === 0) {
    return 0;
  }
  let sumOfSquares = 0;
  for (let sample = 0; sample < samples; sample += 1) {
    const value = audio.readInt16LE(sample * BYTES_PER_SAMPLE);
    sumOfSquares += value * value;
  }
  return Math.sqrt(sumOfSquares / samples);
}
