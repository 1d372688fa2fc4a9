from django.contrib import admin

from .models import ChatRoom, Message


@admin.register(ChatRoom)
class ChatRoomAdmin(admin.ModelAdmin):
    list_display = ["name", "id", "last_seq"]
    search_fields = ["name"]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """The messages, to read and search, never to write: they are the record of what people
    saw, and only the chat server stores them (prune_messages removes the old ones)."""

    list_display = ["room", "seq", "author", "sent", "text"]
    list_filter = ["room"]
    search_fields = ["text", "author__username"]
    list_select_related = ["room", "author"]
    ordering = ["-sent"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
