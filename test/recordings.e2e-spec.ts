import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
} from '@aws-sdk/client-s3';
import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecordingMaintenanceService } from '../src/recordings/recording-maintenance.service.js';
import { createAgent, createPhone, randomIndianNumber } from './support/catalogue-factories.js';
import {
  type CallbackDeliverer,
  DEFAULT_FAKE_ACCOUNT,
  type FakeExotel,
  startFakeExotel,
} from './support/fake-exotel-server.js';
import { registerUser, setCredits, type TestUser } from './support/factories.js';
import { call } from './support/http.js';
import { createTestBucket, s3Environment, testS3Client } from './support/s3.js';
import { createTestContext, type TestContext } from './support/test-app.js';
import { waitFor } from './support/wait-for.js';

const EXOTEL_CONFIG = {
  apiKey: DEFAULT_FAKE_ACCOUNT.apiKey,
  apiToken: DEFAULT_FAKE_ACCOUNT.apiToken,
  sid: DEFAULT_FAKE_ACCOUNT.sid,
  subdomain: 'api.in.exotel.com',
};
const MAX_BYTES = 256 * 1024;
const DAY_MS = 86_400_000;

interface Line {
  user: TestUser;
  phoneId: string;
}

/** Bytes that look like an MP3 file (an ID3 header, then noise). */
function fakeMp3(bytes: number): Buffer {
  const body = randomBytes(bytes);
  body.write('ID3', 0, 'latin1');
  return body;
}

