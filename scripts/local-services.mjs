// Starts the databases a development machine or a test run needs when none is given:
// a MongoDB-wire server (mongod when on PATH, else the embedded FerretDB tool built
// from tools/ferretdb with Go, on PostgreSQL when one is reachable, else on SQLite) and
// Redis (redis-server when on PATH).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, readdirSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const toolSource = join(projectRoot, 'tools', 'ferretdb');
export const ferretdbBinary = join(projectRoot, '.cache', 'ferretdb-embedded');

function onPath(command) {
  for (const folder of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(folder, command);
    if (folder && existsSync(candidate)) {
      return candidate;
    }
  }
  return undefined;
}

/** Go is often installed outside the PATH of a non-interactive shell (CI): look where it lives. */
export function findGo() {
  const candidates = [
    process.env.GO_BINARY,
    onPath('go'),
    '/usr/local/go/bin/go',
    '/usr/lib/go/bin/go',
    join(homedir(), 'go', 'bin', 'go'),
    join(homedir(), 'sdk', 'go', 'bin', 'go'),
  ];
  return candidates.find((candidate) => candidate && existsSync(candidate));
}

function newestSourceTime(folder) {
  return Math.max(...readdirSync(folder).map((name) => statSync(join(folder, name)).mtimeMs));
}

/**
 * Builds a Go program once into .cache/ and reuses it while the sources of its folder under
 * tools/ are unchanged. `target` is the package to build (default: the folder's own).
 */
function ensureGoBinary({ name, source, binary, target = '.', log }) {
  if (existsSync(binary) && statSync(binary).mtimeMs >= newestSourceTime(source)) {
    return binary;
  }
  const go = findGo();
  if (!go) {
    throw new Error(
      `Go was not found to build ${name}: install Go (https://go.dev/dl) or put it on PATH.`,
    );
  }
  mkdirSync(dirname(binary), { recursive: true });
  log(`building ${name} with ${go} (once; cached in .cache/) ...`);
  const result = spawnSync(go, ['build', '-trimpath', '-o', binary, target], {
    cwd: source,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, CGO_ENABLED: '0' },
  });
  if (result.status !== 0) {
    throw new Error(`go build of ${name} failed (exit ${result.status})`);
  }
  return binary;
}

/** Builds the FerretDB tool once into .cache/ and reuses it while its sources are unchanged. */
export function ensureFerretdbBinary({ log = console.error } = {}) {
  if (!existsSync(ferretdbBinary) && !findGo()) {
    throw new Error(
      'No MongoDB server was given (MONGODB_URI) and Go was not found to build the embedded ' +
        'one: install Go (https://go.dev/dl) or set MONGODB_URI.',
    );
  }
  return ensureGoBinary({
    name: 'the embedded MongoDB-wire server',
    source: toolSource,
    binary: ferretdbBinary,
    log,
  });
}

const s3ServerSource = join(projectRoot, 'tools', 's3server');
export const s3ServerBinary = join(projectRoot, '.cache', 's3-server');

/**
 * Builds the S3-protocol test server (VersityGW, an S3 gateway over a folder, pinned in
 * tools/s3server/go.mod) once into .cache/.
 */
export function ensureS3ServerBinary({ log = console.error } = {}) {
  return ensureGoBinary({
    name: 'the S3 test server (versitygw)',
    source: s3ServerSource,
    binary: s3ServerBinary,
    target: 'github.com/versity/versitygw/cmd/versitygw',
    log,
  });
}

/**
 * Starts an S3-protocol server on 127.0.0.1 over a temporary folder, with credentials of its
 * own (it checks every request's signature, presigned URLs included). Each top folder is a
 * bucket; `buckets` are created up front. Returns { endpoint, region, accessKeyId,
 * secretAccessKey, root, stop }.
 */
