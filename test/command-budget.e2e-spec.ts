import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countCommands } from './support/command-count.js';
import { registerUser, type TestUser } from './support/factories.js';
import { call } from './support/http.js';
import { createTestContext, type TestContext } from './support/test-app.js';

/**
 * Round trips per operation, counted with the driver's command monitoring and a counter on the
 * Redis clients: these figures hold on any server and any machine.
 */
describe('database command budget', () => {
  let context: TestContext;
  let user: TestUser;

  beforeAll(async () => {
    context = await createTestContext({ COUNT_DATABASE_COMMANDS: 'true' });
    user = await registerUser(context);
  });

  afterAll(async () => {
    await context.close();
  });

  it('counts the MongoDB and Redis commands a request sends', async () => {
    const { result, counts } = await countCommands(context.app, () =>
      call(context.app, 'GET', '/api/v1/agents', { token: user.token }),
    );

    expect(result.status).toBe(200);
    expect(counts.mongo.find).toBeGreaterThanOrEqual(1);
    expect(counts.redisTotal).toBeGreaterThanOrEqual(1);
  });
});
