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
import { readBenchEnvironment } from './support/bench-environment.js';
import { startBenchDatabases } from './support/databases.js';

/**
 * Backup and restore of N call logs (default 50,000 and 200,000; BENCH_SIZES=a,b,...):
 * documents per second and peak RSS of each phase. Each phase runs in a child process of its
 * own and reports the kernel's high-water mark of its resident memory (VmHWM), so the figure
 * is the phase's true peak, start-up included. Goal: under 250 MB, and flat across sizes.
 */
const RSS_GOAL_MB = 250;
/** Peak RSS may differ this much between the smallest and the largest size and still be flat. */
const FLAT_TOLERANCE_MB = 32;
const INSERT_BATCH = 1000;
const PHASE_TIMEOUT_MS = 15 * 60 * 1000;
const RESULT_MARKER = 'BENCH_PHASE_RESULT ';

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

async function runPhase(args: string[]): Promise<void> {
  const [phase, uri, path] = args;
  if ((phase !== 'backup' && phase !== 'restore') || uri === undefined || path === undefined) {
    throw new Error(`usage: --phase backup|restore <mongodb uri> <folder>`);
  }
  Logger.overrideLogger(['error']);
  let sampledPeak = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    sampledPeak = Math.max(sampledPeak, process.memoryUsage().rss);
  }, 50);
  const { config } = loadConfig({ NODE_ENV: 'test', MONGODB_URI: uri, BACKUP_DIR: path });
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
    } else {
      const summary = await new MongoRestoreService(client.db()).restore(path, { drop: true });
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

function phase(args: string[]): Promise<PhaseResult> {
  return new Promise((resolvePhase, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--phase', ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
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
  phase: 'backup' | 'restore';
  result: PhaseResult;
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
    `RSS < ${RSS_GOAL_MB} MB`,
  ];
  const lines = rows.map(({ size, phase: name, result }) => [
    size.toLocaleString('en-US'),
    name,
    (result.durationMs / 1000).toFixed(1),
    Math.round(result.documents / (result.durationMs / 1000)).toLocaleString('en-US'),
    result.peakRssMb.toFixed(1),
    result.sampledPeakRssMb.toFixed(1),
    name === 'backup' ? (result.bytes / 1024 / 1024).toFixed(1) : '-',
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
    for (const size of sizes) {
      const id = `bench_backup_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
      const source = client.db(`${id}_source`);
      const target = client.db(`${id}_target`);
      const root = await mkdtemp(join(tmpdir(), 'bench-backup-'));
      cleanups.unshift(
        () => source.dropDatabase(),
        () => target.dropDatabase(),
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
      rows.push({ size, phase: 'backup', result: backup });
      print(`  backup: ${JSON.stringify(backup)}`);
      if (backup.folder === undefined) {
        throw new Error('the backup phase did not report its folder');
      }
      const restore = await phase([
        'restore',
        `${databases.mongoServerUri}${target.databaseName}`,
        backup.folder,
      ]);
      rows.push({ size, phase: 'restore', result: restore });
      print(`  restore: ${JSON.stringify(restore)}`);
      const restored = await target.collection('calllogs').countDocuments();
      if (restored !== size || restore.documents !== size) {
        throw new Error(`restored ${restored} call logs, expected ${size}`);
      }
      await source.dropDatabase();
      await target.dropDatabase();
      await rm(root, { recursive: true, force: true });
    }
    print('');
    print(formatTable(rows));
    print('');
    const verdicts = (['backup', 'restore'] as const).map((name) => {
      const peaks = rows.filter((row) => row.phase === name).map((row) => row.result.peakRssMb);
      const spread = Math.max(...peaks) - Math.min(...peaks);
      const under = peaks.every((peak) => peak < RSS_GOAL_MB);
      const flat = spread <= FLAT_TOLERANCE_MB;
      print(
        `${name}: peak RSS ${peaks.map((peak) => peak.toFixed(0)).join(' / ')} MB across ` +
          `${sizes.map((size) => size.toLocaleString('en-US')).join(' / ')} call logs; ` +
          `goal < ${RSS_GOAL_MB} MB: ${under ? 'PASS' : 'MISS'}; flat (spread ${spread.toFixed(1)} MB <= ${FLAT_TOLERANCE_MB}): ${flat ? 'PASS' : 'MISS'}`,
      );
      return under && flat;
    });
    print(
      'peak RSS = VmHWM of a child process running only that phase (start-up included); ' +
        'sampled = max of process.memoryUsage().rss every 50 ms in the same process.',
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
