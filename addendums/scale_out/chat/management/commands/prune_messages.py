"""python manage.py prune_messages: forget what the rooms need not keep any longer.

Each room keeps its latest CHAT_KEEP_MESSAGES messages, and of those only the ones younger
than CHAT_KEEP_DAYS days, when that is set (settings.py). Run it from cron, say once an
hour; the chat server need not stop. Ids are never given again: a room's last_seq stays.
"""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from chat.models import ChatRoom, Message


class Command(BaseCommand):
    help = "Delete the messages each room need not keep (CHAT_KEEP_MESSAGES, CHAT_KEEP_DAYS)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--keep",
            type=int,
            default=settings.CHAT_KEEP_MESSAGES,
            help="messages each room keeps (default: CHAT_KEEP_MESSAGES, %(default)s)",
        )
        parser.add_argument(
            "--days",
            type=int,
            default=settings.CHAT_KEEP_DAYS,
            help="days a message is kept (default: CHAT_KEEP_DAYS, %(default)s: no limit)",
        )

    def handle(self, *args, keep, days, **options):
        if keep < 1 or (days is not None and days < 1):
            raise CommandError("--keep and --days must be at least 1.")
        pruned = rooms = 0
        for room_id in ChatRoom.objects.values_list("pk", flat=True):
            # A room at a time, each in a short transaction: the chat server writes between.
            with transaction.atomic():
                doomed = Message.objects.filter(room_id=room_id)
                newest = doomed.order_by("-seq").values_list("seq", flat=True)
                oldest_kept = newest[keep - 1 : keep].first()
                too_many = doomed.filter(seq__lt=oldest_kept) if oldest_kept else doomed.none()
                too_old = doomed.none()
                if days is not None:
                    too_old = doomed.filter(sent__lt=timezone.now() - timedelta(days=days))
                count, _ = (too_many | too_old).delete()
            if count:
                pruned += count
                rooms += 1
        self.stdout.write(f"Pruned {pruned} messages from {rooms} rooms.")
