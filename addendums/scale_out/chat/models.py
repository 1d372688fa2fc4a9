from django.conf import settings
from django.db import models
from django.urls import reverse


class ChatRoom(models.Model):
    """A place to talk. People create rooms in the admin; the chat server keeps what is said."""

    name = models.CharField(max_length=200)
    last_seq = models.PositiveBigIntegerField(
        "last message id",
        default=0,
        editable=False,
        help_text="The id of the room's newest message, counting from 1. It only ever grows: "
        "messages pruned away leave their ids unused.",
    )

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("chat:chat_room", args=[self.id])


class Message(models.Model):
    """One line of a room's conversation, stored before anyone is shown it.

    seq is the id clients know it by: 1, 2, 3... in each room, taken from the room's
    last_seq in the same transaction that stores the message. ref is the sender's own name
    for it, so that a message sent again after a lost connection is stored only once.
    """

    room = models.ForeignKey(ChatRoom, on_delete=models.CASCADE, related_name="messages")
    seq = models.PositiveBigIntegerField("id in the room")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField()
    sent = models.DateTimeField()
    ref = models.CharField(max_length=64, null=True, blank=True)

    class Meta:
        ordering = ["room", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="one_message_per_id"),
            models.UniqueConstraint(fields=["room", "author", "ref"], name="one_message_per_ref"),
        ]

    def __str__(self):
        return f"{self.room_id}/{self.seq}: {self.text[:40]}"
