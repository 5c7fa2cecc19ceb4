import { availableParallelism, cpus, totalmem } from 'node:os';
import type { LoadOptions, LoadResult } from './load.js';

export interface Goal {
  /** The minimum ratio of the target's req/s to the baseline's. */
  minRatio: number;
}

export interface Verdict {
  result: LoadResult;
  ratio: number;
  goal?: Goal;
  met?: boolean;
}

export function judge(
  results: LoadResult[],
  baseline: LoadResult,
  goals: Record<string, Goal>,
): Verdict[] {
  return results.map((result) => {
    const ratio = result.requestsPerSecond / baseline.requestsPerSecond;
    const goal = goals[result.name];
    const clean = result.errors === 0 && result.non2xx === 0;
    return { result, ratio, goal, met: goal ? clean && ratio >= goal.minRatio : undefined };
  });
}

export function machineNotes(options: LoadOptions): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return [
    `node ${process.version} on ${process.platform}/${process.arch}`,
    `${availableParallelism()} cores (${cpu}), ${Math.round(totalmem() / 2 ** 30)} GiB`,
    `load: autocannon, ${options.connections} connections, ${options.warmupSeconds} s warm-up + ${options.durationSeconds} s per target, load generator on a worker thread; latencies in whole ms`,
  ].join('\n');
}

function cell(text: string, width: number, alignRight: boolean): string {
  return alignRight ? text.padStart(width) : text.padEnd(width);
}

/** A plain-text table: req/s, p50, p99, ratio to baseline, goal, PASS/MISS, failures. */
export function formatTable(verdicts: Verdict[]): string {
  const header = [
    'target',
    'req/s',
    'p50 ms',
    'p99 ms',
    'ratio',
    'goal',
    'result',
    'errors/non-2xx',
  ];
  const rows = verdicts.map(({ result, ratio, goal, met }) => [
    result.name,
    result.requestsPerSecond.toFixed(0),
    String(result.p50),
    String(result.p99),
    ratio.toFixed(2),
    goal ? `>= ${goal.minRatio.toFixed(2)}` : '-',
    met === undefined ? '-' : met ? 'PASS' : 'MISS',
    `${result.errors}/${result.non2xx}`,
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: string[]): string =>
    cells.map((text, column) => cell(text, widths[column] ?? 0, column > 0)).join('  ');
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join(
    '\n',
  );
}

function perRequest(count: number, requests: number): string {
  return requests === 0 ? '-' : (count / requests).toFixed(2);
}

function breakdown(counts: Record<string, number>, requests: number): string {
  const entries = Object.entries(counts).sort(([, a], [, b]) => b - a);
  return entries.length === 0
    ? 'none'
    : entries.map(([name, count]) => `${name} ${perRequest(count, requests)}`).join(', ');
}

/**
 * MongoDB and Redis commands per measured request, by command name (the counter also sees
 * what the app does in the background meanwhile, which a per-request figure spreads thin).
 */
export function formatCommandCounts(results: LoadResult[]): string {
  return results
    .filter((result) => result.commands !== undefined)
    .map((result) => {
      const commands = result.commands as NonNullable<LoadResult['commands']>;
      return (
        `  ${result.name}: MongoDB ${perRequest(commands.mongoTotal, result.requests)}/request ` +
        `(${breakdown(commands.mongo, result.requests)}); ` +
        `Redis ${perRequest(commands.redisTotal, result.requests)}/request ` +
        `(${breakdown(commands.redis, result.requests)})`
      );
    })
    .join('\n');
}

/** A plain text table: the first column left-aligned, the others right-aligned. */
export function textTable(header: string[], rows: string[][], indent = ''): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: string[]): string =>
    cells
      .map((text, column) =>
        column === 0 ? text.padEnd(widths[column] ?? 0) : text.padStart(widths[column] ?? 0),
      )
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)]
    .map((text) => `${indent}${text}`)
    .join('\n');
}
