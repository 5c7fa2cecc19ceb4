import { describe, expect, it } from 'vitest';
import { closeReason } from './exotel-media-stream.js';

describe('closeReason', () => {
  it('keeps a short ASCII reason as it is', () => {
    expect(closeReason('stream stopped by Exotel (callended)')).toBe(
      'stream stopped by Exotel (callended)',
    );
  });

  it('never exceeds the 123 bytes a close frame allows, whatever Exotel sent', () => {
    const hostile = `stream stopped by Exotel (${'नमस्ते😀'.repeat(60)})`;
    const reason = closeReason(hostile);
    expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(123);
    expect(reason.startsWith('stream stopped by Exotel (')).toBe(true);
  });

  it('replaces control characters', () => {
    expect(closeReason('a\nb\u0000c')).toBe('a?b?c');
  });
});
