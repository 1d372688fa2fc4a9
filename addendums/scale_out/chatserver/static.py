"""Django's static files (the chat's script and style, the admin's), served by twisted.web.

Under runserver, Django served them; in production no Django server does, because a file
needs no Python to be sent. Here twisted.web's static.File sends them, on the reactor: it
reads a file a piece at a time as the connection takes it, so no page thread is needed.

Where they come from:
- DJANGO_STATIC_ROOT set, as in a deployment: `python manage.py collectstatic` has copied
  every app's files into that folder, and we serve what is there. Browsers may keep them an
  hour; run collectstatic again (and restart) after changing one.
- unset, in development: Django's finders know each app's static folder, so there is
  nothing to collect, and browsers ask again each time, so an edited file shows at once.

Either way the files are listed once, at start-up: a request names a file in that list or
gets a 404, so no URL can reach a file outside it ("/static/../../settings.py").
"""

import os

from twisted.web import static
from twisted.web.pages import notFound
from twisted.web.resource import Resource


class StaticFiles(Resource):
    """/static/<path>: the files listed at start-up, with their content type."""

    isLeaf = True

    def __init__(self, files, cache_control):
        super().__init__()
        self.files = files  # URL path under /static/, such as "chat/room.js" -> file on disk
        self.cache_control = cache_control

    def render(self, request):
        path = b"/".join(request.postpath).decode("utf-8", "replace")
        found = self.files.get(path)
        if found is None:
            return notFound().render(request)
        request.setHeader(b"cache-control", self.cache_control)
        # Browsers must believe the content type (text/css, text/javascript), not guess it.
        request.setHeader(b"x-content-type-options", b"nosniff")
        return static.File(found, defaultType="application/octet-stream").render(request)


def static_files(settings):
    """The StaticFiles for these Django settings: collected ones, or the apps' own."""
    if settings.STATIC_ROOT:
        return StaticFiles(collected_files(settings.STATIC_ROOT), b"public, max-age=3600")
    return StaticFiles(found_files(), b"no-cache")


def collected_files(static_root):
    """Every file under STATIC_ROOT, by its path there."""
    files = {}
    for folder, _, names in os.walk(static_root):
        for name in names:
            full = os.path.join(folder, name)
            files[os.path.relpath(full, static_root).replace(os.sep, "/")] = full
    return files


def found_files():
    """Every file Django's finders know, as collectstatic would copy them: when two apps
    have a file of the same name, the first finder's (and the first app's) wins."""
    from django.apps import apps
    from django.contrib.staticfiles.finders import get_finders

    ignore = apps.get_app_config("staticfiles").ignore_patterns  # "*~", ".*", "CVS"
    files = {}
    for finder in get_finders():
        for path, storage in finder.list(ignore):
            files.setdefault(path.replace(os.sep, "/"), storage.path(path))
    return files
