import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Logger } from '@nestjs/common';
import { type Db, type Document, Int32, MongoClient, ObjectId } from 'mongodb';
import { loadConfig } from '../src/config/app-config.js';
import { MongoBackupService } from '../src/maintenance/backup/mongo-backup.service.js';
import { MongoRestoreService } from '../src/maintenance/backup/mongo-restore.service.js';
import { INDEX_DEFINITIONS } from '../src/migrations/index-definitions.js';
import { createIndexIfSupported } from '../src/migrations/server-capabilities.js';
import { createBackupStorage } from '../src/storage/storage.factory.js';
import { readBenchEnvironment } from './support/bench-environment.js';
import { startBenchDatabases } from './support/databases.js';
import { loadLocalServices } from './support/local-services.js';

/**
 * Backup and restore of N call logs (default 50,000 and 200,000; BENCH_SIZES=a,b,...):
 * documents per second and peak RSS of each phase. Each phase runs in a child process of its
 * own and reports the kernel's high-water mark of its resident memory (VmHWM), so the figure
 * is the phase's true peak, start-up included. Goal: under 250 MB, and flat across sizes.
 * The same backup is then copied to a local S3-protocol server (backup+upload) and restored
 * from there (restore from S3), also in child processes of their own.
 */
const RSS_GOAL_MB = 250;
/** Peak RSS may differ this much between the smallest and the largest size and still be flat. */
const FLAT_TOLERANCE_MB = 32;
const INSERT_BATCH = 1000;
const PHASE_TIMEOUT_MS = 15 * 60 * 1000;
const RESULT_MARKER = 'BENCH_PHASE_RESULT ';
const S3_BUCKET = 'bench-backups';
/** Key prefix of the uploaded backups in the bucket (BACKUP_S3_PREFIX). */
const S3_PREFIX = 'bench/';
/**
 * The configuration variables the parent gives an S3 phase through its environment; the child
 * builds its configuration from these alone (plus the database and folder), as the local
 * phases do from theirs.
 */
const S3_ENV_KEYS = [
  'STORAGE_DRIVER',
  'S3_BUCKET',
  'S3_ENDPOINT',
  'S3_REGION',
  'S3_FORCE_PATH_STYLE',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'BACKUP_S3_PREFIX',
] as const;
type S3Environment = Record<(typeof S3_ENV_KEYS)[number], string>;

type PhaseName = 'backup' | 'restore' | 'backup-s3' | 'restore-s3';
const PHASES: readonly PhaseName[] = ['backup', 'restore', 'backup-s3', 'restore-s3'];
const PHASE_LABELS: Record<PhaseName, string> = {
  backup: 'backup',
  restore: 'restore',
  'backup-s3': 'backup+upload (S3)',
  'restore-s3': 'restore from S3',
};

const print = (text: string): void => {
  process.stdout.write(`${text}\n`);
};

interface PhaseResult {
  documents: number;
  durationMs: number;
  bytes: number;
  /** VmHWM of the phase's process, in MiB. */
  peakRssMb: number;
  /** The highest RSS seen by sampling every 50 ms, in MiB (a cross-check of VmHWM). */
  sampledPeakRssMb: number;
  folder?: string;
  /** backup-s3: the copy in the bucket (`summary.upload`). */
  upload?: { location: string; files: number; bytes: number; durationMs: number };
}

