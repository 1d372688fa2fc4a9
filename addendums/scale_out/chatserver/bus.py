"""Redis: how the chat processes tell each other what happened.

Every process publishes on two channels, and listens to both:

    chat:messages   a message just stored, as clients see it (JSON, with its room id)
    chat:logouts    the session key of a login that has just ended

Pub/sub forgets: a process that is not listening at the moment of a publish never hears
it. Nothing is lost by that, because the messages are in PostgreSQL, with ids: a process
that sees a gap, or that was cut off from Redis, reads what it missed from the database
(rooms.py, Room.arrive and Room.catch_up).

The client is redis-py, the Redis project's own: many maintainers, a release with every
Redis feature. Twisted's txredisapi fits the reactor better and works with this Twisted,
but it is kept by very few hands and its package lists no Python after 3.11. redis-py
blocks, so it never runs on the reactor, like Django's ORM: one thread listens, and hands
each message to the reactor (callFromThread); the commands (PUBLISH, the rate limit's
script) go to a second thread of their own, one at a time, so their answers come back in
the order they were asked, as a Deferred each.
"""

import json
import threading

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from twisted.application import service
from twisted.internet import threads
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

log = Logger()

MESSAGES = "chat:messages"
LOGOUTS = "chat:logouts"

FIRST_RETRY = 0.1
LONGEST_RETRY = 2.0
"""Seconds between tries to reach Redis again: doubling from the first to the longest."""

TIMEOUT = 2.0
"""Seconds to wait for Redis to connect or answer, before counting it as away."""

LISTEN_TIMEOUT = 1.0
"""Seconds the listening thread waits for a message before it looks whether to stop."""


class RedisAway(Exception):
    """Redis cannot be reached just now: the process carries on alone until it is back."""


class Bus(service.Service):
    """A process's link to Redis: publishing, listening, and running commands."""

    def __init__(self, url, reactor):
        self.url = url
        self.reactor = reactor
        # The chat server's factory, set by the factory itself. On the reactor, it hears
        # every message published, by any process, this one included (heard), and is told
        # each time Redis is reached, at start and after every outage (hearing_again).
        self.listener = None
        # No retries: redis-py would otherwise reconnect and subscribe again by itself,
        # silently, and this process would never know that it had missed something.
        self.client = redis.Redis.from_url(
            url,
            socket_timeout=TIMEOUT,
            socket_connect_timeout=TIMEOUT,
            retry=Retry(NoBackoff(), retries=0),
        )
        self.commands = ThreadPool(minthreads=1, maxthreads=1, name="redis-commands")
        self.up = threading.Event()  # set while the listening thread is connected
        self.stopping = threading.Event()

    def startService(self):
        super().startService()
        self.commands.start()
        threading.Thread(target=self.listen, name="redis-listener", daemon=True).start()

    def stopService(self):
        super().stopService()
        self.stopping.set()  # the listener sees it within LISTEN_TIMEOUT, and ends
        return threads.deferToThread(self.commands.stop)

    # -- commands, from the reactor ------------------------------------------------------

    def call(self, command, *args, **kwargs):
        """Run a redis-py command in the commands thread: a Deferred of its answer, which
        fails with RedisAway at once while the listener finds Redis away."""
        return threads.deferToThreadPool(
            self.reactor, self.commands, self.while_up, command, *args, **kwargs
        )

    def while_up(self, command, *args, **kwargs):
        if not self.up.is_set():
            raise RedisAway()
        try:
            return command(*args, **kwargs)
        except redis.RedisError as problem:
            raise RedisAway() from problem

    def publish(self, channel, data):
        """Tell every process, this one included. While Redis is away nobody hears it, and
        the listener's log says so once; the others catch up from the database."""
        sending = self.call(self.client.publish, channel, json.dumps(data))
        sending.addErrback(lambda failure: failure.trap(RedisAway))

    # -- listening, in a thread of its own ----------------------------------------------

    def listen(self):
        """Listen until the service stops; reconnect after every outage, logging it once."""
        delay = FIRST_RETRY
        away = False
        while not self.stopping.is_set():
            pubsub = self.client.pubsub()
            try:
                self.subscribe(pubsub)
                log.info("listening to Redis at {url}", url=self.url)
                away = False
                delay = FIRST_RETRY
                self.up.set()
                self.reactor.callFromThread(self.listener.hearing_again)
                self.hand_on(pubsub)
            except redis.RedisError as problem:
                self.up.clear()
                if not away:
                    log.warn(
                        "Redis at {url} is away ({problem}); this process carries on alone "
                        "and tries again, every {longest} s at most",
                        url=self.url,
                        problem=problem,
                        longest=LONGEST_RETRY,
                    )
                away = True
                self.stopping.wait(delay)
                delay = min(delay * 2, LONGEST_RETRY)
            finally:
                pubsub.close()
        self.up.clear()

    def subscribe(self, pubsub):
        """Subscribe, and wait until Redis says so: from then on no publish is missed, so
        what the catch-up reads from the database afterwards leaves no hole."""
        pubsub.subscribe(MESSAGES, LOGOUTS)
        confirmed = 0
        while confirmed < 2:
            answer = pubsub.get_message(timeout=TIMEOUT)
            if answer is None:
                raise redis.TimeoutError("no answer to SUBSCRIBE")
            confirmed += answer["type"] == "subscribe"

    def hand_on(self, pubsub):
        while not self.stopping.is_set():
            message = pubsub.get_message(timeout=LISTEN_TIMEOUT)
            if message is not None and message["type"] == "message":
                channel = message["channel"].decode()
                self.reactor.callFromThread(self.listener.heard, channel, message["data"])
