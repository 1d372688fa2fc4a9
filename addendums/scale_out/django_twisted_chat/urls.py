"""The site's URLs: the chat app under /chats/, accounts, the admin, and / sending people to
the rooms."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="chat:index"), name="home"),
    path("chats/", include("chat.urls")),
    path("accounts/", include("accounts.urls")),
    path("admin/", admin.site.urls),
]
