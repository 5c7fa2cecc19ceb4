/**
 * A sliding-window counter in one atomic script, on Redis's own clock so every instance
 * agrees: KEYS[1] sorted set of start times; ARGV window ms, limit, member (unique per start).
 * Returns 0 when the start is counted, else the milliseconds until a slot frees up.
 */
export const SLIDING_WINDOW_TAKE_SCRIPT = `
local time = redis.call('time')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('zremrangebyscore', KEYS[1], '-inf', now - window)
if redis.call('zcard', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('zadd', KEYS[1], now, ARGV[3])
  redis.call('pexpire', KEYS[1], window)
  return 0
end
local oldest = redis.call('zrange', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)`;
