import { cpus } from 'node:os';

/**
 * What several benches share: a JSON call to the app's API as a customer or Exotel makes it,
 * the whole machine's busy CPU (to tell the app's load from everything else's), percentiles.
 */

export async function http(
  baseUrl: string,
  method: string,
  path: string,
  options: { body?: unknown; token?: string; query?: Record<string, string> } = {},
): Promise<Record<string, any>> {
  const url = new URL(`${baseUrl}/api/v1${path}`);
  for (const [name, value] of Object.entries(options.query ?? {})) {
    url.searchParams.set(name, value);
  }
  const response = await fetch(url, {
    method,
    headers: {
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await response.text();
  if (!response.ok) {
    throw new Error(`${method} ${url.pathname} answered ${response.status}: ${text}`);
  }
  return JSON.parse(text) as Record<string, any>;
}

export interface MachineCpu {
  busy: number;
  total: number;
}

/** Busy and total CPU time of the whole machine so far (ms, all cores). */
export function machineCpu(): MachineCpu {
  let busy = 0;
  let total = 0;
  for (const core of cpus()) {
    const { user, nice, sys, irq, idle } = core.times;
    busy += user + nice + sys + irq;
    total += user + nice + sys + irq + idle;
  }
  return { busy, total };
}

/** Cores the machine kept busy between `before` and now. */
export function busyCoresSince(before: MachineCpu): number {
  const after = machineCpu();
  const total = after.total - before.total;
  return total <= 0 ? Number.NaN : ((after.busy - before.busy) / total) * cpus().length;
}

export function percentile(values: number[], share: number): number {
  if (values.length === 0) {
    return Number.NaN;
  }
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(share * sorted.length) - 1)] ?? Number.NaN;
}
