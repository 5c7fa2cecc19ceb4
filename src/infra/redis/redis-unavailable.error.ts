/**
 * Redis could not answer (down, unreachable, or too slow): the request cannot be served now
 * but may succeed shortly, so the exception filter answers 503, never 500. Errors Redis itself
 * replies with (a wrong type, a script error) are bugs and are not wrapped in this.
 */
export class RedisUnavailableError extends Error {
  constructor(connectionName: string, cause: unknown) {
    super(
      `Redis (${connectionName}) is unavailable: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
    this.name = new.target.name;
  }
}
