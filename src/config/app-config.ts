import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { passwordProblem } from '../users/password-policy.js';

export type NodeEnvironment = 'development' | 'production' | 'test';

/** The parts a process runs (APP_ROLES), so API servers, workers and media servers scale apart. */
export const APP_ROLES = ['api', 'worker', 'scheduler', 'media'] as const;
export type AppRole = (typeof APP_ROLES)[number];

/** A vendor the voice runtime calls: its platform key (unset = not configured) and base URL. */
export interface VendorEndpoint {
  apiKey?: string;
  baseUrl: string;
}

export interface AppConfig {
  env: NodeEnvironment;
  /**
   * What this process registers: `api` the REST controllers (and Exotel's webhooks), `worker`
   * the queue workers, `scheduler` the crons, `media` the Exotel media-stream gateway and the
   * conversations it runs. Health and metrics are served by every process.
   */
  roles: Record<AppRole, boolean>;
  /** Running under CI (the CI variable set): long commands print plain progress lines. */
  ci: boolean;
  port: number;
  host: string;
  logLevel: string;
  corsOrigins: string[] | true;
  bodyLimitBytes: number;
  publicBaseUrl: string;
  mongo: {
    uri: string;
    maxPoolSize: number;
    minPoolSize: number;
    socketTimeoutMS: number;
    serverSelectionTimeoutMS: number;
  };
  /**
   * Counts MongoDB commands (driver command monitoring) and Redis commands per command name
   * (COUNT_DATABASE_COMMANDS): tests assert round-trip budgets with it, benches print it.
   */
  countDatabaseCommands: boolean;
  redis: {
    url: string;
    queueUrl: string;
    queuePrefix: string;
    /**
     * Longest wait for one command on the request-path clients (cache, tokens, rate limits)
     * before the request answers 503: a stopped Redis must not hold requests open.
     */
    commandTimeoutMs: number;
    /** Longest wait for a request handler to enqueue a job before it answers 503. */
    enqueueTimeoutMs: number;
  };
  jwt: { secret: string; expiresIn: string; expiresInSeconds: number };
  bcryptRounds: number;
  /**
   * Keys for secrets at rest by key id; new values use `currentKeyId`, older ids stay to
   * decrypt until `reencrypt-secrets` has moved everything to the current one.
   */
  encryption: { keys: Record<string, Buffer>; currentKeyId: string };
  /** HMAC key of signed URLs (status callbacks), independent of the encryption keys. */
  urlSigningKey: Buffer;
  throttle: {
    ttlSeconds: number;
    limit: number;
    /** Failed logins per window for one (email, IP) pair; register attempts per IP. */
    authLimit: number;
    /** Failed logins per window from one IP, whatever the email (spraying many accounts). */
    authIpLimit: number;
    authWindowSeconds: number;
  };
  /**
   * Fastify's trustProxy: which peers may set X-Forwarded-For (addresses/CIDRs of the load
   * balancer, or a hop count). `false` ignores the header, so clients cannot pick their IP.
   */
  trustProxy: false | number | string[];
  metrics: {
    /** Bearer token Prometheus sends; unset = GET /metrics answers 404 (disabled). */
    token?: string;
    /** How long the calls-by-status gauge reuses its last count (a scan of every call log). */
    callsByStatusRefreshSeconds: number;
  };
  /** Serve Swagger UI at /docs and the OpenAPI document at /docs-json. */
  apiDocsEnabled: boolean;
  calls: {
    outboundLimit: number;
    outboundWindowSeconds: number;
    maxConcurrent: number;
    /** Longest call Exotel lets run (TimeLimit, seconds). */
    timeLimitSeconds: number;
    record: boolean;
    /** Parallel lifecycle jobs per process. */
    eventConcurrency: number;
    placementConcurrency: number;
    /** First wait before a placement job runs again (doubles per attempt, 5 attempts). */
    placementRetryDelayMs: number;
    /** Inbound call webhooks accepted per minute for one webhook token. */
    inboundPerMinute: number;
  };
  rates: {
    telephonyPerMinute: number;
    sttPerMinute: number;
    llmPer1kTokens: number;
    ttsPer1kCharacters: number;
  };
  maintenance: {
    defaultSessionTimeoutSeconds: number;
    staleCallMinutes: number;
    endedSessionRetentionDays: number;
    schedulerEnabled: boolean;
    sessionTimeoutCron: string;
    reconcileCron: string;
    cleanupCron: string;
  };
  /** `requestWindowMs` is Exotel's (a minute); only tests shorten it. */
  exotel: { apiBaseUrl?: string; requestsPerMinute: number; requestWindowMs: number };
  admin: { email?: string; password?: string };
  backup: { dir: string; retentionDays: number; cron: string };
  /** Object storage for call recordings and (with `s3`) the off-machine copy of backups. */
  storage: {
    driver: StorageDriver;
    /** Root of the `local` driver's objects. */
    localDir: string;
    s3: S3StorageConfig;
    /** Bucket of the backup copies (default: the recordings' bucket). */
    backupBucket?: string;
    /** Key prefix of the backup copies, before `mongodb/YYYY-MM-DD/...` (empty or ending in `/`). */
    backupPrefix: string;
    /** Lifetime of a signed download URL (S3). */
    signedUrlTtlSeconds: number;
  };
  /** Campaigns: batch calling from contact lists. */
  campaigns: {
    /** How often the dispatcher looks for due contacts (0 = it never runs by itself). */
    dispatchIntervalMs: number;
    /** Campaign calls started per minute per Exotel account (a share of its request budget). */
    callsPerMinute: number;
    /** A claim older than this is taken over: its dispatcher is presumed dead. */
    claimTimeoutMs: number;
    /** Calls one dispatcher run starts at most. */
    maxStartsPerRun: number;
    /** Contacts one campaign may hold. */
    maxContacts: number;
    /** Largest CSV upload (contacts or do-not-call numbers). */
    csvMaxBytes: number;
  };
  /** Copies of the carrier's call recordings in our storage. */
  recordings: {
    /** A recording larger than this is not copied (the copy stops at this many bytes). */
    maxBytes: number;
    /** Default days a copy is kept; a user may set their own. */
    retentionDays: number;
    /** Bound of one download: connect, headers and the whole body. */
    fetchTimeoutMs: number;
    /** Attempts of one copy before it is recorded as failed. */
    maxAttempts: number;
    /** The wait after the first failed attempt; each next one doubles. */
    retryBaseMs: number;
    /** Copies at once, per worker process. */
    concurrency: number;
  };
  voice: {
    openai: VendorEndpoint;
    deepgram: VendorEndpoint;
    elevenlabs: VendorEndpoint;
    cartesia: VendorEndpoint;
    /** Lifetime of a signed media-stream URL (Exotel connects within seconds of getting it). */
    streamUrlTtlSeconds: number;
    /** Audio rate asked of Exotel in the stream URL (8000 is PSTN quality; 16000 and 24000 wideband). */
    sampleRate: 8000 | 16000 | 24000;
    /**
     * Longest wait for a vendor: to connect, for the first token or audio, and between two
     * pieces of a stream. Past it the vendor counts as down (one retry, then the fallback line).
     */
    vendorTimeoutMs: number;
    /** Silence (ms) after caller speech that ends the caller's turn (the recognizer's endpointing). */
    endpointingMs: number;
    /** Silence (ms) after the last word the recognizer reports as the end of an utterance. */
    utteranceEndMs: number;
  };
  /** Deliveries of events to the customers' own servers (signed, retried, logged). */
  webhooks: {
    /** Loopback, private and link-local targets allowed (development and tests only). */
    allowPrivateAddresses: boolean;
    /** Only https URLs (production). */
    requireHttps: boolean;
    maxEndpointsPerUser: number;
    maxUrlLength: number;
    /** One attempt's bound: connect, headers and the (capped) response. */
    timeoutMs: number;
    maxResponseBytes: number;
    /** Attempts per delivery before it is failed (the first included). */
    maxAttempts: number;
    /** The wait after the first failure; each next one is 4 times longer (with jitter), up to the cap. */
    retryBaseMs: number;
    retryMaxDelayMs: number;
    /** An endpoint failing without a success for this long is disabled. */
    disableAfterMs: number;
    /** Delivery log retention (the maintenance job purges older entries). */
    deliveryRetentionDays: number;
    /** A rotated-out secret still signs deliveries for this long. */
    previousSecretTtlMs: number;
    /** Parallel deliveries per worker process. */
    concurrency: number;
    /** Calls whose events are fanned out to deliveries at once, per worker process. */
    dispatchConcurrency: number;
    /** Post-call analyses at once, per worker process (each waits on the model). */
    analysisConcurrency: number;
    /** Events of one call kept for delivery; later transcript messages are not sent. */
    maxEventsPerCall: number;
  };
}

