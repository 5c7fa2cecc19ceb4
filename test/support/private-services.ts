import { type ChildProcess, spawn } from 'node:child_process';
import {
  ephemeralMongoServer,
  freePort,
  TEST_DATABASE_PREFIX,
  waitForPort,
} from '../../scripts/local-services.mjs';

/** A server a test may stop and start again on the same port (and, for MongoDB, the same data). */
export interface RestartableServer {
  url: string;
  port: number;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Stops the server for good and removes its data; safe to call whatever state it is in. */
  dispose(): Promise<void>;
}

function stopChild(child: ChildProcess | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      resolve();
      return;
    }
    const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(killer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * A redis-server of the test's own (no persistence, so a restart comes back empty, as after a
 * failover to a fresh instance). Never the shared Redis: other test files use it meanwhile.
 */
export async function startPrivateRedis(): Promise<RestartableServer> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    child = spawn(
      'redis-server',
      ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    await waitForPort('127.0.0.1', port, 10_000, child);
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    start,
    stop: () => stopChild(child),
    dispose: () => stopChild(child),
  };
}

/**
 * A MongoDB-wire server of the test's own; a restart keeps its data and port. `stop` kills it
 * (SIGKILL): FerretDB, shut down cleanly, answers the requests in flight with a generic
 * InternalError that cannot be told from a bug (mongod answers InterruptedAtShutdown, which
 * the app maps to 503); killed, it drops their connections, as a crashed or unreachable
 * server does.
 */
export async function startPrivateMongo(): Promise<RestartableServer> {
  const server = await ephemeralMongoServer({
    databasePrefix: TEST_DATABASE_PREFIX,
    relaxedCommits: true,
    log: () => undefined,
  });
  return {
    url: server.uri,
    port: server.port,
    start: server.start,
    stop: () => server.stop({ kill: true }),
    dispose: server.dispose,
  };
}
