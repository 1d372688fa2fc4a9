from django.apps import AppConfig


class BoardConfig(AppConfig):
    name = "harness.board"
    label = "board"
    verbose_name = "Workshop board"
    default_auto_field = "django.db.models.BigAutoField"
