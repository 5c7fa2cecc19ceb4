import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  answerInboundCall,
  connectCaller,
  startVoiceRig,
  type VoiceRig,
} from './support/voice-rig.js';
import { waitFor } from './support/wait-for.js';

describe('a wideband stream (VOICE_SAMPLE_RATE=16000)', () => {
  let rig: VoiceRig;
  beforeAll(async () => {
    rig = await startVoiceRig({ VOICE_SAMPLE_RATE: '16000' });
  });
  afterAll(() => rig.close());

  it('asks Exotel for 16 kHz in the stream URL and converses at that rate end to end', async () => {
    const liveCall = await answerInboundCall(rig);
    expect(new URL(liveCall.streamUrl).searchParams.get('sample-rate')).toBe('16000');
    rig.deepgram.say(['Do you deliver on Sundays']);
    rig.openai.reply({ text: 'Yes, we deliver every day of the week.' });
    // The fake reads the rate from the URL, as Exotel does, and sends 16 kHz frames.
    const caller = await connectCaller(liveCall);
    expect(caller.sampleRate).toBe(16000);
    caller.startSilence();
    await caller.waitUntil(() => caller.marksEchoed.length >= 1, 5_000, 'the greeting played');
    await caller.speak(600);
    await caller.waitUntil(() => caller.marksEchoed.length >= 2, 8_000, 'the answer played');
    await caller.stop();

    expect(rig.deepgram.connections.at(-1)?.query.sample_rate).toBe('16000');
    // 5 ms of speech per character at 16 kHz (2 bytes a sample), padded to 320-byte blocks.
    const greeting = 'Hello! How can I help you today?';
    const greetingBytes = caller.audio
      .filter((chunk) => chunk.at <= (caller.marksReceived[0]?.at ?? 0))
      .reduce((sum, chunk) => sum + chunk.bytes.length, 0);
    expect(greetingBytes).toBeGreaterThanOrEqual(greeting.length * 5 * 32);
    expect(greetingBytes).toBeLessThan(greeting.length * 5 * 32 + 320);
    expect(caller.violations).toEqual([]);
    const ended = await waitFor(
      async () => {
        const log = await rig.context.db
          .collection('calllogs')
          .findOne({ _id: new ObjectId(liveCall.callLogId) });
        return log?.finalizedAt ? log : undefined;
      },
      15_000,
      'the call finalized',
    );
    expect(ended.transcript).toContain('Agent: Yes, we deliver every day of the week.');
  });
});
