/** Root mean square of PCM16 LE samples: how loud a piece of audio is (0..32768). */
export function pcmLevel(audio: Buffer): number {
  const samples = Math.floor(audio.length / 2);
  if (samples === 0) {
    return 0;
  }
  let sum = 0;
  for (let offset = 0; offset + 1 < audio.length; offset += 2) {
    const sample = audio.readInt16LE(offset);
    sum += sample * sample;
  }
  return Math.sqrt(sum / samples);
}

/** Caller audio at or above this level counts as speech (for turn latency timing only). */
export const SPEECH_LEVEL = 400;
