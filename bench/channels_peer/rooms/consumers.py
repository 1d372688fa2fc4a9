"""One consumer per WebSocket: it joins its room's group and relays the room's messages."""

import json

from channels.generic.websocket import AsyncWebsocketConsumer


class RoomConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.group = "chat_" + self.scope["url_route"]["kwargs"]["room"]
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        """A message from this client goes to everyone in the group, this client included."""
        said = json.loads(text_data)["message"]
        await self.channel_layer.group_send(self.group, {"type": "chat.message", "message": said})

    async def chat_message(self, event):
        """Called for every "chat.message" the group hands this consumer."""
        await self.send(text_data=json.dumps({"message": event["message"]}))
