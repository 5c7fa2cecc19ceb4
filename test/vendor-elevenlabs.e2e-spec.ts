import { describe, expect, it } from 'vitest';
import type { TextToSpeech, TextToSpeechOptions } from '../src/voice/ports/text-to-speech.port.js';
import { ElevenLabsTextToSpeech } from '../src/voice/providers/elevenlabs/elevenlabs-text-to-speech.js';
import {
  FAKE_ELEVENLABS_KEY,
  fakeElevenLabsSpeechBytes,
  startFakeElevenLabs,
} from './support/fake-elevenlabs-server.js';
import {
  closedSocket,
  failureOf,
  FIRST,
  HANDSHAKE_STATUSES,
  SECOND,
  startUtterance,
  ttsAdapterCases,
  useTtsAdapterRig,
  type Utterance,
} from './support/tts-adapter-cases.js';

function speak(tts: TextToSpeech, overrides: Partial<TextToSpeechOptions> = {}): Utterance {
  return startUtterance(tts, {
    voiceId: 'voice123',
    language: 'en',
    sampleRate: 16000,
    ...overrides,
  });
}

describe('ElevenLabs streaming text-to-speech', () => {
  const rig = useTtsAdapterRig({
    startFake: startFakeElevenLabs,
    adapter: (baseUrl, bounds) =>
      new ElevenLabsTextToSpeech({ apiKey: FAKE_ELEVENLABS_KEY, baseUrl, ...bounds }),
    speak,
  });
  const cases = ttsAdapterCases(rig);
  const { nextConnection } = rig;

  it('connects to stream-input with voice, model, PCM rate and language in the URL and the key in a header', async () => {
    const connection = nextConnection();
    const utterance = speak(rig.tts, { language: 'hi', sampleRate: 24000 });
    utterance.synthesis.push(FIRST);
    utterance.synthesis.end();
    expect(await utterance.outcome).toBe('done');

    expect(connection()?.path).toBe('/v1/text-to-speech/voice123/stream-input');
    expect(connection()?.query).toEqual({
      model_id: 'eleven_turbo_v2_5',
      output_format: 'pcm_24000',
      language_code: 'hi',
    });
    expect(connection()?.headers['xi-api-key']).toBe(FAKE_ELEVENLABS_KEY);
  });

  it('leaves language_code out for a model that does not take it', async () => {
    const connection = nextConnection();
    const utterance = speak(rig.tts, { model: 'eleven_multilingual_v2', language: 'de' });
    utterance.synthesis.push(FIRST);
    utterance.synthesis.end();
    expect(await utterance.outcome).toBe('done');

    expect(connection()?.query).toEqual({
      model_id: 'eleven_multilingual_v2',
      output_format: 'pcm_16000',
    });
  });

  it('opens with a blank space, the known voice settings of valid types and a chunk schedule', async () => {
    const connection = nextConnection();
    const utterance = speak(rig.tts, {
      settings: {
        stability: 0.4,
        similarity_boost: '0.8',
        style: 0.1,
        use_speaker_boost: true,
        speed: 5,
        accent: 'british',
      },
    });
    utterance.synthesis.push(FIRST);
    utterance.synthesis.end();
    expect(await utterance.outcome).toBe('done');

    const [opening] = connection()?.messages ?? [];
    expect(opening).toEqual({
      text: ' ',
      voice_settings: { stability: 0.4, style: 0.1, use_speaker_boost: true },
      generation_config: { chunk_length_schedule: expect.any(Array) },
    });
    const schedule = (opening as { generation_config: { chunk_length_schedule: number[] } })
      .generation_config.chunk_length_schedule;
    expect(schedule.every((length) => length >= 50 && length <= 500)).toBe(true);
  });

  it('speaks sentences as they are pushed: first audio before the second sentence, all audio before onDone', async () => {
    const connection = await cases.speaksSentencesAsPushed();
    expect(connection?.messages.slice(1)).toEqual([
      { text: `${FIRST} `, flush: true },
      { text: `${SECOND} `, flush: true },
      { text: '' },
    ]);
  });

  it('keeps an odd trailing byte for the next chunk so every chunk holds whole samples', async () => {
    await cases.keepsOddTrailingByte(8000);
  });

  it('calls onDone at once for an utterance that ended without text', async () => {
    await cases.endsWithoutText();
  });

  it('stops at cancel: no audio after it, and the vendor sees the socket closed', async () => {
    const slowFake = await startFakeElevenLabs({ chunkDelayMs: 40 });
    try {
      const slowTts = rig.adapter(slowFake.baseUrl);
      const utterance = speak(slowTts);
      utterance.synthesis.push(FIRST.repeat(4));
      utterance.synthesis.end();
      await utterance.firstAudio;
      utterance.synthesis.cancel();
      const chunksAtCancel = utterance.chunks.length;
      await closedSocket(slowFake.connections[0]);

      expect(slowFake.connections[0]?.closeCode).toBe(1000);
      expect(utterance.chunks.length).toBe(chunksAtCancel);
      expect(utterance.audioBytes()).toBeLessThan(
        fakeElevenLabsSpeechBytes(FIRST.repeat(4).trim().length, 16000),
      );
      expect(utterance.doneCount).toBe(0);
      expect(utterance.errors).toEqual([]);
    } finally {
      await slowFake.close();
    }
  });

  it('refuses a voice id that is not a plain id without connecting', async () => {
    const connectionsBefore = rig.fake.connections.length;
    const refused = speak(rig.tts, { voiceId: '../../v1/user' });
    refused.synthesis.push(FIRST);
    const error = await failureOf(refused);
    expect(error.failure).toBe('rejected');

    // A valid utterance started afterwards is the next connection the vendor sees.
    const valid = speak(rig.tts);
    valid.synthesis.push(FIRST);
    valid.synthesis.end();
    expect(await valid.outcome).toBe('done');
    expect(rig.fake.connections.length).toBe(connectionsBefore + 1);
    expect(rig.fake.connections[connectionsBefore]?.path).toBe(
      '/v1/text-to-speech/voice123/stream-input',
    );
    expect(refused.errors).toHaveLength(1);
  });

  it('reports a refused connection as unavailable', async () => {
    await cases.refusedConnection();
  });

  it.each(HANDSHAKE_STATUSES)(
    'reports HTTP %i on the handshake as %s before any audio',
    async (status, failure) => {
      await cases.handshakeStatus(status, failure);
    },
  );

  it('reports a refused key (error message then a policy close) as unauthorized', async () => {
    const connection = nextConnection();
    const wrongKey = new ElevenLabsTextToSpeech({
      apiKey: 'not-the-key',
      baseUrl: rig.fake.baseUrl,
      connectTimeoutMs: 300,
      firstAudioTimeoutMs: 300,
    });
    const utterance = speak(wrongKey);
    utterance.synthesis.push(FIRST);
    const error = await failureOf(utterance);
    await closedSocket(connection());

    expect(error.failure).toBe('unauthorized');
    expect(error.message).not.toContain('not-the-key');
    expect(utterance.errors).toHaveLength(1);
  });

  it('fails the utterance when too much text waits for the connection to open', async () => {
    await cases.tooMuchQueuedText();
  });

  it('reports a handshake that never completes as a timeout and drops the socket', async () => {
    await cases.handshakeHangs();
  });

  it('reports no audio within the first-audio bound as a timeout and closes the socket', async () => {
    await cases.noFirstAudio();
  });

  it.each([
    ['quota_exceeded', 'rate-limited', 'This request exceeds your quota of 10000.'],
    ['voice_id_does_not_exist', 'rejected', 'A voice with voice_id voice123 does not exist.'],
    ['invalid_api_key', 'unauthorized', `Invalid API key: ${FAKE_ELEVENLABS_KEY}`],
  ] as const)('classifies the vendor error %s as %s', async (code, failure, message) => {
    await cases.vendorErrorClassified(
      { error: code, message },
      { failure, code, apiKey: FAKE_ELEVENLABS_KEY },
    );
  });

  it('reports a message that is not JSON as malformed', async () => {
    await cases.notJson();
  });

  it('reports a connection dropped mid-stream as unavailable, after the audio that came', async () => {
    await cases.droppedMidStream();
  });

  it('keeps two concurrent utterances apart', async () => {
    const short = speak(rig.tts, { sampleRate: 8000 });
    const long = speak(rig.tts, { sampleRate: 24000 });
    short.synthesis.push(FIRST);
    long.synthesis.push(FIRST + SECOND);
    short.synthesis.end();
    long.synthesis.end();
    expect(await Promise.all([short.outcome, long.outcome])).toEqual(['done', 'done']);

    expect(short.audioBytes()).toBe(fakeElevenLabsSpeechBytes(FIRST.trim().length, 8000));
    expect(long.audioBytes()).toBe(
      fakeElevenLabsSpeechBytes((FIRST + SECOND).trim().length, 24000),
    );
  });
});
