// Starts the databases a development machine or a test run needs when none is given:
// a MongoDB-wire server (mongod when on PATH, else the embedded FerretDB tool built
// from tools/ferretdb with Go) and Redis (redis-server when on PATH).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, readdirSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { homedir } from 'node:os';
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

function newestSourceTime() {
  return Math.max(
    ...readdirSync(toolSource).map((name) => statSync(join(toolSource, name)).mtimeMs),
  );
}

/** Builds the FerretDB tool once into .cache/ and reuses it while its sources are unchanged. */
export function ensureFerretdbBinary({ log = console.error } = {}) {
  if (existsSync(ferretdbBinary) && statSync(ferretdbBinary).mtimeMs >= newestSourceTime()) {
    return ferretdbBinary;
  }
  const go = findGo();
  if (!go) {
    throw new Error(
      'No MongoDB server was given (MONGODB_URI) and Go was not found to build the embedded ' +
        'one: install Go (https://go.dev/dl) or set MONGODB_URI.',
    );
  }
  mkdirSync(dirname(ferretdbBinary), { recursive: true });
  log(`building the embedded MongoDB-wire server with ${go} (once; cached in .cache/) ...`);
  const result = spawnSync(go, ['build', '-trimpath', '-o', ferretdbBinary, '.'], {
    cwd: toolSource,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, CGO_ENABLED: '0' },
  });
  if (result.status !== 0) {
    throw new Error(`go build of tools/ferretdb failed (exit ${result.status})`);
  }
  return ferretdbBinary;
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

/**
 * Starts a MongoDB-wire server on 127.0.0.1:port with its data in dataDir.
 * Returns { kind, child, stop() }.
 */
export async function startMongoServer({ port, dataDir, log = console.error, stdio = 'ignore' }) {
  mkdirSync(dataDir, { recursive: true });
  const mongod = onPath('mongod');
  let kind;
  let child;
  if (mongod) {
    kind = 'mongod';
    child = spawn(
      mongod,
      ['--bind_ip', '127.0.0.1', '--port', String(port), '--dbpath', dataDir, '--quiet'],
      {
        stdio,
      },
    );
  } else {
    kind = 'ferretdb';
    const binary = ensureFerretdbBinary({ log });
    child = spawn(
      binary,
      ['-listen', `127.0.0.1:${port}`, '-data', dataDir, '-log-level', 'error'],
      {
        stdio,
      },
    );
  }
  await waitForPort('127.0.0.1', port, 30_000, child);
  return {
    kind,
    child,
    stop: () =>
      new Promise((resolveStop) => {
        if (child.exitCode !== null) {
          resolveStop();
          return;
        }
        child.once('exit', () => resolveStop());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      }),
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
