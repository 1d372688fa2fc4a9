"""A token bucket: how many messages a person may send, however many tabs they chat from.

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


class BucketsByPerson:
    """A TokenBucket for each person, shared by their WebSockets and their POSTs.

    Counting by person, not by connection or address, is fair both ways: one person cannot
    get more by opening more tabs, and people behind one address (a school's, an office's
    NAT) no longer share one bucket.

    A bucket that has had time to fill up again is no different from a new one, so it is
    forgotten: the table holds only the people who sent something lately.
    """

    def __init__(self, rate, burst):
        self.rate = rate
        self.burst = burst
        self.refill_time = burst / rate  # seconds for an empty bucket to fill up again
        self.buckets = {}  # person id -> TokenBucket
        self.swept = None  # when full buckets were last forgotten

    def take(self, person_id, now):
        """Spend a token of `person_id`. Returns 0 if they had one, else the seconds to wait."""
        self.forget_full_buckets(now)
        bucket = self.buckets.get(person_id)
        if bucket is None:
            bucket = self.buckets[person_id] = TokenBucket(self.rate, self.burst, now)
        return bucket.take(now)

    def forget_full_buckets(self, now):
        # At most once per refill_time, so that a busy server does not look through the
        # whole table on every message.
        if self.swept is not None and now - self.swept < self.refill_time:
            return
        self.swept = now
        for person_id, bucket in list(self.buckets.items()):
            if now - bucket.updated >= self.refill_time:
                del self.buckets[person_id]
