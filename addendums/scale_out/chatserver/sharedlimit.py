"""One token bucket per person across every chat process, kept in Redis.

A person chatting from two tabs may reach two different processes; with a bucket in each,
they would have twice the budget. So the bucket lives in Redis, and a Lua script spends its
tokens: Redis runs a script from start to end with nothing else in between, so two
processes taking a token at the same moment cannot both see the last one. The rules are
ratelimit.py's TokenBucket's, and "now" is Redis's clock, the same for every process.

While Redis is away, each process counts with its own BucketsByPerson again, and says so
in its log: for a moment a person may send a little more, and nobody is stopped from
chatting.
"""

from twisted.logger import Logger

from chatserver.bus import RedisAway

log = Logger()

TAKE_TOKEN = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call("TIME")
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local saved = redis.call("HMGET", KEYS[1], "tokens", "updated")
local tokens = tonumber(saved[1]) or burst
local updated = tonumber(saved[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - updated) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.ceil((1 - tokens) / rate * 1000)
end
redis.call("HSET", KEYS[1], "tokens", string.format("%.6f", tokens),
           "updated", string.format("%.6f", now))
redis.call("PEXPIRE", KEYS[1], math.ceil(burst / rate * 1000))
return wait
"""
"""Spend a token of the bucket at KEYS[1]; ARGV is rate, burst. Returns 0 if there was one,
else the milliseconds until there will be. A bucket left alone until it is full again
expires: a missing bucket is a full one."""


class SharedBuckets:
    """Like BucketsByPerson, but take returns a Deferred, and the buckets are in Redis."""

    def __init__(self, bus, alone):
        self.bus = bus
        self.alone = alone  # this process's own BucketsByPerson, for while Redis is away
        self.take_token = bus.client.register_script(TAKE_TOKEN)
        self.counting_alone = False

    def take(self, person_id, now):
        """A Deferred of 0 if `person_id` had a token, else of the seconds to wait."""
        taking = self.bus.call(
            self.take_token,
            keys=[f"chat:bucket:{person_id}"],
            args=[self.alone.rate, self.alone.burst],
        )
        taking.addCallbacks(self.taken, self.take_alone, errbackArgs=(person_id, now))
        return taking

    def taken(self, milliseconds):
        if self.counting_alone:
            log.info("rate limits are counted in Redis again, for every process together")
            self.counting_alone = False
        return milliseconds / 1000

    def take_alone(self, failure, person_id, now):
        failure.trap(RedisAway)
        if not self.counting_alone:
            log.warn("Redis is away: this process counts rate limits on its own until it is back")
            self.counting_alone = True
        return self.alone.take(person_id, now)