export type StorageDriver = 'local' | 's3';

export interface S3StorageConfig {
  bucket?: string;
  region: string;
  /** An S3-compatible server's URL; unset for AWS itself. */
  endpoint?: string;
  /** `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key` (most S3-compatible servers). */
  forcePathStyle: boolean;
  /**
   * Keys from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN) of the
   * configuration's environment; unset, the SDK's standard chain finds them (profile, SSO,
   * container or instance role).
   */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

/** Thrown when the environment cannot make a safe configuration; lists every problem. */
export class ConfigValidationError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigValidationError';
  }
}

type Environment = Record<string, string | undefined>;

const MIN_JWT_SECRET_LENGTH = 32;
const DEFAULT_MONGODB_URI = 'mongodb://localhost:27017/ai-calling-platform';
const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

class Reader {
  readonly problems: string[] = [];
  readonly warnings: string[] = [];

  constructor(private readonly environment: Environment) {}

  text(name: string, fallback: string): string {
    const value = this.environment[name]?.trim();
    return value === undefined || value === '' ? fallback : value;
  }

  optional(name: string): string | undefined {
    const value = this.environment[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  }

  decimal(name: string, fallback: number, min: number, max: number): number {
    const raw = this.optional(name);
    if (raw === undefined) {
      return fallback;
    }
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min || value > max) {
      this.problems.push(`${name} must be a number from ${min} to ${max} (got "${raw}")`);
      return fallback;
    }
    return value;
  }

