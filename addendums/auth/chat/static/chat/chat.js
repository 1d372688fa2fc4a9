// The room page's WebSocket client: one socket to the Twisted chat server,
// reconnecting with backoff. Drawing the page is room.js's job.
"use strict";

(function () {
  const page = window.chatRoomPage;

  let socket = null;
  let attempts = 0;
  let lastSent = ""; // given back if the server refuses it, so nothing is lost

  function onServerMessage(event) {
    let data;
    try {
      data = JSON.parse(event.data);
    } catch (error) {
      page.showError("The chat server sent something that is not JSON; see the console.");
      console.error("not JSON from the chat server:", event.data);
      return;
    }
    if (data.type === "welcome") {
      attempts = 0;
      document.getElementById("inputbox").maxLength = data.limits.max_length;
      page.showState("open");
    } else if (data.type === "message") {
      page.showMessage(data);
    } else if (data.type === "error") {
      const inputbox = document.getElementById("inputbox");
      if (lastSent && !inputbox.value) {
        inputbox.value = lastSent;
        page.showError(data.detail + " Your message is back in the box.");
      } else {
        page.showError(data.detail);
      }
      lastSent = "";
    }
  }

  // The close code the chat server uses when it does not know who this page
  // belongs to (chatserver/protocol.py): logged out, here or in another tab.
  const LOGGED_OUT = 4001;

  function onClose(event) {
    socket = null;
    if (event.code === LOGGED_OUT) {
      page.showLoggedOut();
      return;
    }
    attempts += 1; // it never gives up while the page is open
    const delay = page.retryDelay(attempts);
    page.showState("reconnecting", Math.ceil(delay / 1000), attempts);
    console.info("chat connection closed (code " + event.code + "); retrying in", delay, "ms");
    window.setTimeout(connect, delay);
  }

  function connect() {
    page.showState(attempts === 0 ? "connecting" : "reconnecting", 0, attempts);
    socket = new WebSocket(page.serverUrl("wss:", "ws:") + "/ws/" + page.config.room);
    socket.addEventListener("message", onServerMessage);
    socket.addEventListener("close", onClose);
  }

  page.onEnter(function (text) {
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      page.showError("Not connected, so your message was not sent. It is still in the box.");
      return false;
    }
    socket.send(JSON.stringify({ text: text }));
    lastSent = text;
    return true;
  });

  connect();
})();
