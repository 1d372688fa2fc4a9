"""Settings of the Channels peer: a chat in the shape of the Django Channels tutorial's.

The bench sets the channel layer through the environment:
    PEER_CHANNEL_LAYER  "memory" (the default) or "redis"
    PEER_REDIS_PORT     the port of the redis-server the bench started
    PEER_CAPACITY       messages a channel may hold before more are dropped
    PEER_REDIS_CONNECTIONS
                        connections the Redis layer's pool may hold at once
"""

import os
from pathlib import Path

SECRET_KEY = "channels-peer-of-the-bench-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "channels",
    "rooms",
]
ROOT_URLCONF = "channels_chat.urls"
ASGI_APPLICATION = "channels_chat.asgi.application"

# Nothing here queries the database (no user logs in), but the session and auth apps
# the tutorial's middleware uses want one configured.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("PEER_DB_PATH", str(Path(__file__).parent / "unused.sqlite3")),
    }
}

_capacity = int(os.environ.get("PEER_CAPACITY", "100"))
if os.environ.get("PEER_CHANNEL_LAYER", "memory") == "redis":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "host": "127.0.0.1",
                        "port": int(os.environ["PEER_REDIS_PORT"]),
                        "max_connections": int(os.environ.get("PEER_REDIS_CONNECTIONS", "100")),
                    }
                ],
                "capacity": _capacity,
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": _capacity},
        }
    }

USE_TZ = True
