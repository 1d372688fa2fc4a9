from django.db import models
from django.urls import reverse


class ChatRoom(models.Model):
    """A place to talk. People create rooms in the admin; the chat itself comes later."""

    name = models.CharField(max_length=200)

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("chat:chat_room", args=[self.id])
