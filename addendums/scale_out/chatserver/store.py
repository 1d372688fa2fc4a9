"""The messages in Django's database: storing them, and reading them back.

Every function here runs in a thread (MessageStore hands them to deferToThread), because a
query may take a moment and the reactor must never wait for one. What comes back is a
Deferred, as for rooms and sessions.

Ids are given by the database, in the transaction that stores the messages: the room's
last_seq goes up by the number of new messages, and they take the ids below it. So ids
carry on across restarts, and two chat processes writing to one database can never hand
out the same id: PostgreSQL locks the room's row for the UPDATE until the commit, so the
second waits for the first's transaction to end. Ids are handed out in the order the
transactions commit: whoever has seen id N can read every id below it from the database.
"""

from collections import Counter
from datetime import UTC, datetime

from twisted.internet import threads
from twisted.logger import Logger

from chatserver.messages import Rejected, chat_message, iso_time

log = Logger()

DELETED_AUTHOR = "(account deleted)"
"""Shown as the author of a message whose account has since been deleted."""


class MessageStore:
    """The database, as the chat server asks it things: each call returns a Deferred."""

    def latest(self, room_id, count):
        """Fires with (the room's last id, its latest `count` messages, oldest first)."""
        return threads.deferToThread(latest_messages, room_id, count)

    def after(self, room_id, cursor, count):
        """Fires with (up to `count` messages after id `cursor`, oldest first, the last id)."""
        return threads.deferToThread(messages_after, room_id, cursor, count)

    def save(self, drafts):
        """Store drafts (messages.Draft) in one transaction. Fires with one outcome for each:
        (the message as clients will see it, True if it is new, False if its ref was
        stored before), or a Rejected saying why it could not be stored."""
        return threads.deferToThread(save_drafts, drafts)


def as_message(row):
    """A stored Message as clients receive it."""
    author = row.author.get_username() if row.author is not None else DELETED_AUTHOR
    return chat_message(row.seq, row.room_id, author, row.text, iso_time(row.sent), row.ref)


def latest_messages(room_id, count):
    from django.db import close_old_connections, transaction

    from chat.models import ChatRoom, Message

    close_old_connections()
    # One transaction, so that the last id and the messages are read at the same moment.
    with transaction.atomic(durable=True):
        last_id = ChatRoom.objects.filter(pk=room_id).values_list("last_seq", flat=True).first()
        rows = Message.objects.filter(room_id=room_id).select_related("author")
        newest = list(rows.order_by("-seq")[:count])
    return last_id or 0, [as_message(row) for row in reversed(newest)]


def messages_after(room_id, cursor, count):
    from django.db import close_old_connections, transaction

    from chat.models import ChatRoom, Message

    close_old_connections()
    with transaction.atomic(durable=True):
        last_id = ChatRoom.objects.filter(pk=room_id).values_list("last_seq", flat=True).first()
        rows = Message.objects.filter(room_id=room_id, seq__gt=cursor).select_related("author")
        found = list(rows.order_by("seq")[:count])
    return [as_message(row) for row in found], last_id or 0


def save_drafts(drafts):
    """Store a group of drafts at once: one transaction, one commit, one wait for the disk.

    If the group breaks a rule of the database (its room or author has just been deleted,
    say), each draft is tried on its own, so that one bad message cannot keep the others out.
    """
    from django.db import IntegrityError, close_old_connections

    close_old_connections()
    try:
        return store_together(drafts)
    except IntegrityError:
        if len(drafts) == 1:
            log.failure("could not store a message")
            return [Rejected("cannot_store", "This message cannot be stored, however often sent.")]
    return [outcome for draft in drafts for outcome in save_drafts([draft])]


def store_together(drafts):
    from django.db import transaction
    from django.db.models import F

    from chat.models import ChatRoom, Message

    outcomes = [None] * len(drafts)
    # durable=True: this must be a transaction of its own, committed when the block ends,
    # never a part of a bigger one that could still be rolled back.
    with transaction.atomic(durable=True):
        # 1. Drafts whose ref their author has used before in the room: stored already.
        refs = {draft.ref for draft in drafts if draft.ref is not None}
        stored = {}
        if refs:
            rooms = {draft.room_id for draft in drafts}
            found = Message.objects.filter(room_id__in=rooms, ref__in=refs)
            for row in found.select_related("author"):
                stored[(row.room_id, row.author_id, row.ref)] = as_message(row)
        new = []  # (place in drafts, draft), for the drafts to store now
        first_with_ref = {}  # (room, author, ref) -> place of its first draft in this group
        for place, draft in enumerate(drafts):
            key = (draft.room_id, draft.author.id, draft.ref)
            if draft.ref is not None and key in stored:
                outcomes[place] = (stored[key], False)
            elif draft.ref is not None and key in first_with_ref:
                outcomes[place] = first_with_ref[key]  # sent twice in one group
            else:
                new.append((place, draft))
                if draft.ref is not None:
                    first_with_ref[key] = place
        # 2. Ids, from each room's counter. The UPDATE locks the room's row until the
        # commit: nobody else can take the same ids. Rooms are locked in id order, so two
        # processes storing in the same two rooms never wait for each other in a circle.
        per_room = Counter(draft.room_id for _, draft in new)
        next_id = {}
        for room_id, count in sorted(per_room.items()):
            ChatRoom.objects.filter(pk=room_id).update(last_seq=F("last_seq") + count)
            last_id = ChatRoom.objects.filter(pk=room_id).values_list("last_seq", flat=True).first()
            next_id[room_id] = None if last_id is None else last_id - count + 1
        # 3. The messages themselves, in one INSERT.
        rows = []
        for place, draft in new:
            message_id = next_id[draft.room_id]
            if message_id is None:
                outcomes[place] = Rejected("no_such_room", "This room no longer exists.")
                continue
            next_id[draft.room_id] += 1
            sent = datetime.fromtimestamp(draft.sent, UTC)
            rows.append(
                Message(
                    room_id=draft.room_id,
                    seq=message_id,
                    author_id=draft.author.id,
                    text=draft.text,
                    sent=sent,
                    ref=draft.ref,
                )
            )
            outcomes[place] = (draft.message(message_id), True)
        Message.objects.bulk_create(rows)
    # A draft sent twice in one group has the outcome of the first, as a repeat.
    return [repeat_of(outcomes[o]) if isinstance(o, int) else o for o in outcomes]


def repeat_of(outcome):
    """The outcome for a second draft with the same ref as one with this outcome."""
    return outcome if isinstance(outcome, Rejected) else (outcome[0], False)
