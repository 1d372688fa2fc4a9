"""URLs of the chat app. Rooms are identified by their integer id."""

from django.urls import path

from . import views

app_name = "chat"
urlpatterns = [
    path("", views.index, name="index"),
    path("<int:chat_room_id>/", views.chat_room, name="chat_room"),
    path("long_poll/<int:chat_room_id>/", views.long_poll_room, name="long_poll_room"),
]
