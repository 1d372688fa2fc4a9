// The room page's WebSocket client: one socket to the Twisted chat server,
// reconnecting with backoff. Drawing the page is room.js's job.
//
// It remembers the id of the last message it got (Django's page starts it at
// the last one drawn), and every connection asks for what came after it:
// /ws/<room>?after=<id>. So a break loses nothing and repeats nothing. What
// is typed waits in the outbox until the server acknowledges it, and is sent
// again, under the same ref, on the next connection.
"use strict";

(function () {
  const page = window.chatRoomPage;

  let socket = null;
  let attempts = 0;
  let lastId = page.config.last_id; // the last message this page has been sent
  let holdUntil = 0; // after a rate limit: nothing more is sent before then
  let holdTimer = null;

  // Send whatever waits in the outbox and has not gone out on this socket
  // (each entry remembers the socket it was last sent on).
  function sendOutbox() {
    if (!socket || socket.readyState !== WebSocket.OPEN || Date.now() < holdUntil) {
      return;
    }
    for (const entry of page.unsent()) {
      if (entry.sentOn !== socket) {
        socket.send(JSON.stringify({ text: entry.text, ref: entry.ref }));
        entry.sentOn = socket;
      }
    }
  }

  // The server asks us to wait: send nothing before then, and then the rest.
  function holdFor(seconds) {
    holdUntil = Math.max(holdUntil, Date.now() + seconds * 1000);
    window.clearTimeout(holdTimer);
    holdTimer = window.setTimeout(holdOver, holdUntil - Date.now());
  }

  // The latest hold's timer: the wait is over, whatever Date.now() says. A
  // timer rounds its delay down to a whole millisecond, so it may fire a
  // fraction before holdUntil, and the outbox would then wait for ever.
  function holdOver() {
    holdUntil = 0;
    sendOutbox();
  }

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
      sendOutbox();
    } else if (data.type === "message") {
      lastId = Math.max(lastId, data.id);
      page.showMessage(data);
    } else if (data.type === "ack") {
      page.acknowledged(data.ref, data.id);
    } else if (data.type === "missed") {
      page.showMissed(data.detail);
    } else if (data.type === "error") {
      onError(data);
    }
    // Any other type is a newer server's extension: passed over.
  }

  function onError(error) {
    const mine = page.unsent().find((entry) => entry.ref === error.ref);
    if (!mine) {
      page.showError(error.detail);
    } else if (error.code === "rate_limited" || error.code === "not_stored") {
      mine.sentOn = null; // it goes again, in its turn, once the wait is over
      holdFor(error.retry_after || 1);
    } else {
      page.giveBack(error.ref, error.detail);
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
    const url = page.serverUrl("wss:", "ws:") + "/ws/" + page.config.room + "?after=" + lastId;
    socket = new WebSocket(url);
    socket.addEventListener("message", onServerMessage);
    socket.addEventListener("close", onClose);
  }

  page.onEnter(function (text) {
    page.queue(text); // shown as "sending…" until the server has stored it
    sendOutbox();
    return true;
  });

  connect();
})();