function highWaterMarkMb(): number {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(status);
    return match ? Number(match[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

// ---------------------------------------------------------------- child: one phase

/** The S3 variables the parent set in this (child) process's environment. */
function s3EnvironmentOfParent(): Partial<S3Environment> {
  const picked: Partial<S3Environment> = {};
  for (const key of S3_ENV_KEYS) {
    const value = process.env[key];
    if (value !== undefined) {
      picked[key] = value;
    }
  }
  if (picked.STORAGE_DRIVER !== 's3') {
    throw new Error('an S3 phase needs STORAGE_DRIVER=s3 and the S3 settings from the parent');
  }
  return picked;
}

async function runPhase(args: string[]): Promise<void> {
  const [phase, uri, path] = args;
  if (!PHASES.some((name) => name === phase) || uri === undefined || path === undefined) {
    throw new Error(
      `usage: --phase backup|restore|backup-s3|restore-s3 <mongodb uri> <folder or s3:// location>`,
    );
  }
  Logger.overrideLogger(['error']);
  let sampledPeak = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    sampledPeak = Math.max(sampledPeak, process.memoryUsage().rss);
  }, 50);
  const s3 = phase === 'backup-s3' || phase === 'restore-s3';
  const { config } = loadConfig({
    NODE_ENV: 'test',
    MONGODB_URI: uri,
    ...(phase === 'restore-s3' ? {} : { BACKUP_DIR: path }),
    ...(s3 ? s3EnvironmentOfParent() : {}),
  });
  const client = await new MongoClient(uri).connect();
  try {
    const started = Date.now();
    let result: Omit<PhaseResult, 'peakRssMb' | 'sampledPeakRssMb'>;
    if (phase === 'backup') {
      const summary = await new MongoBackupService(client.db(), config).backup();
      result = {
        documents: summary.documents,
        durationMs: Date.now() - started,
        bytes: summary.bytes,
        folder: summary.folder,
      };
    } else if (phase === 'restore') {
      const summary = await new MongoRestoreService(client.db()).restore(path, { drop: true });
      result = { documents: summary.inserted, durationMs: Date.now() - started, bytes: 0 };
    } else if (phase === 'backup-s3') {
      const storage = await createBackupStorage(config.storage);
      if (storage === undefined) {
        throw new Error('the S3 settings gave no backup storage');
      }
      const summary = await new MongoBackupService(client.db(), config, storage).backup();
      if (summary.upload === undefined) {
        throw new Error('the backup with S3 storage reported no upload');
      }
      const { location, files, bytes, durationMs } = summary.upload;
      result = {
        documents: summary.documents,
        durationMs: Date.now() - started,
        bytes: summary.bytes,
        folder: summary.folder,
        upload: { location, files, bytes, durationMs },
      };
    } else {
      const summary = await new MongoRestoreService(client.db(), config).restore(path, {
        drop: true,
      });
      result = { documents: summary.inserted, durationMs: Date.now() - started, bytes: 0 };
    }
    clearInterval(sampler);
    const phaseResult: PhaseResult = {
      ...result,
      peakRssMb: highWaterMarkMb(),
      sampledPeakRssMb: Math.max(sampledPeak, process.memoryUsage().rss) / 1024 / 1024,
    };
    print(`${RESULT_MARKER}${JSON.stringify(phaseResult)}`);
  } finally {
    clearInterval(sampler);
    await client.close();
  }
}

// ---------------------------------------------------------------- parent: seed, measure, report

function callLog(userId: ObjectId, agentId: ObjectId, index: number): Document {
  const startedAt = new Date(Date.UTC(2026, 0, 1) + index * 37_000);
  const durationSec = 20 + (index % 400);
  const completed = index % 9 !== 0;
  return {
    sessionId: `bench-${index}-${randomBytes(6).toString('hex')}`,
    userId,
    agentId,
    fromPhone: '+919876543210',
    toPhone: `+9198${String(10_000_000 + index).slice(-8)}`,
    direction: index % 4 === 0 ? 'inbound' : 'outbound',
    status: completed ? 'completed' : 'no-answer',
    startedAt,
    endedAt: new Date(startedAt.getTime() + durationSec * 1000),
    durationSec: new Int32(durationSec),
    exotelCallSid: `sid${randomBytes(8).toString('hex')}`,
    transcript: completed
      ? 'agent: Hello, this is Acme Retail calling about your order.\nuser: Yes, go ahead.\n' +
        'agent: Your parcel will arrive tomorrow between 10 and 12.\nuser: Thank you.'
      : undefined,
    recordingUrl: completed ? `https://recordings.example.test/${index}.mp3` : undefined,
    costBreakdown: {
      stt: durationSec * 0.0004,
      llm: 0.0125 + (index % 13) * 0.001,
      tts: durationSec * 0.0003,
      telephony: Math.ceil(durationSec / 60) * 0.5,
      total: 0.5 + durationSec * 0.0007,
    },
    metadata: { campaign: `november-${index % 5}`, attempt: index % 3 },
    createdAt: startedAt,
    updatedAt: startedAt,
  };
}

async function seed(db: Db, count: number): Promise<void> {
  const logger = new Logger('BenchIndexes');
  logger.warn = () => undefined;
  for (const definition of INDEX_DEFINITIONS.filter((entry) => entry.collection === 'calllogs')) {
    await createIndexIfSupported(db, definition, logger);
  }
  const userId = new ObjectId();
  const agentId = new ObjectId();
  for (let start = 0; start < count; start += INSERT_BATCH) {
    const size = Math.min(INSERT_BATCH, count - start);
    await db.collection('calllogs').insertMany(
      Array.from({ length: size }, (_unused, offset) => callLog(userId, agentId, start + offset)),
      {
        ordered: false,
      },
    );
  }
}

/** `environment`: variables added to the child's (the S3 settings of the S3 phases). */
function phase(args: string[], environment?: Record<string, string>): Promise<PhaseResult> {
  return new Promise((resolvePhase, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--phase', ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
      ...(environment === undefined ? {} : { env: { ...process.env, ...environment } }),
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), PHASE_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((entry) => entry.startsWith(RESULT_MARKER));
      if (code !== 0 || line === undefined) {
        reject(new Error(`${args[0]} phase exited with ${code}: ${stdout.trim()}`));
        return;
      }
      resolvePhase(JSON.parse(line.slice(RESULT_MARKER.length)) as PhaseResult);
    });
  });
}

