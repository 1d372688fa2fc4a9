"""Where each room's WebSocket lives: /ws/chat/<room name>/."""

from django.urls import re_path

from rooms.consumers import RoomConsumer

websocket_urlpatterns = [
    re_path(r"^ws/chat/(?P<room>[A-Za-z0-9_-]{1,80})/$", RoomConsumer.as_asgi()),
]
