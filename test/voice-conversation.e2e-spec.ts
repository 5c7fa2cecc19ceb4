import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from './support/wait-for.js';
import {
  answerInboundCall,
  connectCaller,
  startVoiceRig,
  type VoiceRig,
} from './support/voice-rig.js';

describe('a voice conversation on a live call', () => {
  let rig: VoiceRig;
  beforeAll(async () => {
    rig = await startVoiceRig();
  });
  afterAll(() => rig.close());

  async function callLog(callLogId: string) {
    return rig.context.db
      .collection('calllogs')
      .findOne({ _id: new (await import('mongodb')).ObjectId(callLogId) });
  }

  it('greets, answers the caller from the model, and finalizes the call once it stops', async () => {
    const liveCall = await answerInboundCall(rig);
    rig.deepgram.say(['I need help with my order']);
    rig.openai.reply({ text: 'Sure. What is your order number?' });
    const caller = await connectCaller(liveCall);
    caller.startSilence();
    await caller.waitUntil(() => caller.marksEchoed.length >= 1, 5_000, 'the greeting played');
    await caller.speak(600);
    await caller.waitUntil(() => caller.marksEchoed.length >= 2, 8_000, 'the answer played');
    await caller.stop();
    const ended = await waitFor(
      async () => {
        const log = await callLog(liveCall.callLogId);
        return log?.finalizedAt ? log : undefined;
      },
      15_000,
      'the call finalized',
    );
    expect(ended.status).toBe('user-ended');
    expect(ended.transcript).toContain('Agent: Hello! How can I help you today?');
    expect(ended.transcript).toContain('User: I need help with my order');
    expect(ended.transcript).toContain('Agent: Sure. What is your order number?');
    expect(caller.violations).toEqual([]);
  });
});
