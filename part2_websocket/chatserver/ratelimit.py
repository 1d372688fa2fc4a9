"""A token bucket: how many messages a connection may send, and how often.

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
