"""Pacing shared through Redis: every worker that calls one HubSpot app shares its windows.

The same rule as the local limiter (a slot is taken at send and freed one window after the
answer), kept in a sorted set per bucket whose scores are the moments slots free up. A slot still
waiting for its answer is held until ``window + hold`` so that a worker killed mid-call frees it in
the end. Every step is one Lua script on Redis's own clock, so workers on machines whose clocks
disagree still count the same window, and two workers can never both take the last slot.

The windows are keyed by a hash of the token (a private app's token is one app in one portal, the
unit HubSpot's burst limit counts); the token itself never reaches Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from hubspot_deals.hubspot._pacing import BURST, SEARCH, Permit

#: How long a waiting sender sleeps at most before asking again when the earliest slot frees at
#: an unknown moment (its answer has not arrived yet).
POLL_S = 0.05
#: Longest pause between two attempts to reach Redis during an outage.
OUTAGE_WAIT_MAX_S = 2.0

log = logging.getLogger(__name__)

# KEYS: slots, settings, pause. ARGV: member, hold, default limit, default window.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local limit = tonumber(redis.call('HGET', KEYS[2], 'limit') or ARGV[3])
local window = tonumber(redis.call('HGET', KEYS[2], 'window') or ARGV[4])
local paused = tonumber(redis.call('GET', KEYS[3]) or '0')
if now < paused then
  return {0, tostring(paused - now), tostring(limit), tostring(window)}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now + window + tonumber(ARGV[2]), ARGV[1])
  redis.call('EXPIRE', KEYS[1], math.ceil(window + tonumber(ARGV[2])) + 60)
  return {1, '0', tostring(limit), tostring(window)}
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tostring(tonumber(first[2]) - now), tostring(limit), tostring(window)}
"""

# KEYS: slots, settings. ARGV: member, default window.
_RELEASE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window = tonumber(redis.call('HGET', KEYS[2], 'window') or ARGV[2])
redis.call('ZADD', KEYS[1], now + window, ARGV[1])
return 1
"""

# KEYS: slots, settings. ARGV: limit, window, remaining (-1: unknown), member prefix.
_LEARN = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('HSET', KEYS[2], 'limit', limit, 'window', window)
redis.call('EXPIRE', KEYS[2], 86400)
local remaining = tonumber(ARGV[3])
if remaining >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  local foreign = (limit - remaining) - redis.call('ZCARD', KEYS[1])
  for i = 1, foreign do
    redis.call('ZADD', KEYS[1], now + window, ARGV[4] .. i)
  end
end
return 1
"""

# KEYS: pause. ARGV: seconds.
_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local until_ = now + tonumber(ARGV[1])
if until_ > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], tostring(until_), 'PX', math.ceil(tonumber(ARGV[1]) * 1000) + 1000)
end
return 1
"""


class RedisRateLimiter:
    """A ``RateLimiter`` whose windows live in Redis, shared by every process using one token."""

    def __init__(
        self,
        redis: Redis,
        token: str,
        *,
        namespace: str,
        burst_limit: int,
        search_rate: int,
        hold_s: float,
        burst_window_s: float = 10.0,
    ) -> None:
        scope = hashlib.sha256(token.encode()).hexdigest()[:24]
        self._redis = redis
        self._prefix = f"{namespace}:hubspot:{scope}"
        self._hold = hold_s
        self._known = {BURST: (burst_limit, burst_window_s), SEARCH: (search_rate, 1.0)}
        self._defaults = dict(self._known)
        #: one sender of this process asks Redis at a time per bucket; the others queue behind it
        self._turns = {BURST: asyncio.Lock(), SEARCH: asyncio.Lock()}
        self._acquire = redis.register_script(_ACQUIRE)
        self._release = redis.register_script(_RELEASE)
        self._learn = redis.register_script(_LEARN)
        self._pause = redis.register_script(_PAUSE)

    def _keys(self, bucket: str) -> list[str]:
        base = f"{self._prefix}:{bucket}"
        return [f"{base}:slots", f"{base}:settings", f"{base}:pause"]

    def limit(self, bucket: str) -> tuple[int, float]:
        return self._known[bucket]

    async def acquire(self, bucket: str) -> Permit:
        """Waits out a Redis outage too: sending without the shared count could overrun the
        portal's limit, and a scan that waits loses nothing."""
        member = secrets.token_hex(8)
        limit, window = self._defaults[bucket]
        outage = 0.0
        async with self._turns[bucket]:
            while True:
                try:
                    taken, wait, known_limit, known_window = await self._acquire(
                        keys=self._keys(bucket), args=[member, self._hold, limit, window]
                    )
                except RedisError as exc:
                    outage = min(max(outage * 2, 0.1), OUTAGE_WAIT_MAX_S)
                    log.warning("pacing waits for Redis (%s)", type(exc).__name__)
                    await asyncio.sleep(outage)
                    continue
                self._known[bucket] = (int(float(known_limit)), float(known_window))
                if int(taken):
                    return Permit(bucket, time.monotonic(), member)
                await asyncio.sleep(min(max(float(wait), 0.001), POLL_S))

    async def release(self, permit: Permit) -> None:
        keys = self._keys(permit.bucket)[:2]
        with contextlib.suppress(RedisError):  # the held slot then frees at its hold deadline
            await self._release(keys=keys, args=[permit.slot, self._defaults[permit.bucket][1]])

    async def learn(self, bucket: str, limit: int, window_s: float, remaining: int | None) -> None:
        limit, window_s = max(limit, 1), max(window_s, 0.001)
        self._known[bucket] = (limit, window_s)
        args: list[Any] = [
            limit,
            window_s,
            -1 if remaining is None else remaining,
            f"foreign:{secrets.token_hex(4)}:",
        ]
        with contextlib.suppress(RedisError):  # learnt again from the next answer
            await self._learn(keys=self._keys(bucket)[:2], args=args)

    async def pause(self, bucket: str, seconds: float) -> None:
        with contextlib.suppress(RedisError):  # the retry's own backoff still applies
            await self._pause(keys=[self._keys(bucket)[2]], args=[max(seconds, 0.001)])