export async function startS3Server({ buckets = [], log = console.error, port } = {}) {
  const binary = ensureS3ServerBinary({ log });
  const listenPort = port ?? (await freePort());
  const root = mkdtempSync(join(tmpdir(), 'ai_calling_s3_'));
  const data = join(root, 'data');
  const sidecar = join(root, 'meta');
  mkdirSync(data, { recursive: true });
  mkdirSync(sidecar, { recursive: true });
  for (const bucket of buckets) {
    mkdirSync(join(data, bucket), { recursive: true });
  }
  const accessKeyId = `test${randomBytes(6).toString('hex')}`;
  const secretAccessKey = randomBytes(24).toString('hex');
  const child = spawn(
    binary,
    [
      '--port',
      `127.0.0.1:${listenPort}`,
      '--access',
      accessKeyId,
      '--secret',
      secretAccessKey,
      '--region',
      'us-east-1',
      '--quiet',
      'posix',
      '--sidecar',
      sidecar,
      data,
    ],
    { stdio: 'ignore' },
  );
  try {
    await waitForPort('127.0.0.1', listenPort, 30_000, child);
  } catch (error) {
    child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
  return {
    endpoint: `http://127.0.0.1:${listenPort}`,
    region: 'us-east-1',
    accessKeyId,
    secretAccessKey,
    root: data,
    child,
    stop: () =>
      new Promise((resolveStop) => {
        const finish = () => {
          rmSync(root, { recursive: true, force: true });
          resolveStop();
        };
        if (child.exitCode !== null || child.signalCode !== null) {
          finish();
          return;
        }
        child.once('exit', finish);
        child.kill('SIGTERM');
      }),
  };
}

export function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

export function portAnswers(host, port, timeoutMs = 500) {
  return new Promise((resolveAnswer) => {
    const socket = connect({ host, port });
    const done = (answer) => {
      socket.destroy();
      resolveAnswer(answer);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export async function waitForPort(host, port, timeoutMs, child) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) {
      throw new Error(`server exited with code ${child.exitCode} before listening on ${port}`);
    }
    if (await portAnswers(host, port)) {
      return;
    }
    await new Promise((wait) => setTimeout(wait, 100));
  }
  throw new Error(`nothing answered on ${host}:${port} within ${timeoutMs} ms`);
}

const DEFAULT_POSTGRESQL_SERVER = 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * Where the embedded server keeps its data. PostgreSQL (an index per MongoDB index, so a
 * filtered find is not a scan) when FERRETDB_POSTGRESQL_URL names a server or one answers on
 * 127.0.0.1:5432; SQLite files otherwise, so a machine with nothing installed still runs.
 * FERRETDB_BACKEND=sqlite|postgresql forces the choice.
 * Returns { backend: 'postgresql', serverUrl } or { backend: 'sqlite' }.
 */
export async function chooseFerretdbBackend() {
  const forced = (process.env.FERRETDB_BACKEND ?? '').toLowerCase();
  if (forced && forced !== 'sqlite' && forced !== 'postgresql') {
    throw new Error(`FERRETDB_BACKEND must be sqlite or postgresql, not "${forced}"`);
  }
  if (forced === 'sqlite') {
    return { backend: 'sqlite' };
  }
  const configured = process.env.FERRETDB_POSTGRESQL_URL;
  if (configured) {
    return { backend: 'postgresql', serverUrl: configured };
  }
  if (await portAnswers('127.0.0.1', 5432)) {
    return { backend: 'postgresql', serverUrl: DEFAULT_POSTGRESQL_SERVER };
  }
  if (forced === 'postgresql') {
    throw new Error(
      'FERRETDB_BACKEND=postgresql but nothing answers on 127.0.0.1:5432 and FERRETDB_POSTGRESQL_URL is unset',
    );
  }
  return { backend: 'sqlite' };
}

/** The server URL with its database replaced by `database`. */
export function postgresqlDatabaseUrl(serverUrl, database) {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/** A database name for one run: `<prefix><unix seconds>_<random>`, so stale ones can be found by age. */
export function runDatabaseName(prefix) {
  const seconds = Math.floor(Date.now() / 1000);
  return `${prefix}${seconds}_${randomBytes(4).toString('hex')}`;
}

/** Prefix of the databases test runs create (and drop); leftovers of killed runs are dropped after six hours. */
export const TEST_DATABASE_PREFIX = 'ai_calling_test_';

function describeBackend(backend, postgresqlUrl, dataDir) {
  if (backend === 'postgresql') {
    const url = new URL(postgresqlUrl);
    url.password = url.password ? '***' : '';
    return `FerretDB on PostgreSQL (${url.host}${url.pathname})`;
  }
  return `FerretDB on SQLite (${dataDir})`;
}

/**
 * Starts a MongoDB-wire server on 127.0.0.1:port. mongod when on PATH (data in dataDir); else
 * the embedded FerretDB tool, on PostgreSQL when `postgresqlUrl` is given (the database is
 * created when missing and kept unless `stop({ dropDatabase: true })`), else on SQLite in
 * dataDir. Returns { kind, description, child, stop({ dropDatabase }) }.
 */
export async function startMongoServer({
  port,
  dataDir,
  postgresqlUrl,
  dropStaleWithPrefix,
  relaxedCommits = false,
  log = console.error,
  stdio = 'ignore',
}) {
  const mongod = onPath('mongod');
  let kind;
  let description;
  let child;
  if (mongod) {
    mkdirSync(dataDir, { recursive: true });
    kind = 'mongod';
    description = `mongod (${dataDir})`;
    child = spawn(
      mongod,
      ['--bind_ip', '127.0.0.1', '--port', String(port), '--dbpath', dataDir, '--quiet'],
      { stdio },
    );
  } else {
    const binary = ensureFerretdbBinary({ log });
    const backendArgs = postgresqlUrl
      ? [
          '-postgresql-url',
          postgresqlUrl,
          '-create-database',
          ...(dropStaleWithPrefix ? ['-drop-stale-databases', dropStaleWithPrefix] : []),
          ...(relaxedCommits ? ['-relaxed-commits'] : []),
          '-serialize',
          'writes',
        ]
      : ['-data', dataDir, '-serialize', 'all'];
    if (!postgresqlUrl) {
      mkdirSync(dataDir, { recursive: true });
    }
    kind = postgresqlUrl ? 'ferretdb-postgresql' : 'ferretdb-sqlite';
    description = describeBackend(postgresqlUrl ? 'postgresql' : 'sqlite', postgresqlUrl, dataDir);
    child = spawn(binary, ['-listen', `127.0.0.1:${port}`, ...backendArgs, '-log-level', 'error'], {
      stdio,
    });
  }
  await waitForPort('127.0.0.1', port, 30_000, child);
  const stopChild = (signal) =>
    new Promise((resolveStop) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        resolveStop();
        return;
      }
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(killer);
        resolveStop();
      });
      child.kill(signal);
    });
  return {
    kind,
    description,
    child,
    stop: async ({ dropDatabase = false, kill = false } = {}) => {
      await stopChild(kill ? 'SIGKILL' : 'SIGTERM');
      if (dropDatabase && postgresqlUrl && kind !== 'mongod') {
        dropPostgresqlDatabase(postgresqlUrl, log);
      }
    },
  };
}

