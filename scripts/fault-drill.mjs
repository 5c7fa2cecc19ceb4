#!/usr/bin/env node
// Fault drill: probes a running instance every 500 ms so an operator can stop and start Redis
// or MongoDB and watch what clients see (README, "Operations: faults"). Talks only to the URL
// given, stops by itself after --seconds, and never retries anything but its own sign-in.
//
//   node scripts/fault-drill.mjs --email ops@example.com --password '...' [--seconds 60]
//   node scripts/fault-drill.mjs --token <access token> --url http://127.0.0.1:3000
import { parseArgs } from 'node:util';

const PROBE_INTERVAL_MS = 500;
const REQUEST_TIMEOUT_MS = 5000;
const MAX_SECONDS = 600;

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:3000' },
    seconds: { type: 'string', default: '60' },
    token: { type: 'string' },
    email: { type: 'string' },
    password: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

const usage =
  'usage: node scripts/fault-drill.mjs [--url http://127.0.0.1:3000] [--seconds 60]\n' +
  '         (--token <access token> | --email <email> --password <password>)\n' +
  'Probes GET /api/v1/health/ready and GET /api/v1/auth/me every 500 ms and prints one line each.\n' +
  'With --email/--password it signs in again when the token stops being accepted (a Redis that\n' +
  'restarted empty has forgotten it).';

if (values.help) {
  console.log(usage);
  process.exit(0);
}
const seconds = Number(values.seconds);
if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_SECONDS) {
  console.error(`--seconds must be a whole number from 1 to ${MAX_SECONDS}\n${usage}`);
  process.exit(2);
}
if (!values.token && !(values.email && values.password)) {
  console.error(`give --token, or --email and --password\n${usage}`);
  process.exit(2);
}
const base = new URL('/api/v1/', values.url);

async function request(path, init = {}) {
  const started = performance.now();
  try {
    const response = await fetch(new URL(path, base), {
      ...init,
      redirect: 'manual',
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await response.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: response.status, body, ms: performance.now() - started };
  } catch (error) {
    const reason = error?.name === 'TimeoutError' ? 'timeout' : (error?.cause?.code ?? 'error');
    return { status: reason, body: undefined, ms: performance.now() - started };
  }
}

async function signIn() {
  const answer = await request('auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: values.email, password: values.password }),
  });
  return answer.status === 200 ? answer.body?.accessToken : undefined;
}

const describe = (answer) => {
  const detail = answer.body?.down?.length
    ? ` down=${answer.body.down.join(',')}`
    : typeof answer.status === 'number' && answer.status >= 500 && answer.body?.message
      ? ` "${answer.body.message}"`
      : '';
  return `${String(answer.status).padEnd(3)} ${answer.ms.toFixed(0).padStart(5)} ms${detail}`;
};

let token = values.token ?? (await signIn());
const probes = seconds * (1000 / PROBE_INTERVAL_MS);
const counts = {};
// Each request is cut at 5 s, and the drill also ends at its deadline, however slow the answers.
const deadline = performance.now() + seconds * 1000 + REQUEST_TIMEOUT_MS;
console.log(`fault drill against ${base.href}: ${probes} probes over ${seconds} s`);
for (let probe = 1; probe <= probes && performance.now() < deadline; probe += 1) {
  const due = performance.now() + PROBE_INTERVAL_MS;
  const [ready, me] = await Promise.all([
    request('health/ready'),
    token
      ? request('auth/me', { headers: { authorization: `Bearer ${token}` } })
      : Promise.resolve({ status: 'no-token', body: undefined, ms: 0 }),
  ]);
  let note = '';
  if ((me.status === 401 || me.status === 'no-token') && values.email && values.password) {
    token = await signIn();
    note = token ? '  (signed in again)' : '  (sign-in failed)';
  }
  const key = `ready ${ready.status} / me ${me.status}`;
  counts[key] = (counts[key] ?? 0) + 1;
  console.log(
    `${new Date().toISOString()}  ready ${describe(ready)}  |  auth/me ${describe(me)}${note}`,
  );
  const wait = due - performance.now();
  if (wait > 0 && probe < probes) {
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}
console.log('summary:');
for (const [key, count] of Object.entries(counts)) {
  console.log(`  ${String(count).padStart(4)} x ${key}`);
}
