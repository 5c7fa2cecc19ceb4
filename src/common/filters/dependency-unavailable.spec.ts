import { MongoNetworkError, MongoServerError } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { RedisUnavailableError } from '../../infra/redis/redis-unavailable.error.js';
import { dependencyUnavailable } from './dependency-unavailable.js';

const serverError = (code: number, codeName: string): MongoServerError =>
  new MongoServerError({ ok: 0, code, codeName, errmsg: codeName });

describe('dependencyUnavailable', () => {
  it.each([
    [11600, 'InterruptedAtShutdown'],
    [91, 'ShutdownInProgress'],
    [10107, 'NotWritablePrimary'],
    [189, 'PrimarySteppedDown'],
  ])('takes the server answer %i %s for MongoDB being unavailable', (code, codeName) => {
    expect(dependencyUnavailable(serverError(code, codeName))?.dependency).toBe('mongodb');
  });

  it('takes a bare socket error that got past the driver for MongoDB', () => {
    const ended = Object.assign(new Error('This socket has been ended by the other party'), {
      code: 'EPIPE',
    });
    expect(dependencyUnavailable(ended)?.dependency).toBe('mongodb');
  });

  it('takes a dropped connection for MongoDB and a Redis failure for Redis', () => {
    expect(dependencyUnavailable(new MongoNetworkError('connection closed'))?.dependency).toBe(
      'mongodb',
    );
    expect(
      dependencyUnavailable(new RedisUnavailableError('cache', new Error('Connection is closed.')))
        ?.dependency,
    ).toBe('redis');
  });

  it('takes any driver error for MongoDB being unavailable while the connection has lost it', () => {
    const gone = { connected: false };
    expect(dependencyUnavailable(serverError(1, 'InternalError'), gone)?.dependency).toBe(
      'mongodb',
    );
    expect(dependencyUnavailable(serverError(1, 'InternalError'), { connected: true })).toBe(
      undefined,
    );
    expect(dependencyUnavailable(new Error('bug'), gone)).toBeUndefined();
  });

  it('leaves errors that say the request or the code is wrong alone', () => {
    expect(dependencyUnavailable(serverError(11000, 'DuplicateKey'))).toBeUndefined();
    expect(dependencyUnavailable(serverError(1, 'InternalError'))).toBeUndefined();
    expect(dependencyUnavailable(new Error('bug'))).toBeUndefined();
  });
});