/** Drops a database the embedded tool created (ending its sessions); failures are reported, not thrown. */
export function dropPostgresqlDatabase(postgresqlUrl, log = console.error) {
  const result = spawnSync(
    ferretdbBinary,
    ['-drop-database', '-postgresql-url', postgresqlUrl, '-log-level', 'error'],
    { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 },
  );
  if (result.status !== 0) {
    log(`could not drop ${new URL(postgresqlUrl).pathname}: ${String(result.stderr).trim()}`);
  }
}

/**
 * A MongoDB-wire server for one test run, bench or test file, on a free port: its data in a
 * PostgreSQL database of its own (`<databasePrefix><unix seconds>_<random>`) or in a temporary
 * folder. `stop()` and `start()` keep port and data (a restart; `stop({ kill: true })` ends the
 * process with SIGKILL, as a crash would); `dispose()` removes the data.
 * With `dropStale`, idle databases of the same prefix older than six hours (left by killed
 * runs) are dropped first. With `relaxedCommits` (test data), PostgreSQL commits do not wait
 * for the disk.
 */
export async function ephemeralMongoServer({
  databasePrefix,
  dropStale = false,
  relaxedCommits = false,
  log = console.error,
}) {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), `${databasePrefix}mongo-`));
  const choice = await chooseFerretdbBackend();
  const postgresqlUrl =
    choice.backend === 'postgresql'
      ? postgresqlDatabaseUrl(choice.serverUrl, runDatabaseName(databasePrefix))
      : undefined;
  let server;
  const start = async () => {
    server = await startMongoServer({
      port,
      dataDir,
      postgresqlUrl,
      dropStaleWithPrefix: dropStale ? databasePrefix : undefined,
      relaxedCommits,
      log,
    });
  };
  try {
    await start();
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
  return {
    uri: `mongodb://127.0.0.1:${port}/`,
    port,
    description: server.description,
    kind: server.kind,
    start,
    stop: (options) => server.stop(options),
    dispose: async () => {
      await server.stop({ dropDatabase: true });
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Uses Redis on 127.0.0.1:6379 when it answers; else starts redis-server (no persistence) when on PATH. */
export async function ensureRedis({ log = console.error } = {}) {
  if (await portAnswers('127.0.0.1', 6379)) {
    return { url: 'redis://127.0.0.1:6379', stop: async () => {} };
  }
  const redisServer = onPath('redis-server');
  if (!redisServer) {
    throw new Error(
      'No Redis answers on 127.0.0.1:6379 and redis-server is not installed: set REDIS_URL',
    );
  }
  const port = await freePort();
  log(`starting redis-server on 127.0.0.1:${port}`);
  const child = spawn(
    redisServer,
    ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  await waitForPort('127.0.0.1', port, 10_000, child);
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: () =>
      new Promise((resolveStop) => {
        child.once('exit', () => resolveStop());
        child.kill('SIGTERM');
      }),
  };
}
