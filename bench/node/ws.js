// The bare broadcast on Node's `ws`, as bench/bare_server.py is ours: a client of
// /ws/<room> gets a welcome frame, and every frame it sends goes, as it came, to everyone
// in that room, itself included. No checks, no limits, no compression: the least a room
// chat can do on Node, and so the limit Node sets on this machine.
"use strict";

const { WebSocketServer } = require("ws");
const { address } = require("./listen");

const WELCOME = '{"type": "welcome"}';
const { host, port } = address(process.argv);
const rooms = new Map();
const server = new WebSocketServer({ host, port, perMessageDeflate: false });

server.on("connection", (socket, request) => {
  const name = decodeURIComponent((request.url || "").replace(/^\/ws\//, ""));
  if (!rooms.has(name)) rooms.set(name, new Set());
  const room = rooms.get(name);
  room.add(socket);
  socket.send(WELCOME);
  socket.on("message", (data, isBinary) => {
    for (const client of room) client.send(data, { binary: isBinary });
  });
  socket.on("close", () => {
    room.delete(socket);
    if (room.size === 0) rooms.delete(name);
  });
});
