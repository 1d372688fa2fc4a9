// The bare broadcast on Node's `ws`, as bench/bare_server.py is ours: a client of
// /ws/<room> gets a welcome frame, and every frame it sends goes, as it came, to everyone
// in that room, itself included. No checks, no limits, no compression: the least a room
// chat can do on Node, and so the limit Node sets on this machine.
//
// A broadcast is framed once for the whole room and the same bytes written to every
// client, as bare_server.py does with Autobahn's prepareMessage and as Socket.IO does when
// it broadcasts (socket.io-adapter): ws's Sender.frame and the sender's sendFrame, the way
// ws's maintainers point to for it (https://github.com/websockets/ws/issues/617).
"use strict";

const WebSocket = require("ws");
const { address } = require("./listen");

const WELCOME = '{"type": "welcome"}';
const TEXT = 1;
const BINARY = 2;
const { host, port } = address(process.argv);
const rooms = new Map();
const server = new WebSocket.WebSocketServer({ host, port, perMessageDeflate: false });

function framed(data, isBinary) {
  const options = { fin: true, mask: false, readOnly: false, rsv1: false };
  return WebSocket.Sender.frame(data, { ...options, opcode: isBinary ? BINARY : TEXT });
}

server.on("connection", (socket, request) => {
  const name = decodeURIComponent((request.url || "").replace(/^\/ws\//, ""));
  if (!rooms.has(name)) rooms.set(name, new Set());
  const room = rooms.get(name);
  room.add(socket);
  socket.send(WELCOME);
  socket.on("message", (data, isBinary) => {
    const frame = framed(data, isBinary);
    for (const client of room) {
      if (client.readyState === WebSocket.OPEN) client._sender.sendFrame(frame);
    }
  });
  // A client that breaks the protocol (a bad close code, say) has its socket closed by ws;
  // without a listener, the error would end the whole server.
  socket.on("error", () => socket.terminate());
  socket.on("close", () => {
    room.delete(socket);
    if (room.size === 0) rooms.delete(name);
  });
});
