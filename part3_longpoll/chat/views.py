from django.conf import settings
from django.shortcuts import get_object_or_404, render

from .models import ChatRoom


def index(request):
    """List every room, in name order."""
    chat_list = ChatRoom.objects.order_by("name")
    return render(request, "chats/index.html", {"chat_list": chat_list})


def chat_room(request, chat_room_id):
    """Show one room, chatting over a WebSocket; no room is a 404."""
    return render_room(request, chat_room_id, "chats/chat_room.html")


def long_poll_room(request, chat_room_id):
    """Show the same room, chatting over HTTP long-polling instead; no room is a 404."""
    return render_room(request, chat_room_id, "chats/long_poll.html")


def render_room(request, chat_room_id, template):
    """A room page, telling its script where the chat server is."""
    chat = get_object_or_404(ChatRoom, pk=chat_room_id)
    chat_server = {
        "room": chat.id,
        "url": settings.CHAT_SERVER_URL,
        "port": settings.CHAT_PORT,
        "poll_timeout": settings.CHAT_POLL_TIMEOUT,
        "longest_retry_ms": settings.CHAT_LONGEST_RETRY_MS,
    }
    return render(request, template, {"chat": chat, "chat_server": chat_server})