  flag(name: string, fallback: boolean): boolean {
    const raw = this.optional(name)?.toLowerCase();
    if (raw === undefined) {
      return fallback;
    }
    if (raw === 'true' || raw === '1' || raw === 'false' || raw === '0') {
      return raw === 'true' || raw === '1';
    }
    this.problems.push(`${name} must be true or false (got "${raw}")`);
    return fallback;
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    const raw = this.optional(name);
    if (raw === undefined) {
      return fallback;
    }
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      this.problems.push(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
      return fallback;
    }
    return value;
  }

  url(name: string, fallback: string, protocols: string[]): string {
    const value = this.text(name, fallback);
    try {
      const parsed = new URL(value);
      if (!protocols.includes(parsed.protocol)) {
        this.problems.push(`${name} must use ${protocols.join(' or ')} (got "${parsed.protocol}")`);
      }
    } catch {
      this.problems.push(`${name} is not a valid URL`);
    }
    return value;
  }
}

export function durationToSeconds(duration: string): number | undefined {
  const match = /^(\d+)([smhd]?)$/.exec(duration);
  if (!match) {
    return undefined;
  }
  return Number(match[1]) * (DURATION_UNITS[match[2] || 's'] ?? 1);
}

function readEnvironmentName(reader: Reader): NodeEnvironment {
  const value = reader.text('NODE_ENV', 'development');
  if (value === 'development' || value === 'production' || value === 'test') {
    return value;
  }
  reader.problems.push(`NODE_ENV must be development, production or test (got "${value}")`);
  return 'development';
}

function readJwtSecret(reader: Reader, production: boolean): string {
  const secret = reader.optional('JWT_SECRET');
  if (secret !== undefined && secret.length >= MIN_JWT_SECRET_LENGTH) {
    return secret;
  }
  const reason =
    secret === undefined
      ? 'JWT_SECRET is missing'
      : `JWT_SECRET is too weak (${secret.length} characters, at least ${MIN_JWT_SECRET_LENGTH} required)`;
  if (production) {
    reader.problems.push(reason);
  } else {
    reader.warnings.push(`${reason}: using a throwaway secret, tokens die with the process`);
  }
  return randomBytes(48).toString('base64url');
}

/** The key id ENCRYPTION_KEY (the single-key setting) is known by in ciphertexts. */
export const DEFAULT_ENCRYPTION_KEY_ID = 'default';
const KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

function decodeKey(encoded: string): Buffer | undefined {
  const key = Buffer.from(encoded, 'base64');
  return key.length === 32 ? key : undefined;
}

/**
 * ENCRYPTION_KEY (one key, id `default`) and/or ENCRYPTION_KEYS (`id:base64key,...`), with
 * ENCRYPTION_KEY_ID naming the one new values use (needed when there is more than one).
 */
