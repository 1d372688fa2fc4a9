from django.shortcuts import get_object_or_404, render

from .models import ChatRoom


def index(request):
    """List every room, in name order."""
    chat_list = ChatRoom.objects.order_by("name")
    return render(request, "chats/index.html", {"chat_list": chat_list})


def chat_room(request, chat_room_id):
    """Show one room; an id that matches no room is a 404."""
    chat = get_object_or_404(ChatRoom, pk=chat_room_id)
    return render(request, "chats/chat_room.html", {"chat": chat})
