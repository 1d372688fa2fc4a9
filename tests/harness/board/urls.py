"""The stage's own URLs, with the board's in front of them."""

from django.urls import include, path

from . import views

urlpatterns = [
    path("workshop/report/", views.receive_report, name="workshop_report"),
    path("board/", views.board, name="board"),
    path("board/state/", views.state, name="board_state"),
    path("", include("django_twisted_chat.urls")),
]
