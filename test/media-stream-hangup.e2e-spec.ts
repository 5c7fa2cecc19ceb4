import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from './support/http.js';
import { createPeerApp } from './support/test-app.js';
import {
  answerInboundCall,
  connectCaller,
  startVoiceRig,
  type VoiceRig,
} from './support/voice-rig.js';
import { waitFor } from './support/wait-for.js';

describe('hanging up a call whose stream another process holds', () => {
  let rig: VoiceRig;
  let apiOnly: NestFastifyApplication;
  beforeAll(async () => {
    rig = await startVoiceRig();
    apiOnly = await createPeerApp(rig.context, {
      api: true,
      worker: false,
      scheduler: false,
      media: false,
    });
  });
  afterAll(async () => {
    await apiOnly.close();
    await rig.close();
  });

  it('asks the media process to close the stream, and the call ends', async () => {
    const liveCall = await answerInboundCall(rig);
    const caller = await connectCaller(liveCall);
    caller.startSilence();
    await caller.waitUntil(() => caller.marksEchoed.length >= 1, 5_000, 'the greeting played');

    const hangup = await call(apiOnly, 'POST', `/api/v1/calls/${liveCall.callLogId}/hangup`, {
      token: liveCall.user.token,
    });

    expect(hangup.status).toBe(200);
    expect((await caller.closed).code).toBe(1000);
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
    expect(ended.status).toBe('completed');
  });

  it('still refuses (409) a hang-up when no stream is live anywhere', async () => {
    const liveCall = await answerInboundCall(rig);

    const hangup = await call(apiOnly, 'POST', `/api/v1/calls/${liveCall.callLogId}/hangup`, {
      token: liveCall.user.token,
    });

    expect(hangup.status).toBe(409);
    expect(hangup.body.code).toBe('CALL_HANGUP_UNSUPPORTED');
  });
});
