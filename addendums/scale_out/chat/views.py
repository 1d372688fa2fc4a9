from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, render

from .models import ChatRoom, Message


@login_required
def index(request):
    """List every room, in name order."""
    chat_list = ChatRoom.objects.order_by("name")
    return render(request, "chats/index.html", {"chat_list": chat_list})


@login_required
def chat_room(request, chat_room_id):
    """Show one room, chatting over a WebSocket; no room is a 404."""
    return render_room(request, chat_room_id, "chats/chat_room.html")


@login_required
def long_poll_room(request, chat_room_id):
    """Show the same room, chatting over HTTP long-polling instead; no room is a 404."""
    return render_room(request, chat_room_id, "chats/long_poll.html")


def render_room(request, chat_room_id, template):
    """A room page with the room's latest messages, telling its script which room it is, the
    id of the last message shown (to carry on from), how long polls are held, the token its
    POSTs must carry, who is logged in, and where to log in again if the chat server says so."""
    chat = get_object_or_404(ChatRoom, pk=chat_room_id)
    latest = Message.objects.filter(room=chat).select_related("author").order_by("-seq")
    shown = list(reversed(latest[: settings.CHAT_PAGE_MESSAGES]))
    chat_server = {
        "room": chat.id,
        # The last message on the page; with none, the room's last id as read before them,
        # so that a message stored in between is not skipped.
        "last_id": shown[-1].seq if shown else chat.last_seq,
        "poll_timeout": settings.CHAT_POLL_TIMEOUT,
        "longest_retry_ms": settings.CHAT_LONGEST_RETRY_MS,
        "csrf_token": get_token(request),
        "login_url": redirect_to_login(request.get_full_path()).url,
        "username": request.user.get_username(),
    }
    context = {"chat": chat, "chat_messages": shown, "chat_server": chat_server}
    return render(request, template, context)