function readEncryptionKeys(reader: Reader, production: boolean): AppConfig['encryption'] {
  const keys: Record<string, Buffer> = {};
  const single = reader.optional('ENCRYPTION_KEY');
  const weak: string[] = [];
  if (single !== undefined) {
    const key = decodeKey(single);
    if (key) {
      keys[DEFAULT_ENCRYPTION_KEY_ID] = key;
    } else {
      weak.push('ENCRYPTION_KEY must be 32 bytes encoded in base64 (openssl rand -base64 32)');
    }
  }
  for (const entry of (reader.optional('ENCRYPTION_KEYS') ?? '').split(',')) {
    if (entry.trim() === '') {
      continue;
    }
    const separator = entry.indexOf(':');
    const id = entry.slice(0, Math.max(separator, 0)).trim();
    const key = decodeKey(entry.slice(separator + 1).trim());
    if (separator < 0 || !KEY_ID_PATTERN.test(id)) {
      reader.problems.push(
        'ENCRYPTION_KEYS must be a comma list of <id>:<base64 key>, ids of letters, digits, _ or - (up to 32)',
      );
    } else if (Object.hasOwn(keys, id)) {
      reader.problems.push(
        `ENCRYPTION_KEYS names key "${id}" twice (ENCRYPTION_KEY is key "${DEFAULT_ENCRYPTION_KEY_ID}")`,
      );
    } else if (!key) {
      weak.push(`ENCRYPTION_KEYS key "${id}" must be 32 bytes encoded in base64`);
    } else {
      keys[id] = key;
    }
  }
  const ids = Object.keys(keys);
  if (ids.length === 0 || weak.length > 0) {
    const reasons = weak.length > 0 ? weak : ['ENCRYPTION_KEY (or ENCRYPTION_KEYS) is missing'];
    if (production) {
      reader.problems.push(...reasons);
      return { keys, currentKeyId: DEFAULT_ENCRYPTION_KEY_ID };
    } else {
      reader.warnings.push(
        ...reasons.map(
          (reason) =>
            `${reason}: using a throwaway key, stored Exotel tokens cannot be read after a restart`,
        ),
      );
      return {
        keys: { [DEFAULT_ENCRYPTION_KEY_ID]: randomBytes(32) },
        currentKeyId: DEFAULT_ENCRYPTION_KEY_ID,
      };
    }
  }
  const named = reader.optional('ENCRYPTION_KEY_ID');
  const currentKeyId = named ?? (ids.length === 1 ? ids[0] : undefined);
  if (currentKeyId === undefined) {
    reader.problems.push(
      `ENCRYPTION_KEY_ID must name the key new values use (one of ${ids.join(', ')})`,
    );
  } else if (ids.length > 0 && !Object.hasOwn(keys, currentKeyId)) {
    reader.problems.push(
      `ENCRYPTION_KEY_ID "${currentKeyId}" is not a configured key (${ids.join(', ')})`,
    );
  }
  return { keys, currentKeyId: currentKeyId ?? DEFAULT_ENCRYPTION_KEY_ID };
}

function readUrlSigningKey(reader: Reader, production: boolean): Buffer {
  const secret = reader.optional('URL_SIGNING_KEY');
  if (secret !== undefined && secret.length >= MIN_JWT_SECRET_LENGTH) {
    return Buffer.from(secret, 'utf8');
  }
  const reason =
    secret === undefined
      ? 'URL_SIGNING_KEY is missing'
      : `URL_SIGNING_KEY is too weak (${secret.length} characters, at least ${MIN_JWT_SECRET_LENGTH} required)`;
  if (production) {
    reader.problems.push(reason);
  } else {
    reader.warnings.push(
      `${reason}: using a throwaway key, signed callback URLs stop working after a restart`,
    );
  }
  return randomBytes(48);
}

function readMetricsToken(reader: Reader, production: boolean): string | undefined {
  const token = reader.optional('METRICS_TOKEN');
  if (token === undefined || token.length >= MIN_JWT_SECRET_LENGTH) {
    return token;
  }
  const reason = `METRICS_TOKEN is too weak (${token.length} characters, at least ${MIN_JWT_SECRET_LENGTH} required)`;
  if (production) {
    reader.problems.push(reason);
  } else {
    reader.warnings.push(`${reason}: accepted outside production`);
  }
  return token;
}

function readTrustProxy(reader: Reader): false | number | string[] {
  const raw = reader.optional('TRUST_PROXY');
  if (raw === undefined || raw.toLowerCase() === 'false') {
    return false;
  }
  if (/^\d+$/.test(raw)) {
    const hops = Number(raw);
    if (hops >= 1 && hops <= 10) {
      return hops;
    }
  }
  const entries = raw
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  const invalid = entries.filter((entry) => !isAddressOrCidr(entry));
  if (invalid.length > 0 || entries.length === 0) {
    // `true` is refused on purpose: trusting every peer lets any client choose its own IP.
    reader.problems.push(
      'TRUST_PROXY must be false, a hop count from 1 to 10, or a comma list of the load ' +
        `balancer's addresses or CIDRs (got "${raw}")`,
    );
    return false;
  }
  return entries;
}

