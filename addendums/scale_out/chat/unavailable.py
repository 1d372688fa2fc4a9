"""A page in plain words, not a traceback, while PostgreSQL cannot be reached.

When the database is down (restarting, say), every view that asks it something raises
OperationalError or InterfaceError. Django would answer 500, with a traceback under DEBUG;
the truth is "503 Service Unavailable, try again in a moment", so that is what people get.
Once PostgreSQL is back, Django opens new connections by itself (CONN_HEALTH_CHECKS).
"""

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.template.loader import render_to_string

RETRY_AFTER = 5
"""Seconds a browser or a program is asked to wait before it tries again."""


class DatabaseUnavailable:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        # Rendered without the request, whose user would be looked up in the database too.
        page = render_to_string("chats/database_down.html", {"path": request.get_full_path()})
        response = HttpResponse(page, status=503)
        response["Retry-After"] = str(RETRY_AFTER)
        return response
