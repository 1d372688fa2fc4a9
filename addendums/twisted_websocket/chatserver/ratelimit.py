"""A token bucket: how many messages a connection (or, over HTTP, an address) may send.

The bucket holds up to `burst` tokens and refills at `rate` tokens a second. Each message
takes one token. A person typing never notices; a script sending in a loop soon finds the
bucket empty and is told how long to wait.
"""

import math


class TokenBucket:
    def __init__(self, rate, burst, now):
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.updated = now

    def take(self, now):
        """Spend a token. Returns 0 if there was one, else the seconds until there will be."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0
        # Rounded up to the millisecond, so a client that waits exactly this long succeeds.
        return math.ceil((1 - self.tokens) / self.rate * 1000) / 1000


class BucketsByAddress:
    """A TokenBucket for each client address, for HTTP, where there is no connection to keep one.

    A bucket that has had time to fill up again is no different from a new one, so it is
    forgotten: the table holds only the addresses that sent something lately.
    """

    def __init__(self, rate, burst):
        self.rate = rate
        self.burst = burst
        self.refill_time = burst / rate  # seconds for an empty bucket to fill up again
        self.buckets = {}  # address -> TokenBucket
        self.swept = None  # when full buckets were last forgotten

    def take(self, address, now):
        """Spend a token of `address`. Returns 0 if it had one, else the seconds to wait."""
        self.forget_full_buckets(now)
        bucket = self.buckets.get(address)
        if bucket is None:
            bucket = self.buckets[address] = TokenBucket(self.rate, self.burst, now)
        return bucket.take(now)

    def forget_full_buckets(self, now):
        # At most once per refill_time, so that a busy server does not look through the
        # whole table on every message.
        if self.swept is not None and now - self.swept < self.refill_time:
            return
        self.swept = now
        for address, bucket in list(self.buckets.items()):
            if now - bucket.updated >= self.refill_time:
                del self.buckets[address]
