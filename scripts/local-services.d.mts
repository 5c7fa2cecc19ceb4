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
export function startMongoServer(options: {
  port: number;
  dataDir: string;
  log?: (line: string) => void;
  stdio?: StdioOptions;
}): Promise<{ kind: 'mongod' | 'ferretdb'; child: ChildProcess; stop: () => Promise<void> }>;
export function ensureRedis(options?: {
  log?: (line: string) => void;
}): Promise<{ url: string; stop: () => Promise<void> }>;
