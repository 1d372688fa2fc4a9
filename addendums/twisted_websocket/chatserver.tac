"""Run the chat server with twistd, from this folder:

    twistd -n -y chatserver.tac

twistd reads this file, takes the `application` it defines and runs it until Ctrl-C.
-n keeps it in the foreground, logging to the terminal. Settings come from environment
variables; chatserver/config.py lists them all.
"""

import os
import sys

# twistd does not put the current folder on sys.path, and both the chat server and the
# Django project it reads rooms from live next to this file.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import django
from twisted.application import internet, service

from chatserver.config import Config, ConfigError
from chatserver.factory import ChatServerFactory
from chatserver.longpoll import LongPollService
from chatserver.web import ChatSite

try:
    config = Config.from_environ(os.environ)
except ConfigError as problem:
    sys.exit(f"chatserver.tac: {problem}")

# The chat server asks Django's database which rooms exist, so Django must be set up
# before the first client arrives.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_twisted_chat.settings")
django.setup()

factory = ChatServerFactory(config)
site = ChatSite(factory)

application = service.Application("chatserver")
internet.TCPServer(config.port, site, interface=config.interface).setServiceParent(application)
# When twistd stops, this answers the long-polls still waiting, before the connections close.
LongPollService(factory).setServiceParent(application)
