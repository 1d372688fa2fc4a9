"""Saying goodbye to every WebSocket when the server stops, rather than cutting it off.

twistd stops an application's services, then closes whatever connections are left. A
browser whose WebSocket is cut off sees 1006, "abnormal closure", as if the network had
failed. One told 1001, "going away", knows the server left on purpose, and reconnects.
Messages on their way to the database are stored, and sent out, first.
"""

from twisted.application import service
from twisted.internet.defer import DeferredList


class WebSocketsGoingAway(service.Service):
    def __init__(self, factory):
        self.factory = factory

    def stopService(self):
        super().stopService()
        # The messages already sent are stored, and broadcast, before anyone is told goodbye.
        stored = self.factory.writer.idle()
        stored.addCallback(lambda _: self.say_goodbye())
        # twistd waits for this before it closes the connections and exits.
        return stored

    def say_goodbye(self):
        closing = [
            client.going_away()
            for room in self.factory.rooms.values()
            for client in list(room.clients)
        ]
        return DeferredList(closing)
