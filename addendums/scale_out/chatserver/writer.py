"""Group commit: storing messages a group at a time, one transaction each, one after another.

A commit is the slow part of storing a message: the database waits until the disk says the
data is on it. One commit per message would make a busy room wait for the disk once per
line. So while one group is being written, the messages that arrive meanwhile wait in line,
and go together in the next transaction, however many there are (up to CHAT_WRITE_BATCH).
A quiet room pays nothing for this: a lone message is written at once, on its own.

Only one group is written at a time, so the groups commit in the order they were formed,
and the ids they are given go up in the order people sent the messages.
"""

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from chatserver.messages import Rejected

log = Logger()

RETRY_AFTER_FAILURE = 1
"""Seconds a client should wait before sending again a message the database did not take."""


class Writer:
    def __init__(self, save, batch_size):
        self.save = save  # list of Drafts -> Deferred of their outcomes (store.py's save)
        self.batch_size = batch_size
        self.waiting = []  # (draft, Deferred) for the drafts not yet handed to save
        self.writing = False  # a group is being written
        self.idle_waiters = []  # Deferreds for idle(), fired when nothing is left to write

    def write(self, draft):
        """Store a draft; the Deferred fires with (message, is_new) once it is committed,
        or fails with Rejected when it could not be stored."""
        stored = Deferred()
        self.waiting.append((draft, stored))
        self.write_next_group()
        return stored

    def write_next_group(self):
        if self.writing:
            return  # the group being written will start the next one when it is done
        if not self.waiting:
            waiters, self.idle_waiters = self.idle_waiters, []
            for waiter in waiters:
                waiter.callback(None)
            return
        group, self.waiting = self.waiting[: self.batch_size], self.waiting[self.batch_size :]
        self.writing = True
        written = maybeDeferred(self.save, [draft for draft, _ in group])
        written.addBoth(self.group_written, group)

    def group_written(self, outcomes, group):
        self.writing = False
        if isinstance(outcomes, Failure):
            log.failure("could not store {count} messages", outcomes, count=len(group))
            problem = Rejected(
                "not_stored",
                "The message could not be stored just now; send it again in a moment.",
                retry_after=RETRY_AFTER_FAILURE,
            )
            outcomes = [problem] * len(group)
        # In the order they were sent: each is broadcast as its Deferred fires.
        for (_, stored), outcome in zip(group, outcomes, strict=True):
            if isinstance(outcome, Exception):
                stored.errback(Failure(outcome))
            else:
                stored.callback(outcome)
        self.write_next_group()

    def idle(self):
        """A Deferred that fires once every message handed to write has been dealt with."""
        waiter = Deferred()
        self.idle_waiters.append(waiter)
        if not self.writing and not self.waiting:
            self.write_next_group()
        return waiter
