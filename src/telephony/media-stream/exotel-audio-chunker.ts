/** Exotel plays sent audio in whole 320-byte blocks. */
export const EXOTEL_CHUNK_ALIGNMENT = 320;
/** Smallest chunk Exotel accepts, except an utterance's last (100 ms at 8 kHz). */
export const EXOTEL_MIN_CHUNK_BYTES = 3_200;
/** Largest chunk Exotel accepts. */
export const EXOTEL_MAX_CHUNK_BYTES = 100 * 1024;

/**
 * Cuts the agent's audio into chunks Exotel accepts: multiples of 320 bytes, at least 3,200
 * bytes, at most `maxChunkBytes`; the last chunk of an utterance is padded with silence to a
 * multiple of 320. Audio is held back only until a whole minimum chunk is there, so the first
 * sound leaves as soon as 100 ms of it exists.
 */
export class ExotelAudioChunker {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(
    private readonly minChunkBytes = EXOTEL_MIN_CHUNK_BYTES,
    private readonly maxChunkBytes = 6_400,
  ) {}

  /** Adds audio; returns the chunks now ready to send. */
  push(audio: Buffer): Buffer[] {
    if (audio.length === 0) {
      return [];
    }
    this.pending.push(audio);
    this.pendingBytes += audio.length;
    if (this.pendingBytes < this.minChunkBytes) {
      return [];
    }
    const all = Buffer.concat(this.pending, this.pendingBytes);
    const chunks: Buffer[] = [];
    let offset = 0;
    while (all.length - offset >= this.minChunkBytes) {
      const available = all.length - offset;
      const size = Math.min(this.maxChunkBytes, available - (available % EXOTEL_CHUNK_ALIGNMENT));
      chunks.push(all.subarray(offset, offset + size));
      offset += size;
    }
    const rest = all.subarray(offset);
    this.pending = rest.length > 0 ? [Buffer.from(rest)] : [];
    this.pendingBytes = rest.length;
    return chunks;
  }

  /** The utterance is over: what is left, padded with silence to a multiple of 320 bytes. */
  flush(): Buffer | undefined {
    if (this.pendingBytes === 0) {
      return undefined;
    }
    const padded = Math.ceil(this.pendingBytes / EXOTEL_CHUNK_ALIGNMENT) * EXOTEL_CHUNK_ALIGNMENT;
    const last = Buffer.alloc(padded);
    Buffer.concat(this.pending, this.pendingBytes).copy(last);
    this.reset();
    return last;
  }

  /** Drops held audio (barge-in). */
  reset(): void {
    this.pending = [];
    this.pendingBytes = 0;
  }

  get heldBytes(): number {
    return this.pendingBytes;
  }
}