function isAddressOrCidr(entry: string): boolean {
  const [address = '', prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) {
    return false;
  }
  if (prefix === undefined) {
    return true;
  }
  const bits = Number(prefix);
  return /^\d+$/.test(prefix) && bits <= (family === 4 ? 32 : 128);
}

function readCorsOrigins(reader: Reader, production: boolean): string[] | true {
  const raw = reader.optional('CORS_ORIGINS');
  if (raw === undefined) {
    return production ? [] : true;
  }
  if (raw === '*') {
    return true;
  }
  return raw
    .split(',')
    .map((origin) => origin.trim())
    .filter((origin) => origin !== '');
}

function readRoles(reader: Reader): AppConfig['roles'] {
  const raw = reader.text('APP_ROLES', APP_ROLES.join(','));
  const named = raw
    .split(',')
    .map((role) => role.trim().toLowerCase())
    .filter((role) => role !== '');
  const unknown = named.filter((role) => !(APP_ROLES as readonly string[]).includes(role));
  if (unknown.length > 0 || named.length === 0) {
    reader.problems.push(
      `APP_ROLES must be a comma list of ${APP_ROLES.join(', ')} (got "${raw}")`,
    );
  }
  return {
    api: named.includes('api'),
    worker: named.includes('worker'),
    scheduler: named.includes('scheduler'),
    media: named.includes('media'),
  };
}

const S3_BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function readS3Credentials(reader: Reader): Pick<S3StorageConfig, 'credentials'> {
  const accessKeyId = reader.optional('AWS_ACCESS_KEY_ID');
  const secretAccessKey = reader.optional('AWS_SECRET_ACCESS_KEY');
  if (accessKeyId === undefined || secretAccessKey === undefined) {
    return {};
  }
  const sessionToken = reader.optional('AWS_SESSION_TOKEN');
  return {
    credentials: {
      accessKeyId,
      secretAccessKey,
      ...(sessionToken === undefined ? {} : { sessionToken }),
    },
  };
}

function readStorage(reader: Reader): AppConfig['storage'] {
  const driver = reader.text('STORAGE_DRIVER', 'local').toLowerCase();
  if (driver !== 'local' && driver !== 's3') {
    reader.problems.push(`STORAGE_DRIVER must be local or s3 (got "${driver}")`);
  }
  const bucket = reader.optional('S3_BUCKET');
  const backupBucket = reader.optional('BACKUP_S3_BUCKET') ?? bucket;
  for (const [name, value] of [
    ['S3_BUCKET', bucket],
    ['BACKUP_S3_BUCKET', backupBucket],
  ] as const) {
    if (value !== undefined && !S3_BUCKET_NAME.test(value)) {
      reader.problems.push(`${name} is not a valid bucket name ("${value}")`);
    }
  }
  if (driver === 's3' && bucket === undefined) {
    reader.problems.push('STORAGE_DRIVER=s3 needs S3_BUCKET');
  }
  const endpoint =
    reader.optional('S3_ENDPOINT') === undefined
      ? undefined
      : reader.url('S3_ENDPOINT', '', ['http:', 'https:']);
  let backupPrefix = reader.text('BACKUP_S3_PREFIX', '').replace(/^\/+/, '');
  if (backupPrefix !== '' && !backupPrefix.endsWith('/')) {
    backupPrefix = `${backupPrefix}/`;
  }
  if (backupPrefix.split('/').some((part) => part === '..' || part === '.')) {
    reader.problems.push(`BACKUP_S3_PREFIX must not hold . or .. segments ("${backupPrefix}")`);
  }
  return {
    driver: driver === 's3' ? 's3' : 'local',
    localDir: reader.text('STORAGE_LOCAL_DIR', './.data/storage'),
    s3: {
      bucket,
      region: reader.optional('S3_REGION') ?? reader.optional('AWS_REGION') ?? 'us-east-1',
      endpoint,
      forcePathStyle: reader.flag('S3_FORCE_PATH_STYLE', false),
      ...readS3Credentials(reader),
    },
    backupBucket,
    backupPrefix,
    signedUrlTtlSeconds: reader.integer('STORAGE_SIGNED_URL_TTL_SECONDS', 300, 10, 7 * 86_400),
  };
}

