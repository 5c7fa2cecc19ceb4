import { createCipheriv, randomBytes } from 'node:crypto';
import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reencryptSecretsCommand } from '../src/cli/cli-commands.js';
import { type AppConfig, loadConfig } from '../src/config/app-config.js';
import { SecretBoxService } from '../src/infra/crypto/secret-box.service.js';
import { registerUser, type TestUser } from './support/factories.js';
import { call } from './support/http.js';
import { createTestContext, type TestContext, uniqueName } from './support/test-app.js';

const EXOTEL_CONFIG_URL = '/api/v1/users/me/exotel-config';

/** A token as releases before key rotation stored it: v1, ENCRYPTION_KEY, no owner bound. */
function sealVersion1(key: Buffer, plaintext: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', iv, cipher.getAuthTag(), ciphertext]
    .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
    .join(':');
}

describe('secrets at rest: owners bound, keys rotated', () => {
  let context: TestContext;
  let alice: TestUser;
  let bob: TestUser;
  const aliceToken = `tok_${uniqueName('alice')}`;

  const storedToken = async (user: TestUser): Promise<string> =>
    (await context.db.collection('users').findOne({ _id: new ObjectId(user.id) }))?.exotelConfig
      .apiToken as string;

  beforeAll(async () => {
    context = await createTestContext();
    alice = await registerUser(context);
    bob = await registerUser(context);
    const response = await call(context.app, 'PUT', EXOTEL_CONFIG_URL, {
      token: alice.token,
      body: {
        apiKey: 'key_alice',
        apiToken: aliceToken,
        sid: 'alice1',
        subdomain: 'api.exotel.com',
      },
    });
    expect(response.status).toBe(200);
  });
  afterAll(async () => {
    await context.close();
  });

  it("does not decrypt a value encrypted for user A as user B's", async () => {
    const box = context.app.get(SecretBoxService);
    const sealed = await storedToken(alice);
    expect(sealed).toMatch(/^v2:default:/);
    expect(box.decrypt(sealed, alice.id)).toBe(aliceToken);
    expect(() => box.decrypt(sealed, bob.id)).toThrow();
  });

  it('still decrypts a v1 value written with ENCRYPTION_KEY', () => {
    const box = context.app.get(SecretBoxService);
    const legacyKey = context.config.encryption.keys.default!;
    expect(box.decrypt(sealVersion1(legacyKey, 'tok_legacy'), bob.id)).toBe('tok_legacy');
  });

  it('re-encrypts every stored token with a newly added key (reencrypt-secrets) and they still work', async () => {
    const bobToken = `tok_${uniqueName('bob')}`;
    await context.db.collection('users').updateOne(
      { _id: new ObjectId(bob.id) },
      {
        $set: {
          exotelConfig: {
            apiKey: 'key_bob',
            apiToken: sealVersion1(context.config.encryption.keys.default!, bobToken),
            sid: 'bob1',
            subdomain: 'api.exotel.com',
          },
        },
      },
    );
    // A webhook endpoint's signing secret, current and rotated out, sealed with the old key.
    const oldBox = context.app.get(SecretBoxService);
    const endpointId = new ObjectId();
    await context.db.collection('webhookendpoints').insertOne({
      _id: endpointId,
      userId: new ObjectId(bob.id),
      url: 'https://hooks.example.com/calls',
      events: ['call.ended'],
      enabled: true,
      secret: oldBox.encrypt('whsec_current', endpointId.toString()),
      previousSecret: {
        sealed: oldBox.encrypt('whsec_previous', endpointId.toString()),
        expiresAt: new Date(Date.now() + 3_600_000),
      },
    });
    const rotated: AppConfig = {
      ...context.config,
      encryption: loadConfig({
        NODE_ENV: 'test',
        ENCRYPTION_KEY: context.config.encryption.keys.default!.toString('base64'),
        ENCRYPTION_KEYS: `2026-12:${randomBytes(32).toString('base64')}`,
        ENCRYPTION_KEY_ID: '2026-12',
      }).config.encryption,
    };
    const lines: string[] = [];

    await reencryptSecretsCommand(rotated, [], (line) => lines.push(line));

    expect(lines).toEqual([
      'secrets re-encrypted with key "2026-12": 4 (already current: 0, changed meanwhile: 0)',
    ]);
    const newBox = new SecretBoxService(rotated);
    for (const [user, plaintext] of [
      [alice, aliceToken],
      [bob, bobToken],
    ] as const) {
      const sealed = await storedToken(user);
      expect(sealed).toMatch(/^v2:2026-12:/);
      expect(newBox.decrypt(sealed, user.id)).toBe(plaintext);
    }
    // The new key alone now opens them: the old one can leave the ring.
    const newKeyOnly = new SecretBoxService({
      ...rotated,
      encryption: {
        keys: { '2026-12': rotated.encryption.keys['2026-12']! },
        currentKeyId: '2026-12',
      },
    });
    expect(newKeyOnly.decrypt(await storedToken(alice), alice.id)).toBe(aliceToken);
    const endpoint = await context.db.collection('webhookendpoints').findOne({ _id: endpointId });
    expect(newKeyOnly.decrypt(endpoint?.secret as string, endpointId.toString())).toBe(
      'whsec_current',
    );
    expect(
      newKeyOnly.decrypt(endpoint?.previousSecret?.sealed as string, endpointId.toString()),
    ).toBe('whsec_previous');

    const again: string[] = [];
    await reencryptSecretsCommand(rotated, [], (line) => again.push(line));
    expect(again).toEqual([
      'secrets re-encrypted with key "2026-12": 0 (already current: 4, changed meanwhile: 0)',
    ]);
  });
});