interface Row {
  size: number;
  phase: PhaseName;
  result: PhaseResult;
  /** MiB of the backup moved per second (see the note under the table); undefined: none. */
  mbPerSecond?: number;
}

function mibPerSecond(bytes: number, durationMs: number): number {
  return bytes / 1024 / 1024 / (durationMs / 1000);
}

function formatTable(rows: Row[]): string {
  const header = [
    'call logs',
    'phase',
    'seconds',
    'docs/s',
    'peak RSS MB',
    'sampled MB',
    'gzip MB',
    'MB/s',
    `RSS < ${RSS_GOAL_MB} MB`,
  ];
  const lines = rows.map(({ size, phase: name, result, mbPerSecond }) => [
    size.toLocaleString('en-US'),
    PHASE_LABELS[name],
    (result.durationMs / 1000).toFixed(1),
    Math.round(result.documents / (result.durationMs / 1000)).toLocaleString('en-US'),
    result.peakRssMb.toFixed(1),
    result.sampledPeakRssMb.toFixed(1),
    name === 'backup' || name === 'backup-s3' ? (result.bytes / 1024 / 1024).toFixed(1) : '-',
    mbPerSecond === undefined || !Number.isFinite(mbPerSecond) ? '-' : mbPerSecond.toFixed(2),
    result.peakRssMb < RSS_GOAL_MB ? 'PASS' : 'MISS',
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...lines.map((line) => (line[column] ?? '').length)),
  );
  const render = (cells: string[]): string =>
    cells
      .map((text, column) =>
        column < 2 ? text.padEnd(widths[column] ?? 0) : text.padStart(widths[column] ?? 0),
      )
      .join('  ');
  return [
    render(header),
    render(widths.map((width) => '-'.repeat(width))),
    ...lines.map(render),
  ].join('\n');
}

