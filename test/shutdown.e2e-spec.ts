import { describe, expect, it } from 'vitest';
import { createTestContext } from './support/test-app.js';

describe('graceful shutdown', () => {
  it('closes within seconds when Redis is unreachable (workers are force-closed)', async () => {
    const context = await createTestContext({ REDIS_URL: 'redis://127.0.0.1:1' });
    const started = Date.now();
    await context.close();
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('closes cleanly with everything up', async () => {
    const context = await createTestContext();
    const started = Date.now();
    await context.close();
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
