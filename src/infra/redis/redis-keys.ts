/** Every Redis key the application writes, built in one place (schema doc, "Key Patterns"). */
export const RedisKeys = {
  userToken: (userId: string): string => `user:token:${userId}`,
  /** Hash: what GET /auth/me answers (`json`) and the version that guards re-warming it. */
  userProfile: (userId: string): string => `user:profile:${userId}`,
  session: (sessionId: string): string => `session:${sessionId}`,
  rateLimit: (endpoint: string, id: string): string => `ratelimit:${endpoint}:${id}`,
  apiCache: (route: string, params: string): string => `cache:api:${route}:${params}`,
  lock: (name: string): string => `lock:${name}`,
  /** Sorted set of the user's active calls (session ids, scored by start): concurrent-call slots. */
  activeCalls: (userId: string): string => `calls:active:${userId}`,
  /** Sorted set of a campaign's calls in flight (session ids, scored by start). */
  campaignActiveCalls: (campaignId: string): string => `campaign:active:${campaignId}`,
  /** JSON: which events the user's enabled webhook endpoints take (and of which agents). */
  webhookRoutes: (userId: string): string => `webhooks:routes:${userId}`,
} as const;

export const RedisTtl = {
  userTokenSeconds: 604800,
  /**
   * Bounds how long a change made outside the application (a script writing to MongoDB) can
   * go unseen by GET /auth/me; every change made through it drops the cached profile at once.
   */
  userProfileSeconds: 600,
  sessionSeconds: 3600,
  /** Dropped on every endpoint change; the TTL only bounds changes made outside the API. */
  webhookRoutesSeconds: 300,
} as const;