async function main(): Promise<boolean> {
  const environment = readBenchEnvironment();
  const sizes = environment.backupSizes;
  print('bench:backup');
  print(
    `node ${process.version} on ${process.platform}/${process.arch}, ${availableParallelism()} cores ` +
      `(${cpus()[0]?.model ?? 'unknown CPU'}), ${Math.round(totalmem() / 2 ** 30)} GiB; ` +
      `load average ${loadavg()
        .map((load) => load.toFixed(2))
        .join(' ')}`,
  );
  const databases = await startBenchDatabases(environment, (line) => print(`[databases] ${line}`));
  const client = await new MongoClient(databases.mongoServerUri).connect();
  const rows: Row[] = [];
  const cleanups: Array<() => Promise<unknown>> = [() => databases.stop(), () => client.close()];
  try {
    print(`MongoDB: ${databases.mongoKind}`);
    const services = await loadLocalServices();
    const s3 = await services.startS3Server({
      buckets: [S3_BUCKET],
      log: (line) => print(`[s3] ${line}`),
    });
    cleanups.push(() => s3.stop());
    const s3Environment: S3Environment = {
      STORAGE_DRIVER: 's3',
      S3_BUCKET,
      S3_ENDPOINT: s3.endpoint,
      S3_REGION: s3.region,
      S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
      BACKUP_S3_PREFIX: S3_PREFIX,
    };
    print(`S3: local S3-protocol server at ${s3.endpoint} (bucket ${S3_BUCKET}, path-style)`);
    for (const size of sizes) {
      const id = `bench_backup_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
      const source = client.db(`${id}_source`);
      const target = client.db(`${id}_target`);
      const targetS3 = client.db(`${id}_target_s3`);
      const root = await mkdtemp(join(tmpdir(), 'bench-backup-'));
      cleanups.unshift(
        () => source.dropDatabase(),
        () => target.dropDatabase(),
        () => targetS3.dropDatabase(),
        () => rm(root, { recursive: true, force: true }),
      );
      const seedStarted = Date.now();
      await seed(source, size);
      print(
        `seeded ${size.toLocaleString('en-US')} call logs in ${((Date.now() - seedStarted) / 1000).toFixed(1)} s`,
      );

      const backup = await phase([
        'backup',
        `${databases.mongoServerUri}${source.databaseName}`,
        root,
      ]);
      rows.push({
        size,
        phase: 'backup',
        result: backup,
        mbPerSecond: mibPerSecond(backup.bytes, backup.durationMs),
      });
      print(`  backup: ${JSON.stringify(backup)}`);
      if (backup.folder === undefined) {
        throw new Error('the backup phase did not report its folder');
      }
      const restore = await phase([
        'restore',
        `${databases.mongoServerUri}${target.databaseName}`,
        backup.folder,
      ]);
      rows.push({
        size,
        phase: 'restore',
        result: restore,
        mbPerSecond: mibPerSecond(backup.bytes, restore.durationMs),
      });
      print(`  restore: ${JSON.stringify(restore)}`);
      const restored = await target.collection('calllogs').countDocuments();
      if (restored !== size || restore.documents !== size) {
        throw new Error(`restored ${restored} call logs, expected ${size}`);
      }

      // The same backup into its own folder (the local one stays as it was), then to S3.
      const backupS3 = await phase(
        ['backup-s3', `${databases.mongoServerUri}${source.databaseName}`, join(root, 's3')],
        s3Environment,
      );
      const upload = backupS3.upload;
      if (upload === undefined) {
        throw new Error('the backup-s3 phase did not report its upload');
      }
      rows.push({
        size,
        phase: 'backup-s3',
        result: backupS3,
        mbPerSecond: mibPerSecond(upload.bytes, upload.durationMs),
      });
      print(`  backup-s3: ${JSON.stringify(backupS3)}`);
      print(
        `  S3 upload: ${(upload.bytes / 1024 / 1024).toFixed(1)} MB (${upload.bytes} bytes, ` +
          `${upload.files} files) in ${(upload.durationMs / 1000).toFixed(1)} s ` +
          `to ${upload.location} on ${s3.endpoint}`,
      );
      const restoreS3 = await phase(
        ['restore-s3', `${databases.mongoServerUri}${targetS3.databaseName}`, upload.location],
        s3Environment,
      );
      rows.push({
        size,
        phase: 'restore-s3',
        result: restoreS3,
        mbPerSecond: mibPerSecond(upload.bytes, restoreS3.durationMs),
      });
      print(`  restore-s3: ${JSON.stringify(restoreS3)}`);
      const restoredS3 = await targetS3.collection('calllogs').countDocuments();
      if (restoredS3 !== size || restoreS3.documents !== size) {
        throw new Error(`restored ${restoredS3} call logs from S3, expected ${size}`);
      }
      await source.dropDatabase();
      await target.dropDatabase();
      await targetS3.dropDatabase();
      await rm(root, { recursive: true, force: true });
    }
    print('');
    print(formatTable(rows));
    print('');
    const verdicts = PHASES.map((name) => {
      const peaks = rows.filter((row) => row.phase === name).map((row) => row.result.peakRssMb);
      const spread = Math.max(...peaks) - Math.min(...peaks);
      const under = peaks.every((peak) => peak < RSS_GOAL_MB);
      const flat = spread <= FLAT_TOLERANCE_MB;
      print(
        `${PHASE_LABELS[name]}: peak RSS ${peaks.map((peak) => peak.toFixed(0)).join(' / ')} MB across ` +
          `${sizes.map((size) => size.toLocaleString('en-US')).join(' / ')} call logs; ` +
          `goal < ${RSS_GOAL_MB} MB: ${under ? 'PASS' : 'MISS'}; flat (spread ${spread.toFixed(1)} MB <= ${FLAT_TOLERANCE_MB}): ${flat ? 'PASS' : 'MISS'}`,
      );
      return under && flat;
    });
    print(
      'peak RSS = VmHWM of a child process running only that phase (start-up included); ' +
        'sampled = max of process.memoryUsage().rss every 50 ms in the same process.',
    );
    print(
      'MB/s = MiB of the gzip backup per second: backup, written / seconds; restore, read / ' +
        'seconds; backup+upload (S3), uploaded / seconds of the upload alone (its seconds ' +
        'column is dump and upload); restore from S3, downloaded / seconds.',
    );
    return verdicts.every(Boolean);
  } finally {
    for (const cleanup of cleanups) {
      await cleanup().catch((error: unknown) => {
        process.stderr.write(`cleanup failed: ${String(error)}\n`);
      });
    }
  }
}

const phaseIndex = process.argv.indexOf('--phase');
if (phaseIndex >= 0) {
  await runPhase(process.argv.slice(phaseIndex + 1)).then(
    () => {
      process.exitCode = 0;
    },
    (error: unknown) => {
      process.stderr.write(
        `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      process.exitCode = 1;
    },
  );
} else {
  // Bounded: a hard stop well past the slowest expected run, so the bench always ends.
  const limitMs = 60 * 60 * 1000;
  setTimeout(() => {
    process.stderr.write(`bench:backup did not finish within ${limitMs / 1000} s; stopping\n`);
    process.exit(2);
  }, limitMs).unref();
  await main().then(
    (met) => {
      // MISS is a finding to report, not a broken run; only errors fail the command.
      process.exitCode = 0;
      print(met ? 'all goals met' : 'some goals missed (see above)');
      setTimeout(() => process.exit(), 5000).unref();
    },
    (error: unknown) => {
      process.stderr.write(
        `bench:backup failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      process.exitCode = 1;
      setTimeout(() => process.exit(), 5000).unref();
    },
  );
}
