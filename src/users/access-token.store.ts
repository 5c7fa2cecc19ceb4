import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { REDIS_CLIENT } from '../infra/redis/redis.module.js';
import { RedisKeys, RedisTtl } from '../infra/redis/redis-keys.js';
import type { UserRole } from './schemas/user.schema.js';
import { UsersRepository } from './users.repository.js';

/** A signed access token and the claims that decide whether it is still the valid one. */
export interface AccessTokenClaims {
  userId: string;
  role: UserRole;
  /** The JWT's `jti`, stored as the user's `currentTokenId`. */
  tokenId: string | undefined;
  token: string;
  /** `iat` and `exp` of the JWT, in seconds since the epoch. */
  issuedAt: number | undefined;
  expiresAt: number | undefined;
}

/**
 * What a revoked user's key holds instead of a token. A re-warm only writes into an absent
 * key (SET NX), so this marker keeps a re-warm that read MongoDB just before the revocation
 * from putting the token back. It lives as long as any token may, so it outlasts every
 * re-warm that could still be in flight.
 */
const REVOKED = 'revoked';

/** Deletes the key only while it still holds this token (never a newer one). */
const DELETE_IF_HOLDS = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0`;

/**
 * The one valid access token of each user. MongoDB holds the truth (`currentTokenId`, the
 * JWT's `jti`); Redis caches the token itself at `user:token:{userId}` so the hot path never
 * reads MongoDB. A key that holds another token or the revocation marker refuses at once; a
 * missing key (Redis restarted or flushed) is answered from MongoDB and warmed again, so an
 * empty Redis does not log everybody out.
 *
 * Ordering, so that a revocation always wins over a concurrent re-warm or login:
 * - revoke: MongoDB first, then the marker in Redis;
 * - publish (login, re-warm): Redis first, then read MongoDB again, and take the token back
 *   out of Redis when MongoDB no longer names it.
 * Any MongoDB change made after that second read is followed by its own Redis write (the
 * marker, or a newer login's token), and one made before it is seen by it; either way the
 * revoked token does not stay in Redis.
 */
@Injectable()
export class AccessTokenStore {
  constructor(
    @Inject(REDIS_CLIENT) private readonly redis: Redis,
    private readonly users: UsersRepository,
  ) {}

  /**
   * Makes `claims.token` the user's one valid token. False when the account was deactivated
   * or its role changed since the token was signed (nothing is stored then).
   */
  async issue(claims: AccessTokenClaims, loggedInAt?: Date): Promise<boolean> {
    if (claims.tokenId === undefined) {
      return false;
    }
    const claimed = await this.users.claimCurrentToken(claims.userId, {
      tokenId: claims.tokenId,
      role: claims.role,
      loggedInAt,
    });
    // Overwrites: a new login replaces the previous token and any revocation marker.
    return claimed && (await this.publish(claims, 'replace'));
  }

  async isCurrent(claims: AccessTokenClaims): Promise<boolean> {
    const cached = await this.redis.get(RedisKeys.userToken(claims.userId));
    if (cached !== null) {
      return cached === claims.token;
    }
    return (await this.isCurrentInDatabase(claims)) && this.publish(claims, 'if-absent');
  }

  /** Revokes the user's token at once, in MongoDB and in the cache. */
  async revoke(userId: string): Promise<void> {
    await this.users.clearCurrentToken(userId);
    await this.redis.set(RedisKeys.userToken(userId), REVOKED, 'EX', RedisTtl.userTokenSeconds);
  }

  private async isCurrentInDatabase(claims: AccessTokenClaims): Promise<boolean> {
    if (claims.tokenId === undefined) {
      return false;
    }
    const state = await this.users.findTokenState(claims.userId);
    // The role and activation are checked too: a token carries the role it was signed with.
    return (
      state !== null &&
      state.isActive &&
      state.role === claims.role &&
      state.currentTokenId === claims.tokenId
    );
  }

  /** Caches the token for the rest of its life, then confirms MongoDB still names it. */
  private async publish(
    claims: AccessTokenClaims,
    mode: 'replace' | 'if-absent',
  ): Promise<boolean> {
    const ttlSeconds = remainingSeconds(claims);
    if (ttlSeconds <= 0) {
      return false;
    }
    const key = RedisKeys.userToken(claims.userId);
    const written =
      mode === 'replace'
        ? await this.redis.set(key, claims.token, 'EX', ttlSeconds)
        : await this.redis.set(key, claims.token, 'EX', ttlSeconds, 'NX');
    if (written === null) {
      // Someone wrote first: a revocation marker, a newer token, or this very token.
      return (await this.redis.get(key)) === claims.token;
    }
    if (await this.isCurrentInDatabase(claims)) {
      return true;
    }
    await this.redis.eval(DELETE_IF_HOLDS, 1, key, claims.token);
    return false;
  }
}

/**
 * Seconds the token may still be used: until it expires, and never more than the cache's
 * 7 days after it was issued, which was always the longest a token lasted.
 */
function remainingSeconds(claims: AccessTokenClaims): number {
  const cappedAt =
    claims.issuedAt === undefined ? undefined : claims.issuedAt + RedisTtl.userTokenSeconds;
  const endsAt = Math.min(
    claims.expiresAt ?? Number.POSITIVE_INFINITY,
    cappedAt ?? Number.POSITIVE_INFINITY,
  );
  if (!Number.isFinite(endsAt)) {
    return RedisTtl.userTokenSeconds;
  }
  return Math.min(endsAt - Math.floor(Date.now() / 1000), RedisTtl.userTokenSeconds);
}
