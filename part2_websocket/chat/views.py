from django.conf import settings
from django.shortcuts import get_object_or_404, render

from .models import ChatRoom


def index(request):
    """List every room, in name order."""
    chat_list = ChatRoom.objects.order_by("name")
    return render(request, "chats/index.html", {"chat_list": chat_list})


def chat_room(request, chat_room_id):
    """Show one room, and tell its script where the chat server is; no room is a 404."""
    chat = get_object_or_404(ChatRoom, pk=chat_room_id)
    chat_server = {
        "room": chat.id,
        "url": settings.CHAT_SERVER_URL,
        "port": settings.CHAT_PORT,
        "longest_retry_ms": settings.CHAT_LONGEST_RETRY_MS,
    }
    return render(request, "chats/chat_room.html", {"chat": chat, "chat_server": chat_server})