describe('call recordings: copied from the carrier into our storage', () => {
  let fake: FakeExotel;
  let s3App: TestContext;
  let localApp: TestContext;
  let bucket: string;
  let target: () => TestContext = () => s3App;
  /** A host that is not Exotel's: what it is sent must never hold the user's credentials. */
  let elsewhere: Server;
  const elsewhereSaw: IncomingHttpHeaders[] = [];
  const s3 = testS3Client();

  const deliver: CallbackDeliverer = async (url, request) => {
    const callback = new URL(url);
    const response = await target()
      .app.getHttpAdapter()
      .getInstance()
      .inject({
        method: 'POST',
        url: `${callback.pathname}${callback.search}`,
        headers: { 'content-type': request.contentType },
        payload: request.body,
      });
    return { status: response.statusCode, body: response.body };
  };

  const newLine = async (on: TestContext): Promise<Line> => {
    const user = await registerUser(on);
    await setCredits(on, user.id, 10);
    const configured = await call(on.app, 'PUT', '/api/v1/users/me/exotel-config', {
      token: user.token,
      body: EXOTEL_CONFIG,
    });
    expect(configured.status).toBe(200);
    const agentId = (await createAgent(on, user)).id as string;
    const phone = await createPhone(on, user, {
      number: randomIndianNumber(),
      agentId,
      exotelData: {
        sid: 'exophone-1',
        appId: String(100_000 + randomBytes(2).readUInt16BE()),
      },
    });
    return { user, phoneId: phone.id as string };
  };

  const storedCall = (on: TestContext, callLogId: string) =>
    on.db.collection('calllogs').findOne({ _id: new ObjectId(callLogId) });

  /** Places a call and waits until Exotel has it, so the test can script the carrier first. */
  const placedCall = async (on: TestContext, line: Line): Promise<{ id: string; sid: string }> => {
    target = () => on;
    const placed = await call(on.app, 'POST', '/api/v1/calls', {
      token: line.user.token,
      body: { phoneId: line.phoneId, to: '+919123456789' },
    });
    expect(placed.status).toBe(202);
    const id = placed.body.id as string;
    const sid = await waitFor(
      async () => (await storedCall(on, id))?.exotelCallSid as string | undefined,
      15_000,
      'the call to be placed',
    );
    return { id, sid };
  };

  /** Places a call through the fake Exotel and ends it with `recordingUrl`; returns its id. */
  const finishedCallWithRecording = async (
    on: TestContext,
    line: Line,
    recordingUrl: string,
  ): Promise<string> => {
    const placed = await placedCall(on, line);
    const delivery = await fake.finishCall(placed.sid, {
      status: 'completed',
      conversationDuration: 30,
      recordingUrl,
    });
    expect(delivery.status).toBe(200);
    return placed.id;
  };

  /** Waits until the call's copy ended (stored or not), and returns the call log. */
  const copyEnded = (on: TestContext, callLogId: string) =>
    waitFor(
      async () => {
        const stored = await storedCall(on, callLogId);
        const state = (stored?.recording as { state?: string } | undefined)?.state;
        return state !== undefined && state !== 'pending' && stored?.recordingPending !== true
          ? stored
          : undefined;
      },
      20_000,
      `the recording of ${callLogId} to be copied`,
    );

  const recordingRequests = (path: string) =>
    fake.requests.filter((request) => request.method === 'GET' && request.path === path);

  const bucketKeys = async (): Promise<string[]> =>
    ((await s3.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).flatMap(
      (entry) => (entry.Key === undefined ? [] : [entry.Key]),
    );

  beforeAll(async () => {
    fake = await startFakeExotel({ deliver });
    bucket = await createTestBucket('recordings');
    const common = {
      EXOTEL_API_BASE_URL: fake.baseUrl,
      CALL_PLACEMENT_RETRY_DELAY_MS: '50',
      // The fake carrier serves recordings on 127.0.0.1.
      WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true',
      RECORDING_MAX_BYTES: String(MAX_BYTES),
      RECORDING_COPY_ATTEMPTS: '3',
      RECORDING_RETRY_BASE_MS: '50',
      RECORDING_FETCH_TIMEOUT_MS: '5000',
    };
    s3App = await createTestContext({ ...common, ...s3Environment(bucket) });
    localApp = await createTestContext(common);
    elsewhere = createServer((request, response) => {
      elsewhereSaw.push(request.headers);
      response.writeHead(200, { 'content-type': 'audio/wav' });
      response.end(Buffer.from('RIFF....WAVEfmt '));
    });
    await new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    await s3App.close();
    await localApp.close();
    await fake.close();
    await new Promise<void>((resolve) => elsewhere.close(() => resolve()));
    s3.destroy();
  });

  it("copies the recording into the bucket with the user's credentials, and hands the owner a signed URL", async () => {
    const line = await newLine(s3App);
    const audio = fakeMp3(200 * 1024);
    const sourceUrl = fake.addRecording(`${randomBytes(6).toString('hex')}.mp3`, audio);
    const callLogId = await finishedCallWithRecording(s3App, line, sourceUrl);
    const stored = await copyEnded(s3App, callLogId);

    const createdAt = stored?.createdAt as Date;
    const key =
      `recordings/${line.user.id}/${createdAt.getUTCFullYear()}/` +
      `${String(createdAt.getUTCMonth() + 1).padStart(2, '0')}/${callLogId}.mp3`;
    expect(stored?.recording).toMatchObject({
      state: 'stored',
      sourceUrl,
      key,
      size: audio.length,
      contentType: 'audio/mpeg',
    });
    expect(stored?.recordingUrl).toBe(`s3://${bucket}/${key}`);
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    expect(Buffer.from((await object.Body?.transformToByteArray()) ?? [])).toEqual(audio);
    // Exotel's recording links need the account's credentials: sent, as basic auth.
    const [download] = recordingRequests(new URL(sourceUrl).pathname);
    expect(download?.headers.authorization).toBe(
      `Basic ${Buffer.from(`${EXOTEL_CONFIG.apiKey}:${EXOTEL_CONFIG.apiToken}`).toString('base64')}`,
    );

    const link = await call(s3App.app, 'GET', `/api/v1/calls/${callLogId}/recording`, {
      token: line.user.token,
    });
    expect(link.status).toBe(200);
    expect(link.body).toMatchObject({ contentType: 'audio/mpeg', size: audio.length });
    expect(new Date(link.body.expiresAt as string).getTime()).toBeGreaterThan(Date.now());
    const downloaded = await fetch(link.body.url as string);
    expect(downloaded.status).toBe(200);
    expect(Buffer.from(await downloaded.arrayBuffer())).toEqual(audio);

    const call_ = await call(s3App.app, 'GET', `/api/v1/calls/${callLogId}`, {
      token: line.user.token,
    });
    expect(call_.body.recordingUrl).toBe(`s3://${bucket}/${key}`);
    expect(call_.body.recording).toEqual({
      state: 'stored',
      size: audio.length,
      contentType: 'audio/mpeg',
      storedAt: expect.any(String),
    });
  });

  it('shows a recording to its owner only', async () => {
    const owner = await newLine(s3App);
    const stranger = await registerUser(s3App);
    const sourceUrl = fake.addRecording(`${randomBytes(6).toString('hex')}.mp3`, fakeMp3(1024));
    const callLogId = await finishedCallWithRecording(s3App, owner, sourceUrl);
    await copyEnded(s3App, callLogId);

    const foreign = await call(s3App.app, 'GET', `/api/v1/calls/${callLogId}/recording`, {
      token: stranger.token,
    });
    expect(foreign.status).toBe(404);
    expect(foreign.body.code).toBe('CALL_NOT_FOUND');
    expect(foreign.text).not.toContain('X-Amz');
    const anonymous = await call(s3App.app, 'GET', `/api/v1/calls/${callLogId}/recording`);
    expect(anonymous.status).toBe(401);
    const badId = await call(s3App.app, 'GET', '/api/v1/calls/not-an-id/recording', {
      token: owner.user.token,
    });
    expect(badId.status).toBe(400);
    const unknown = await call(
      s3App.app,
      'GET',
      `/api/v1/calls/${new ObjectId().toHexString()}/recording`,
      {
        token: owner.user.token,
      },
    );
    expect(unknown.status).toBe(404);
  });

  it('retries after the carrier answers 5xx, then stores the copy', async () => {
    const line = await newLine(s3App);
    const audio = fakeMp3(4096);
    const sourceUrl = fake.addRecording(`${randomBytes(6).toString('hex')}.mp3`, audio);
    const placed = await placedCall(s3App, line);
    // The call's end reaches us as a callback (no request to the fake): the next two requests
    // the fake gets are the first two downloads.
    fake.failNext(503, undefined, 2);
    await fake.finishCall(placed.sid, {
      status: 'completed',
      conversationDuration: 30,
      recordingUrl: sourceUrl,
    });
    const stored = await copyEnded(s3App, placed.id);
    expect(stored?.recording).toMatchObject({ state: 'stored', size: audio.length });
    expect(recordingRequests(new URL(sourceUrl).pathname)).toHaveLength(3);
  });

  it('records a failure after the last attempt, without a copy', async () => {
    const line = await newLine(s3App);
    const sourceUrl = fake.addRecording(`${randomBytes(6).toString('hex')}.mp3`, fakeMp3(2048));
    const placed = await placedCall(s3App, line);
    fake.failNext(500, undefined, 3);
    await fake.finishCall(placed.sid, {
      status: 'completed',
      conversationDuration: 30,
      recordingUrl: sourceUrl,
    });
    const callLogId = placed.id;
    const stored = await copyEnded(s3App, callLogId);
    expect(stored?.recording).toMatchObject({ state: 'failed', error: 'HTTP 500' });
    expect(recordingRequests(new URL(sourceUrl).pathname)).toHaveLength(3);
    expect(stored?.recordingUrl).toBe(sourceUrl);
    expect(await bucketKeys()).not.toContainEqual(expect.stringContaining(callLogId));
    const answer = await call(s3App.app, 'GET', `/api/v1/calls/${callLogId}/recording`, {
      token: line.user.token,
    });
    expect(answer.status).toBe(404);
    expect(answer.body).toMatchObject({ code: 'RECORDING_NOT_AVAILABLE' });
  });

  it('refuses a recording over the size cap, whether it says so up front or only while streaming', async () => {
    const line = await newLine(s3App);
    const declared = fake.addRecording(
      `${randomBytes(6).toString('hex')}.mp3`,
      fakeMp3(MAX_BYTES + 1),
    );
    const streamed = fake.addRecording(
      `${randomBytes(6).toString('hex')}.mp3`,
      fakeMp3(MAX_BYTES * 2),
      {
        chunked: true,
      },
    );
    const first = await finishedCallWithRecording(s3App, line, declared);
    const second = await finishedCallWithRecording(s3App, line, streamed);
    for (const callLogId of [first, second]) {
      const stored = await copyEnded(s3App, callLogId);
      expect(stored?.recording).toMatchObject({ state: 'too-large' });
      expect((stored?.recording as { error: string }).error).toContain(String(MAX_BYTES));
    }
    // One attempt each: a size does not shrink on a retry.
    expect(recordingRequests(new URL(declared).pathname)).toHaveLength(1);
    expect(recordingRequests(new URL(streamed).pathname)).toHaveLength(1);
    const keys = await bucketKeys();
    expect(keys.filter((key) => key.includes(first) || key.includes(second))).toEqual([]);
    expect(
      (await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? [],
    ).toEqual([]);
  });

  it('records a recording the carrier no longer has as missing, without retrying', async () => {
    const line = await newLine(s3App);
    const sourceUrl = fake.addRecording(`${randomBytes(6).toString('hex')}.mp3`, fakeMp3(1024));
    fake.removeRecording(sourceUrl);
    const callLogId = await finishedCallWithRecording(s3App, line, sourceUrl);
    const stored = await copyEnded(s3App, callLogId);
    expect(stored?.recording).toMatchObject({ state: 'missing' });
    expect(recordingRequests(new URL(sourceUrl).pathname)).toHaveLength(1);
  });

  it("never sends the user's credentials to a host that is not Exotel's", async () => {
    const line = await newLine(s3App);
    const { port } = elsewhere.address() as AddressInfo;
    const sourceUrl = `http://localhost:${port}/elsewhere/${randomBytes(4).toString('hex')}.wav`;
    const callLogId = await finishedCallWithRecording(s3App, line, sourceUrl);
    const stored = await copyEnded(s3App, callLogId);
    expect(stored?.recording).toMatchObject({ state: 'stored', contentType: 'audio/wav' });
    expect((stored?.recording as { key: string }).key).toMatch(/\.wav$/);
    expect(elsewhereSaw.length).toBeGreaterThan(0);
    expect(elsewhereSaw.every((headers) => headers.authorization === undefined)).toBe(true);
  });

  it('streams the file itself with local storage', async () => {
    const line = await newLine(localApp);
    const audio = fakeMp3(64 * 1024);
    const sourceUrl = fake.addRecording(`${randomBytes(6).toString('hex')}.mp3`, audio);
    const callLogId = await finishedCallWithRecording(localApp, line, sourceUrl);
    const stored = await copyEnded(localApp, callLogId);
    expect(stored?.recording).toMatchObject({ state: 'stored', size: audio.length });
    expect(stored?.recordingUrl).toMatch(/^file:\/\/.*\.mp3$/);
    const response = await localApp.app
      .getHttpAdapter()
      .getInstance()
      .inject({
        method: 'GET',
        url: `/api/v1/calls/${callLogId}/recording`,
        headers: { authorization: `Bearer ${line.user.token}` },
      });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('audio/mpeg');
    expect(response.headers['content-disposition']).toBe(`attachment; filename="${callLogId}.mp3"`);
    expect(response.rawPayload).toEqual(audio);
    const stranger = await registerUser(localApp);
    const foreign = await call(localApp.app, 'GET', `/api/v1/calls/${callLogId}/recording`, {
      token: stranger.token,
    });
    expect(foreign.status).toBe(404);
  });

  it('answers 409 while the copy is pending, and the sweep queues a copy a crash left unqueued', async () => {
    const line = await newLine(s3App);
    const audio = fakeMp3(2048);
    const sourceUrl = fake.addRecording(`${randomBytes(6).toString('hex')}.mp3`, audio);
    const gone = fake.addRecording(`${randomBytes(6).toString('hex')}.mp3`, audio);
    fake.removeRecording(gone);
    const callLogId = await finishedCallWithRecording(s3App, line, gone);
    // That copy found nothing; now make the call look like a crash right after finalization,
    // before its copy was queued (the job of that id is finished: the sweep must replace it).
    expect((await copyEnded(s3App, callLogId))?.recording).toMatchObject({ state: 'missing' });
    await s3App.db.collection('calllogs').updateOne(
      { _id: new ObjectId(callLogId) },
      {
        $set: {
          recordingPending: true,
          recording: { state: 'pending', sourceUrl },
          finalizedAt: new Date(Date.now() - 3_600_000),
        },
      },
    );
    const pending = await call(s3App.app, 'GET', `/api/v1/calls/${callLogId}/recording`, {
      token: line.user.token,
    });
    expect(pending.status).toBe(409);
    expect(pending.body.code).toBe('RECORDING_PENDING');
    const swept = await s3App.app.get(RecordingMaintenanceService).sweep();
    expect(swept.requeued).toBeGreaterThanOrEqual(1);
    const stored = await copyEnded(s3App, callLogId);
    expect(stored?.recording).toMatchObject({ state: 'stored', size: audio.length });
    expect(await s3App.app.get(RecordingMaintenanceService).sweep()).toEqual({ requeued: 0 });
  });

  describe('retention', () => {
    it('refuses a bad retention setting and changes nothing', async () => {
      const line = await newLine(s3App);
      const before = await call(s3App.app, 'GET', '/api/v1/users/me/recording-retention', {
        token: line.user.token,
      });
      expect(before.body).toEqual({ days: null, defaultDays: 90, effectiveDays: 90 });
      for (const body of [
        { days: 0 },
        { days: 3651 },
        { days: 1.5 },
        { days: '7' },
        {},
        { days: 7, extra: 1 },
      ]) {
        const refused = await call(s3App.app, 'PUT', '/api/v1/users/me/recording-retention', {
          token: line.user.token,
          body,
        });
        expect(refused.status, JSON.stringify(body)).toBe(400);
      }
      const user = await s3App.db.collection('users').findOne({ _id: new ObjectId(line.user.id) });
      expect(user?.recordingRetentionDays).toBeUndefined();
    });

    it("deletes copies past their owner's retention (the user's own, else the default), from storage and the call", async () => {
      const shortLived = await newLine(s3App);
      const usual = await newLine(s3App);
      const set = await call(s3App.app, 'PUT', '/api/v1/users/me/recording-retention', {
        token: shortLived.user.token,
        body: { days: 1 },
      });
      expect(set.status).toBe(200);
      expect(set.body).toEqual({ days: 1, defaultDays: 90, effectiveDays: 1 });

      const ids: Record<string, string> = {};
      for (const [name, line] of [
        ['short', shortLived],
        ['usual', usual],
      ] as const) {
        const sourceUrl = fake.addRecording(`${randomBytes(6).toString('hex')}.mp3`, fakeMp3(1024));
        ids[name] = await finishedCallWithRecording(s3App, line, sourceUrl);
        await copyEnded(s3App, ids[name]);
      }
      const keyOf = async (callLogId: string) =>
        ((await storedCall(s3App, callLogId))?.recording as { key: string }).key;
      const shortKey = await keyOf(ids.short ?? '');
      const usualKey = await keyOf(ids.usual ?? '');
      const maintenance = s3App.app.get(RecordingMaintenanceService);

      // Two days on: past the 1-day retention, well within the 90-day default.
      const purged = await maintenance.purge(new Date(Date.now() + 2 * DAY_MS));
      expect(purged.deleted).toBe(1);
      expect(await bucketKeys()).not.toContain(shortKey);
      expect(await bucketKeys()).toContain(usualKey);
      const gone = await storedCall(s3App, ids.short ?? '');
      expect(gone?.recording).toMatchObject({ state: 'deleted', key: shortKey });
      expect(gone?.recordingUrl).toBeUndefined();
      const answer = await call(s3App.app, 'GET', `/api/v1/calls/${ids.short}/recording`, {
        token: shortLived.user.token,
      });
      expect(answer.status).toBe(410);
      expect(answer.body.code).toBe('RECORDING_DELETED');

      // 91 days on, the default takes the rest; a second run finds nothing left.
      const later = await maintenance.purge(new Date(Date.now() + 91 * DAY_MS));
      expect(later.deleted).toBeGreaterThanOrEqual(1);
      expect(await bucketKeys()).not.toContain(usualKey);
      expect((await storedCall(s3App, ids.usual ?? ''))?.recording).toMatchObject({
        state: 'deleted',
      });
      expect((await maintenance.purge(new Date(Date.now() + 91 * DAY_MS))).deleted).toBe(0);
    });
  });
});