function readSampleRate(reader: Reader): AppConfig['voice']['sampleRate'] {
  const rate = reader.integer('VOICE_SAMPLE_RATE', 8000, 8000, 24000);
  if (rate === 8000 || rate === 16000 || rate === 24000) {
    return rate;
  }
  reader.problems.push(`VOICE_SAMPLE_RATE must be 8000, 16000 or 24000 (got "${rate}")`);
  return 8000;
}

function readVendor(
  reader: Reader,
  prefix: string,
  baseUrl: string,
  protocols: string[],
): VendorEndpoint {
  return {
    apiKey: reader.optional(`${prefix}_API_KEY`),
    baseUrl: reader.url(`${prefix}_BASE_URL`, baseUrl, protocols).replace(/\/+$/, ''),
  };
}

export interface LoadedConfig {
  config: AppConfig;
  warnings: string[];
}

/** Reads and validates the whole configuration; the only place that reads the environment. */
export function loadConfig(environment: Environment = process.env): LoadedConfig {
  const reader = new Reader(environment);
  const env = readEnvironmentName(reader);
  const production = env === 'production';
  const port = reader.integer('PORT', 3000, 0, 65535);
  const exotelRequestsPerMinute = reader.integer('EXOTEL_REQUESTS_PER_MINUTE', 200, 1, 100_000);
  const redisUrl = reader.url('REDIS_URL', DEFAULT_REDIS_URL, ['redis:', 'rediss:']);
  const jwtExpiresIn = reader.text('JWT_EXPIRES_IN', '7d');
  const jwtExpiresInSeconds = durationToSeconds(jwtExpiresIn);
  if (jwtExpiresInSeconds === undefined || jwtExpiresInSeconds <= 0) {
    reader.problems.push(
      `JWT_EXPIRES_IN must look like 3600, 15m, 12h or 7d (got "${jwtExpiresIn}")`,
    );
  }
  const adminEmail = reader.optional('ADMIN_EMAIL');
  const adminPassword = reader.optional('ADMIN_PASSWORD');
  const adminPasswordProblem =
    adminPassword === undefined ? undefined : passwordProblem(adminPassword, 'ADMIN_PASSWORD');
  if (adminPasswordProblem !== undefined) {
    reader.problems.push(adminPasswordProblem);
  }

  const config: AppConfig = {
    env,
    roles: readRoles(reader),
    ci: !['', '0', 'false'].includes(reader.text('CI', '').toLowerCase()),
    port,
    host: reader.text('HOST', '0.0.0.0'),
    logLevel: reader.text('LOG_LEVEL', production ? 'info' : 'debug'),
    corsOrigins: readCorsOrigins(reader, production),
    trustProxy: readTrustProxy(reader),
    bodyLimitBytes: reader.integer('BODY_LIMIT_BYTES', 256 * 1024, 1024, 50 * 1024 * 1024),
    publicBaseUrl: reader
      .url('PUBLIC_BASE_URL', `http://localhost:${port}`, ['http:', 'https:'])
      .replace(/\/+$/, ''),
    mongo: {
      uri: reader.url('MONGODB_URI', DEFAULT_MONGODB_URI, ['mongodb:', 'mongodb+srv:']),
      maxPoolSize: reader.integer('MONGODB_MAX_POOL_SIZE', 10, 1, 1000),
      minPoolSize: reader.integer('MONGODB_MIN_POOL_SIZE', 5, 0, 1000),
      socketTimeoutMS: reader.integer('MONGODB_SOCKET_TIMEOUT_MS', 45000, 1000, 600000),
      serverSelectionTimeoutMS: reader.integer(
        'MONGODB_SERVER_SELECTION_TIMEOUT_MS',
        5000,
        100,
        120000,
      ),
    },
    countDatabaseCommands: reader.flag('COUNT_DATABASE_COMMANDS', false),
    redis: {
      url: redisUrl,
      queueUrl: reader.url('REDIS_QUEUE_URL', redisUrl, ['redis:', 'rediss:']),
      queuePrefix: reader.text('QUEUE_PREFIX', 'bull'),
      commandTimeoutMs: reader.integer('REDIS_COMMAND_TIMEOUT_MS', 1000, 50, 60_000),
      enqueueTimeoutMs: reader.integer('QUEUE_ENQUEUE_TIMEOUT_MS', 2000, 50, 60_000),
    },
    jwt: {
      secret: readJwtSecret(reader, production),
      expiresIn: jwtExpiresIn,
      expiresInSeconds: jwtExpiresInSeconds ?? 604800,
    },
    bcryptRounds: reader.integer('BCRYPT_ROUNDS', 10, production ? 10 : 4, 15),
    encryption: readEncryptionKeys(reader, production),
    urlSigningKey: readUrlSigningKey(reader, production),
    throttle: {
      ttlSeconds: reader.integer('THROTTLE_TTL_SECONDS', 60, 1, 86400),
      limit: reader.integer('THROTTLE_LIMIT', 300, 1, 1_000_000),
      authLimit: reader.integer('THROTTLE_AUTH_LIMIT', 10, 1, 1_000_000),
      authIpLimit: reader.integer('THROTTLE_AUTH_IP_LIMIT', 100, 1, 1_000_000),
      authWindowSeconds: 900,
    },
    calls: {
      outboundLimit: reader.integer('OUTBOUND_CALLS_LIMIT', 100, 1, 1_000_000),
      outboundWindowSeconds: 900,
      maxConcurrent: reader.integer('MAX_CONCURRENT_CALLS', 10, 1, 100_000),
      timeLimitSeconds: reader.integer('CALL_TIME_LIMIT_SECONDS', 3600, 60, 14400),
      record: reader.flag('CALL_RECORDING', true),
      eventConcurrency: reader.integer('CALL_EVENT_CONCURRENCY', 16, 1, 256),
      placementConcurrency: reader.integer('CALL_PLACEMENT_CONCURRENCY', 8, 1, 256),
      placementRetryDelayMs: reader.integer('CALL_PLACEMENT_RETRY_DELAY_MS', 5000, 10, 600_000),
      inboundPerMinute: reader.integer('INBOUND_CALLS_PER_MINUTE', 60, 1, 100_000),
    },
    rates: {
      telephonyPerMinute: reader.decimal('RATE_TELEPHONY_PER_MINUTE', 0.03, 0, 1000),
      sttPerMinute: reader.decimal('RATE_STT_PER_MINUTE', 0.006, 0, 1000),
      llmPer1kTokens: reader.decimal('RATE_LLM_PER_1K_TOKENS', 0.03, 0, 1000),
      ttsPer1kCharacters: reader.decimal('RATE_TTS_PER_1K_CHARACTERS', 0.015, 0, 1000),
    },
    maintenance: {
      defaultSessionTimeoutSeconds: reader.integer('SESSION_TIMEOUT_SECONDS', 300, 10, 86400),
      staleCallMinutes: reader.integer('STALE_CALL_MINUTES', 15, 1, 1440),
      endedSessionRetentionDays: reader.integer('ENDED_SESSION_RETENTION_DAYS', 7, 1, 3650),
      schedulerEnabled: reader.flag('SCHEDULER_ENABLED', true),
      sessionTimeoutCron: reader.text('SESSION_TIMEOUT_CRON', '* * * * *'),
      reconcileCron: reader.text('RECONCILE_CRON', '*/5 * * * *'),
      cleanupCron: reader.text('CLEANUP_CRON', '30 3 * * *'),
    },
    metrics: {
      token: readMetricsToken(reader, production),
      callsByStatusRefreshSeconds: reader.integer('METRICS_CALLS_REFRESH_SECONDS', 60, 1, 86400),
    },
    apiDocsEnabled: reader.flag('API_DOCS_ENABLED', !production),
    exotel: {
      apiBaseUrl: reader.optional('EXOTEL_API_BASE_URL'),
      requestsPerMinute: exotelRequestsPerMinute,
      requestWindowMs: 60_000,
    },
    admin: { email: adminEmail?.toLowerCase(), password: adminPassword },
    backup: {
      dir: reader.text('BACKUP_DIR', './backups'),
      retentionDays: reader.integer('BACKUP_RETENTION_DAYS', 30, 1, 3650),
      cron: reader.text('BACKUP_CRON', '0 2 * * *'),
    },
    storage: readStorage(reader),
    campaigns: {
      dispatchIntervalMs: reader.integer('CAMPAIGN_DISPATCH_INTERVAL_MS', 2000, 0, 3_600_000),
      callsPerMinute: reader.integer(
        'CAMPAIGN_CALLS_PER_MINUTE',
        Math.max(1, Math.floor(exotelRequestsPerMinute / 2)),
        1,
        100_000,
      ),
      claimTimeoutMs: reader.integer('CAMPAIGN_CLAIM_TIMEOUT_MS', 120_000, 100, 3_600_000),
      maxStartsPerRun: reader.integer('CAMPAIGN_MAX_STARTS_PER_RUN', 500, 1, 100_000),
      maxContacts: reader.integer('CAMPAIGN_MAX_CONTACTS', 200_000, 1, 10_000_000),
      csvMaxBytes: reader.integer('CAMPAIGN_CSV_MAX_BYTES', 50 * 1024 * 1024, 1024, 2 ** 32),
    },
    recordings: {
      maxBytes: reader.integer('RECORDING_MAX_BYTES', 200 * 1024 * 1024, 1024, 2 ** 40),
      retentionDays: reader.integer('RECORDING_RETENTION_DAYS', 90, 1, 3650),
      fetchTimeoutMs: reader.integer('RECORDING_FETCH_TIMEOUT_MS', 300_000, 100, 3_600_000),
      maxAttempts: reader.integer('RECORDING_COPY_ATTEMPTS', 8, 1, 50),
      retryBaseMs: reader.integer('RECORDING_RETRY_BASE_MS', 30_000, 10, 3_600_000),
      concurrency: reader.integer('RECORDING_COPY_CONCURRENCY', 4, 1, 256),
    },
    voice: {
      openai: readVendor(reader, 'OPENAI', 'https://api.openai.com/v1', ['https:', 'http:']),
      deepgram: readVendor(reader, 'DEEPGRAM', 'wss://api.deepgram.com', ['wss:', 'ws:']),
      elevenlabs: readVendor(reader, 'ELEVENLABS', 'wss://api.elevenlabs.io', ['wss:', 'ws:']),
      cartesia: readVendor(reader, 'CARTESIA', 'wss://api.cartesia.ai', ['wss:', 'ws:']),
      streamUrlTtlSeconds: reader.integer('STREAM_URL_TTL_SECONDS', 300, 10, 3600),
      sampleRate: readSampleRate(reader),
      vendorTimeoutMs: reader.integer('VOICE_VENDOR_TIMEOUT_MS', 8000, 100, 60_000),
      endpointingMs: reader.integer('VOICE_ENDPOINTING_MS', 300, 10, 5000),
      utteranceEndMs: reader.integer('VOICE_UTTERANCE_END_MS', 1000, 1000, 5000),
    },
    webhooks: {
      allowPrivateAddresses: reader.flag('WEBHOOK_ALLOW_PRIVATE_ADDRESSES', false),
      requireHttps: production,
      maxEndpointsPerUser: reader.integer('WEBHOOK_MAX_ENDPOINTS_PER_USER', 10, 1, 1000),
      maxUrlLength: 2048,
      timeoutMs: reader.integer('WEBHOOK_TIMEOUT_MS', 10_000, 100, 60_000),
      maxResponseBytes: 64 * 1024,
      maxAttempts: reader.integer('WEBHOOK_MAX_ATTEMPTS', 8, 1, 20),
      retryBaseMs: reader.integer('WEBHOOK_RETRY_BASE_MS', 30_000, 10, 3_600_000),
      retryMaxDelayMs: reader.integer('WEBHOOK_RETRY_MAX_DELAY_MS', 12 * 3_600_000, 10, 86_400_000),
      disableAfterMs: reader.integer('WEBHOOK_DISABLE_AFTER_HOURS', 72, 1, 24 * 365) * 3_600_000,
      deliveryRetentionDays: reader.integer('WEBHOOK_DELIVERY_RETENTION_DAYS', 30, 1, 3650),
      previousSecretTtlMs: 24 * 3_600_000,
      concurrency: reader.integer('WEBHOOK_CONCURRENCY', 64, 1, 1024),
      dispatchConcurrency: reader.integer('WEBHOOK_DISPATCH_CONCURRENCY', 4, 1, 256),
      analysisConcurrency: reader.integer('CALL_ANALYSIS_CONCURRENCY', 4, 1, 256),
      maxEventsPerCall: 1000,
    },
  };

  if (production && config.webhooks.allowPrivateAddresses) {
    reader.problems.push(
      'WEBHOOK_ALLOW_PRIVATE_ADDRESSES must not be set in production: customer webhooks could reach internal services',
    );
  }

  if (config.mongo.minPoolSize > config.mongo.maxPoolSize) {
    reader.problems.push('MONGODB_MIN_POOL_SIZE cannot exceed MONGODB_MAX_POOL_SIZE');
  }
  if (reader.problems.length > 0) {
    throw new ConfigValidationError(reader.problems);
  }
  return { config, warnings: reader.warnings };
}
