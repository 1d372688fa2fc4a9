"""No pages: the bench only opens WebSockets."""

urlpatterns: list[object] = []
