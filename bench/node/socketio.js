// The chat as Socket.IO's own "get started" shows it: a client joins its room on
// connecting, and a "message" event goes to everyone in the room, the sender included.
// The room is named in the handshake's query string (?room=<name>), so that the bench's
// crowds, each in a room of their own, hear only each other, as on the other targets.
// Everything else is Socket.IO's defaults: long-polling stays allowed (the bench's client
// asks for WebSocket at once), no compression, a ping every 25 s.
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");
const { address } = require("./listen");

const { host, port } = address(process.argv);
const httpServer = http.createServer();
const io = new Server(httpServer);

io.on("connection", (socket) => {
  const room = String(socket.handshake.query.room || "chat");
  socket.join(room);
  socket.on("message", (data) => {
    io.to(room).emit("message", data);
  });
});

httpServer.listen(port, host);
