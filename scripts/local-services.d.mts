import type { ChildProcess, StdioOptions } from 'node:child_process';

export const projectRoot: string;
export const ferretdbBinary: string;
export function findGo(): string | undefined;
export function ensureFerretdbBinary(options?: { log?: (line: string) => void }): string;
export function freePort(): Promise<number>;
export function portAnswers(host: string, port: number, timeoutMs?: number): Promise<boolean>;
export function waitForPort(
  host: string,
  port: number,
  timeoutMs: number,
  child?: ChildProcess,
): Promise<void>;
export type FerretdbBackendChoice =
  { backend: 'postgresql'; serverUrl: string } | { backend: 'sqlite'; serverUrl?: undefined };
export function chooseFerretdbBackend(): Promise<FerretdbBackendChoice>;
export function postgresqlDatabaseUrl(serverUrl: string, database: string): string;
export function runDatabaseName(prefix: string): string;
export const TEST_DATABASE_PREFIX: string;
export function dropPostgresqlDatabase(postgresqlUrl: string, log?: (line: string) => void): void;
export interface MongoServerProcess {
  kind: 'mongod' | 'ferretdb-postgresql' | 'ferretdb-sqlite';
  /** What serves and where the data lives, for logs. */
  description: string;
  child: ChildProcess;
  stop: (options?: { dropDatabase?: boolean; kill?: boolean }) => Promise<void>;
}
export function startMongoServer(options: {
  port: number;
  dataDir: string;
  postgresqlUrl?: string;
  dropStaleWithPrefix?: string;
  relaxedCommits?: boolean;
  log?: (line: string) => void;
  stdio?: StdioOptions;
}): Promise<MongoServerProcess>;
export interface EphemeralMongoServer {
  /** Server URI ending in `/`; append a database name. */
  uri: string;
  port: number;
  description: string;
  kind: MongoServerProcess['kind'];
  start: () => Promise<void>;
  /** `kill`: SIGKILL, as a crash (default SIGTERM, a clean shutdown). */
  stop: (options?: { kill?: boolean }) => Promise<void>;
  dispose: () => Promise<void>;
}
export function ephemeralMongoServer(options: {
  databasePrefix: string;
  dropStale?: boolean;
  relaxedCommits?: boolean;
  log?: (line: string) => void;
}): Promise<EphemeralMongoServer>;
export function ensureRedis(options?: {
  log?: (line: string) => void;
}): Promise<{ url: string; stop: () => Promise<void> }>;
export const s3ServerBinary: string;
export function ensureS3ServerBinary(options?: { log?: (line: string) => void }): string;
export interface S3ServerProcess {
  /** `http://127.0.0.1:<port>`: give it as S3_ENDPOINT with path-style addressing. */
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The folder whose sub-folders are the buckets. */
  root: string;
  child: ChildProcess;
  stop: () => Promise<void>;
}
export function startS3Server(options?: {
  buckets?: string[];
  log?: (line: string) => void;
  port?: number;
}): Promise<S3ServerProcess>;
