import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretBoxService } from '../src/infra/crypto/secret-box.service.js';
import { registerUser, type TestUser } from './support/factories.js';
import { call } from './support/http.js';
import { createTestContext, type TestContext, uniqueName } from './support/test-app.js';

const EXOTEL_CONFIG_URL = '/api/v1/users/me/exotel-config';
const WEBHOOKS_URL = '/api/v1/users/me/webhooks';
const INCOMING_URL_PREFIX = 'https://voice.example.test/api/v1/telephony/exotel/incoming/';

/** Every key anywhere in a JSON value, so a secret cannot hide in a nested object. */
function keysOf(value: unknown): string[] {
  if (Array.isArray(value)) {
    return value.flatMap(keysOf);
  }
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value).flatMap(([key, nested]) => [key, ...keysOf(nested)]);
  }
  return [];
}

describe('users', () => {
  let context: TestContext;

  const storedUser = (user: TestUser) =>
    context.db.collection('users').findOne({ _id: new ObjectId(user.id) });

  const validConfig = () => ({
    apiKey: 'key_abc-123',
    apiToken: `tok_${uniqueName('secret')}`,
    sid: 'acme1',
    subdomain: 'api.exotel.com',
  });

  beforeAll(async () => {
    context = await createTestContext();
  });
  afterAll(async () => {
    await context.close();
  });

  describe('PUT /users/me/exotel-config', () => {
    it('stores the config and answers without the token, only apiTokenSet', async () => {
      const user = await registerUser(context);
      const config = validConfig();
      const response = await call(context.app, 'PUT', EXOTEL_CONFIG_URL, {
        token: user.token,
        body: config,
      });
      expect(response.status).toBe(200);
      expect(response.body.exotelConfig).toEqual({
        apiKey: config.apiKey,
        sid: config.sid,
        subdomain: config.subdomain,
        apiTokenSet: true,
      });
      expect(keysOf(response.body)).not.toContain('apiToken');
      expect(response.text).not.toContain(config.apiToken);
    });

    it('encrypts the token at rest with a versioned ciphertext the app can decrypt', async () => {
      const user = await registerUser(context);
      const config = validConfig();
      await call(context.app, 'PUT', EXOTEL_CONFIG_URL, { token: user.token, body: config });
      const stored = (await storedUser(user))?.exotelConfig;
      expect(stored).toMatchObject({
        apiKey: config.apiKey,
        sid: config.sid,
        subdomain: config.subdomain,
      });
      expect(stored.apiToken).not.toBe(config.apiToken);
      expect(stored.apiToken).not.toContain(config.apiToken);
      expect(stored.apiToken).toMatch(/^v2:default:/);
      expect(context.app.get(SecretBoxService).decrypt(stored.apiToken, user.id)).toBe(
        config.apiToken,
      );
    });

    it('never writes the plaintext token to the logs', async () => {
      const user = await registerUser(context);
      const config = validConfig();
      await call(context.app, 'PUT', EXOTEL_CONFIG_URL, { token: user.token, body: config });
      // A refused request carrying the token must not leak it either.
      await call(context.app, 'PUT', EXOTEL_CONFIG_URL, {
        token: user.token,
        body: { ...config, subdomain: 'not a host' },
      });
      expect(context.logs()).toContain(EXOTEL_CONFIG_URL);
      expect(context.logs()).not.toContain(config.apiToken);
    });

    it('replaces a previous config and lower-cases the subdomain', async () => {
      const user = await registerUser(context);
      await call(context.app, 'PUT', EXOTEL_CONFIG_URL, { token: user.token, body: validConfig() });
      const second = { ...validConfig(), sid: 'second', subdomain: 'API.IN.Exotel.com' };
      const response = await call(context.app, 'PUT', EXOTEL_CONFIG_URL, {
        token: user.token,
        body: second,
      });
      expect(response.status).toBe(200);
      const stored = (await storedUser(user))?.exotelConfig;
      expect(stored.sid).toBe('second');
      expect(stored.subdomain).toBe('api.in.exotel.com');
      expect(context.app.get(SecretBoxService).decrypt(stored.apiToken, user.id)).toBe(
        second.apiToken,
      );
    });

    it.each([
      ['a missing apiKey', { apiKey: undefined }, 'apiKey'],
      ['a missing apiToken', { apiToken: undefined }, 'apiToken'],
      ['a missing sid', { sid: undefined }, 'sid'],
      ['a missing subdomain', { subdomain: undefined }, 'subdomain'],
      ['a numeric apiKey', { apiKey: 12345 }, 'apiKey'],
      ['an apiToken that is an object', { apiToken: { $ne: null } }, 'apiToken'],
      ['a sid that is an array', { sid: ['acme1'] }, 'sid'],
      ['a subdomain that is not a host', { subdomain: 'not a host' }, 'subdomain'],
      ['a subdomain without a TLD', { subdomain: 'localhost' }, 'subdomain'],
      ['a host that is not Exotel', { subdomain: 'internal.example.com' }, 'subdomain'],
      ['a loopback address', { subdomain: '127.0.0.1' }, 'subdomain'],
      ['a host with a port', { subdomain: 'api.exotel.com:8080' }, 'subdomain'],
      ['a look-alike host', { subdomain: 'api.exotel.com.attacker.example' }, 'subdomain'],
      ['an apiKey with spaces', { apiKey: 'key with spaces' }, 'apiKey'],
      ['an apiToken with spaces', { apiToken: 'tok en' }, 'apiToken'],
      ['an empty sid', { sid: '' }, 'sid'],
      ['an unknown field', { region: 'mumbai' }, 'region'],
    ])(
      'refuses %s with 400 naming the field and keeps the stored config',
      async (_case, change, field) => {
        const user = await registerUser(context);
        await call(context.app, 'PUT', EXOTEL_CONFIG_URL, {
          token: user.token,
          body: validConfig(),
        });
        const before = (await storedUser(user))?.exotelConfig;
        const body: Record<string, unknown> = { ...validConfig(), ...change };
        const response = await call(context.app, 'PUT', EXOTEL_CONFIG_URL, {
          token: user.token,
          body: JSON.parse(JSON.stringify(body)),
        });
        expect(response.status).toBe(400);
        expect(JSON.stringify(response.body.message)).toContain(field);
        expect(response.body.requestId).toEqual(expect.any(String));
        expect((await storedUser(user))?.exotelConfig).toEqual(before);
      },
    );

    it('refuses an invalid config of a user who has none and stores nothing', async () => {
      const user = await registerUser(context);
      const response = await call(context.app, 'PUT', EXOTEL_CONFIG_URL, {
        token: user.token,
        body: { ...validConfig(), apiKey: 'has space' },
      });
      expect(response.status).toBe(400);
      expect((await storedUser(user))?.exotelConfig).toBeUndefined();
    });

    it('refuses a request without a token with 401 and changes nothing', async () => {
      const user = await registerUser(context);
      const response = await call(context.app, 'PUT', EXOTEL_CONFIG_URL, { body: validConfig() });
      expect(response.status).toBe(401);
      expect((await storedUser(user))?.exotelConfig).toBeUndefined();
    });
  });

  describe('webhooks', () => {
    it('gives the inbound-call URL built on PUBLIC_BASE_URL with the stored secret', async () => {
      const user = await registerUser(context);
      const response = await call(context.app, 'GET', WEBHOOKS_URL, { token: user.token });
      expect(response.status).toBe(200);
      const stored = await storedUser(user);
      expect(stored?.webhookToken).toEqual(expect.any(String));
      expect(response.body.incomingCallUrl).toBe(`${INCOMING_URL_PREFIX}${stored?.webhookToken}`);
      expect(response.body.statusCallbackUrlPattern).toBe(
        'https://voice.example.test/api/v1/telephony/exotel/status/{callLogId}?exp={expiry}&sig={signature}',
      );
    });

    it('gives each user a different secret', async () => {
      const first = await registerUser(context);
      const second = await registerUser(context);
      const [a, b] = await Promise.all(
        [first, second].map((user) =>
          call(context.app, 'GET', WEBHOOKS_URL, { token: user.token }),
        ),
      );
      expect(a?.body.incomingCallUrl).not.toBe(b?.body.incomingCallUrl);
    });

    it('rotates the secret: a new URL, and the old secret is no longer stored', async () => {
      const user = await registerUser(context);
      const before = await call(context.app, 'GET', WEBHOOKS_URL, { token: user.token });
      const oldToken = (before.body.incomingCallUrl as string).slice(INCOMING_URL_PREFIX.length);
      const rotated = await call(context.app, 'POST', `${WEBHOOKS_URL}/rotate`, {
        token: user.token,
      });
      expect(rotated.status).toBe(200);
      expect(rotated.body.incomingCallUrl).toMatch(
        new RegExp(`^${INCOMING_URL_PREFIX.replace(/[.]/g, '\\.')}[\\w-]{32,}$`),
      );
      expect(rotated.body.incomingCallUrl).not.toBe(before.body.incomingCallUrl);
      expect(await context.db.collection('users').countDocuments({ webhookToken: oldToken })).toBe(
        0,
      );
      expect((await storedUser(user))?.webhookToken).toBe(
        (rotated.body.incomingCallUrl as string).slice(INCOMING_URL_PREFIX.length),
      );
      const after = await call(context.app, 'GET', WEBHOOKS_URL, { token: user.token });
      expect(after.body.incomingCallUrl).toBe(rotated.body.incomingCallUrl);
    });

    it('refuses both webhook routes without a token with 401 and keeps the secret', async () => {
      const user = await registerUser(context);
      const before = (await storedUser(user))?.webhookToken;
      expect((await call(context.app, 'GET', WEBHOOKS_URL)).status).toBe(401);
      expect((await call(context.app, 'POST', `${WEBHOOKS_URL}/rotate`)).status).toBe(401);
      expect((await storedUser(user))?.webhookToken).toBe(before);
    });
  });
});
