import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigValidationError, durationToSeconds, loadConfig } from './app-config.js';

const STRONG_SECRET = 'a'.repeat(32);
const VALID_KEY = randomBytes(32).toString('base64');

function problemsOf(environment: Record<string, string>): ConfigValidationError {
  try {
    loadConfig(environment);
  } catch (error) {
    if (error instanceof ConfigValidationError) {
      return error;
    }
    throw error;
  }
  throw new Error('expected loadConfig to refuse the environment');
}

describe('loadConfig', () => {
  describe('in production', () => {
    it('refuses to start without secrets, naming JWT_SECRET, ENCRYPTION_KEY and URL_SIGNING_KEY', () => {
      expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(ConfigValidationError);
      const error = problemsOf({ NODE_ENV: 'production' });
      expect(error.problems).toEqual([
        expect.stringContaining('JWT_SECRET is missing'),
        expect.stringContaining('ENCRYPTION_KEY (or ENCRYPTION_KEYS) is missing'),
        expect.stringContaining('URL_SIGNING_KEY is missing'),
      ]);
    });

    it('names a weak URL_SIGNING_KEY and a weak key of ENCRYPTION_KEYS', () => {
      const error = problemsOf({
        NODE_ENV: 'production',
        JWT_SECRET: STRONG_SECRET,
        ENCRYPTION_KEYS: `k1:${VALID_KEY},k2:${randomBytes(16).toString('base64')}`,
        ENCRYPTION_KEY_ID: 'k1',
        URL_SIGNING_KEY: 'short',
      });
      expect(error.problems).toEqual([
        expect.stringMatching(/^ENCRYPTION_KEYS key "k2" must be 32 bytes/),
        expect.stringMatching(/^URL_SIGNING_KEY is too weak/),
      ]);
    });

    it('reads a key ring and needs ENCRYPTION_KEY_ID to name one of its keys', () => {
      const ring = `k1:${VALID_KEY},k2:${randomBytes(32).toString('base64')}`;
      const base = {
        NODE_ENV: 'production',
        JWT_SECRET: STRONG_SECRET,
        URL_SIGNING_KEY: STRONG_SECRET,
      };
      expect(problemsOf({ ...base, ENCRYPTION_KEYS: ring }).problems).toEqual([
        expect.stringMatching(
          /^ENCRYPTION_KEY_ID must name the key new values use \(one of k1, k2\)/,
        ),
      ]);
      expect(
        problemsOf({ ...base, ENCRYPTION_KEYS: ring, ENCRYPTION_KEY_ID: 'k3' }).problems,
      ).toEqual([expect.stringContaining('ENCRYPTION_KEY_ID "k3" is not a configured key')]);
      const { config } = loadConfig({
        ...base,
        ENCRYPTION_KEY: VALID_KEY,
        ENCRYPTION_KEYS: ring.replace(`k1:${VALID_KEY},`, ''),
        ENCRYPTION_KEY_ID: 'k2',
      });
      expect(Object.keys(config.encryption.keys)).toEqual(['default', 'k2']);
      expect(config.encryption.currentKeyId).toBe('k2');
      expect(config.urlSigningKey.toString()).toBe(STRONG_SECRET);
    });

    it('names a short JWT_SECRET as too weak', () => {
      const error = problemsOf({
        NODE_ENV: 'production',
        JWT_SECRET: 'short-secret',
        ENCRYPTION_KEY: VALID_KEY,
        URL_SIGNING_KEY: STRONG_SECRET,
      });
      expect(error.problems).toEqual([expect.stringMatching(/JWT_SECRET is too weak/)]);
    });

    it('accepts a JWT_SECRET of exactly 32 characters', () => {
      const { config } = loadConfig({
        NODE_ENV: 'production',
        JWT_SECRET: STRONG_SECRET,
        ENCRYPTION_KEY: VALID_KEY,
        URL_SIGNING_KEY: STRONG_SECRET,
      });
      expect(config.jwt.secret).toBe(STRONG_SECRET);
      expect(config.encryption.currentKeyId).toBe('default');
      expect(config.encryption.keys.default?.equals(Buffer.from(VALID_KEY, 'base64'))).toBe(true);
    });

    it('refuses an ENCRYPTION_KEY that is not 32 bytes', () => {
      const error = problemsOf({
        NODE_ENV: 'production',
        JWT_SECRET: STRONG_SECRET,
        ENCRYPTION_KEY: randomBytes(16).toString('base64'),
        URL_SIGNING_KEY: STRONG_SECRET,
      });
      expect(error.problems).toEqual([expect.stringMatching(/^ENCRYPTION_KEY must be 32 bytes/)]);
    });

    it('refuses a bcrypt cost below 10', () => {
      const error = problemsOf({
        NODE_ENV: 'production',
        JWT_SECRET: STRONG_SECRET,
        ENCRYPTION_KEY: VALID_KEY,
        URL_SIGNING_KEY: STRONG_SECRET,
        BCRYPT_ROUNDS: '4',
      });
      expect(error.message).toContain('BCRYPT_ROUNDS');
    });

    it('allows no CORS origin unless configured', () => {
      const { config } = loadConfig({
        NODE_ENV: 'production',
        JWT_SECRET: STRONG_SECRET,
        ENCRYPTION_KEY: VALID_KEY,
        URL_SIGNING_KEY: STRONG_SECRET,
      });
      expect(config.corsOrigins).toEqual([]);
    });
  });

  describe('in development', () => {
    it('generates throwaway secrets with a warning for each', () => {
      const { config, warnings } = loadConfig({});
      expect(config.env).toBe('development');
      expect(config.jwt.secret.length).toBeGreaterThanOrEqual(32);
      expect(config.encryption.keys.default).toHaveLength(32);
      expect(config.urlSigningKey.length).toBeGreaterThanOrEqual(32);
      expect(warnings).toEqual([
        expect.stringContaining('JWT_SECRET is missing'),
        expect.stringContaining('ENCRYPTION_KEY (or ENCRYPTION_KEYS) is missing'),
        expect.stringContaining('URL_SIGNING_KEY is missing'),
      ]);
    });

    it('generates different secrets on each start', () => {
      const first = loadConfig({}).config;
      const second = loadConfig({}).config;
      expect(first.jwt.secret).not.toBe(second.jwt.secret);
      expect(first.encryption.keys.default?.equals(second.encryption.keys.default!)).toBe(false);
      expect(first.urlSigningKey.equals(second.urlSigningKey)).toBe(false);
    });

    it('warns about a weak JWT_SECRET instead of failing', () => {
      const { warnings } = loadConfig({
        JWT_SECRET: 'weak',
        ENCRYPTION_KEY: VALID_KEY,
        URL_SIGNING_KEY: STRONG_SECRET,
      });
      expect(warnings).toEqual([expect.stringContaining('JWT_SECRET is too weak')]);
    });
  });

  it.each([
    ['abc', 'PORT'],
    ['70000', 'PORT'],
    ['-1', 'PORT'],
    ['80.5', 'PORT'],
  ])('refuses PORT=%s naming %s', (port, name) => {
    const error = problemsOf({ PORT: port });
    expect(error.problems).toEqual([expect.stringContaining(name)]);
    expect(error.message).toContain(port);
  });

  it('lists every problem at once', () => {
    const error = problemsOf({
      NODE_ENV: 'production',
      PORT: 'x',
      REDIS_URL: 'http://cache:6379',
      JWT_EXPIRES_IN: 'forever',
    });
    const message = error.message;
    for (const name of ['PORT', 'REDIS_URL', 'JWT_EXPIRES_IN', 'JWT_SECRET', 'ENCRYPTION_KEY']) {
      expect(message).toContain(name);
    }
  });

  it('refuses an unknown NODE_ENV', () => {
    expect(problemsOf({ NODE_ENV: 'staging' }).message).toContain('NODE_ENV');
  });

  it('defaults REDIS_QUEUE_URL to REDIS_URL', () => {
    const { config } = loadConfig({ REDIS_URL: 'redis://cache.internal:6380' });
    expect(config.redis.url).toBe('redis://cache.internal:6380');
    expect(config.redis.queueUrl).toBe('redis://cache.internal:6380');
  });

  it('keeps a separate REDIS_QUEUE_URL when given', () => {
    const { config } = loadConfig({
      REDIS_URL: 'redis://cache.internal:6379',
      REDIS_QUEUE_URL: 'redis://queue.internal:6379',
    });
    expect(config.redis.queueUrl).toBe('redis://queue.internal:6379');
  });

  it('reads JWT_EXPIRES_IN as seconds and PUBLIC_BASE_URL without a trailing slash', () => {
    const { config } = loadConfig({
      JWT_EXPIRES_IN: '12h',
      PUBLIC_BASE_URL: 'https://voice.example.com/',
    });
    expect(config.jwt.expiresInSeconds).toBe(43200);
    expect(config.publicBaseUrl).toBe('https://voice.example.com');
  });

  it('refuses an ADMIN_PASSWORD over 72 bytes even when it has fewer characters', () => {
    expect(problemsOf({ ADMIN_PASSWORD: `${'€'.repeat(24)}a` }).problems).toEqual([
      expect.stringMatching(/^ADMIN_PASSWORD must be at most 72 bytes/),
    ]);
    expect(loadConfig({ ADMIN_PASSWORD: '€'.repeat(24) }).config.admin.password).toHaveLength(24);
  });

  describe('metrics and API docs', () => {
    it('disables metrics without METRICS_TOKEN and serves docs outside production only', () => {
      const development = loadConfig({}).config;
      expect(development.metrics).toEqual({ token: undefined, callsByStatusRefreshSeconds: 60 });
      expect(development.apiDocsEnabled).toBe(true);
      const production = loadConfig({
        NODE_ENV: 'production',
        JWT_SECRET: STRONG_SECRET,
        ENCRYPTION_KEY: VALID_KEY,
        URL_SIGNING_KEY: STRONG_SECRET,
      }).config;
      expect(production.apiDocsEnabled).toBe(false);
      expect(loadConfig({ API_DOCS_ENABLED: 'false' }).config.apiDocsEnabled).toBe(false);
    });

    it('refuses a METRICS_TOKEN under 32 characters in production, naming it', () => {
      const error = problemsOf({
        NODE_ENV: 'production',
        JWT_SECRET: STRONG_SECRET,
        ENCRYPTION_KEY: VALID_KEY,
        URL_SIGNING_KEY: STRONG_SECRET,
        METRICS_TOKEN: 'short',
      });
      expect(error.problems).toEqual([expect.stringMatching(/^METRICS_TOKEN is too weak/)]);
    });
  });

  describe('TRUST_PROXY', () => {
    it('ignores forwarded headers by default', () => {
      expect(loadConfig({}).config.trustProxy).toBe(false);
      expect(loadConfig({ TRUST_PROXY: 'false' }).config.trustProxy).toBe(false);
    });

    it('reads a hop count or a list of addresses and CIDRs', () => {
      expect(loadConfig({ TRUST_PROXY: '2' }).config.trustProxy).toBe(2);
      expect(
        loadConfig({ TRUST_PROXY: '10.0.0.0/8, 192.168.1.7,fd00::/8' }).config.trustProxy,
      ).toEqual(['10.0.0.0/8', '192.168.1.7', 'fd00::/8']);
    });

    it.each(['true', '*', '10.0.0.0/33', 'load-balancer', '0', '10.0.0.1/8/1'])(
      'refuses TRUST_PROXY=%s, naming it',
      (value) => {
        expect(problemsOf({ TRUST_PROXY: value }).problems).toEqual([
          expect.stringContaining('TRUST_PROXY'),
        ]);
      },
    );
  });

  it('uses the documented defaults', () => {
    const { config } = loadConfig({});
    expect(config.port).toBe(3000);
    expect(config.mongo.uri).toBe('mongodb://localhost:27017/ai-calling-platform');
    expect(config.redis.url).toBe('redis://127.0.0.1:6379');
    expect(config.jwt.expiresIn).toBe('7d');
    expect(config.bcryptRounds).toBe(10);
    expect(config.throttle).toMatchObject({
      ttlSeconds: 60,
      limit: 300,
      authLimit: 10,
      authIpLimit: 100,
    });
    expect(config.publicBaseUrl).toBe('http://localhost:3000');
    expect(config.backup).toEqual({ dir: './backups', retentionDays: 30, cron: '0 2 * * *' });
  });
});

describe('durationToSeconds', () => {
  it.each([
    ['3600', 3600],
    ['45s', 45],
    ['15m', 900],
    ['12h', 43200],
    ['7d', 604800],
    ['0', 0],
  ])('reads %s as %i seconds', (duration, seconds) => {
    expect(durationToSeconds(duration)).toBe(seconds);
  });

  it.each(['', '7w', '-5', '1.5h', 'h', '7 d', 'seven'])('refuses "%s"', (duration) => {
    expect(durationToSeconds(duration)).toBeUndefined();
  });
});
