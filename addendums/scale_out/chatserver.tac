"""Run the whole site with twistd, from this folder: Django's pages, its static files, the
WebSockets and the long-polls, in one process, on one port.

    twistd -n -y chatserver.tac

Start as many as you like, each with its own CHAT_LISTEN, behind a load balancer
(haproxy.cfg): PostgreSQL and Redis join them into one chat.

twistd reads this file, takes the `application` it defines and runs it until Ctrl-C (or
SIGTERM). -n keeps it in the foreground, logging to the terminal. Settings come from
environment variables; chatserver/config.py lists them all.
"""

import os
import sys

# twistd does not put the current folder on sys.path, and both the chat server and the
# Django project live next to this file.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import django
from django.conf import settings
from twisted.application import service, strports
from twisted.internet import reactor

from chatserver.bus import Bus
from chatserver.config import Config, ConfigError
from chatserver.factory import ChatServerFactory
from chatserver.longpoll import LongPollService
from chatserver.pages import django_pages
from chatserver.people import watch_logouts
from chatserver.static import static_files
from chatserver.stopping import WebSocketsGoingAway
from chatserver.web import ChatSite

try:
    config = Config.from_environ(os.environ)
except ConfigError as problem:
    sys.exit(f"chatserver.tac: {problem}")

# Django must be set up before anything asks it for a page, a static file or a room.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_twisted_chat.settings")
django.setup()

# Redis: what this process tells the others, and hears from them (chatserver/bus.py).
bus = Bus(config.redis_url, reactor)
factory = ChatServerFactory(config, bus=bus)
# Logging out, in any tab, closes that login's WebSockets and polls at once.
watch_logouts(factory, reactor)
pages, page_threads = django_pages(reactor, config.page_threads)
site = ChatSite(factory, pages, static_files(settings))

# twistd starts these services in this order. When it stops, it asks them all, last first,
# and waits for each to be done: the port stops taking connections, the WebSockets are told
# goodbye, the waiting polls are answered and the page threads finish what they are doing.
application = service.Application("chatserver")
page_threads.setServiceParent(application)
bus.setServiceParent(application)
LongPollService(factory).setServiceParent(application)
WebSocketsGoingAway(factory).setServiceParent(application)
# CHAT_LISTEN is a Twisted endpoint description: tcp:8000, or ssl:8443:... for https.
strports.service(config.listen, site).setServiceParent(application)
