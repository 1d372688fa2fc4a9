// The room page's chat client: one WebSocket to the Twisted chat server.
//
// It shows the connection's state (connecting, open, reconnecting) in
// #connection_state, whose data-state attribute is what the tests wait on
// before typing. Received text is always inserted with textContent, so a
// message can never become HTML on somebody else's page.
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("chat-server").textContent);
  const messageList = document.getElementById("message_list");
  const inputbox = document.getElementById("inputbox");
  const stateLabel = document.getElementById("connection_state");
  const errorBox = document.getElementById("chat_error");

  const STATE_TEXT = {
    connecting: "Connecting…",
    open: "Connected",
    reconnecting: "Reconnecting…",
  };
  const FIRST_RETRY_MS = 500;
  const LONGEST_RETRY_MS = config.longest_retry_ms; // 10 s unless the settings say

  let socket = null;
  let attempts = 0;
  let lastSent = ""; // given back if the server refuses it, so nothing is lost

  function chatServerUrl() {
    if (config.url) {
      return config.url.replace(/\/+$/, "") + "/ws/" + config.room;
    }
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + window.location.hostname + ":" + config.port + "/ws/" + config.room;
  }

  function showState(state, retryInSeconds) {
    stateLabel.dataset.state = state;
    stateLabel.dataset.attempts = attempts; // failed tries in a row, for the tests
    stateLabel.textContent = STATE_TEXT[state];
    if (state === "reconnecting" && retryInSeconds) {
      stateLabel.textContent += " (next try in " + retryInSeconds + " s)";
    }
    if (state === "open") {
      // Enabled for good once connected: while reconnecting people may keep
      // typing, and pressing Enter tells them why nothing was sent.
      inputbox.disabled = false;
      inputbox.focus();
    }
  }

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = false;
  }

  function clearError() {
    errorBox.hidden = true;
    errorBox.textContent = "";
  }

  function showMessage(message) {
    const item = document.createElement("li");
    item.dataset.id = message.id;
    const sent = document.createElement("time");
    sent.className = "sent";
    sent.dateTime = message.sent;
    sent.textContent = new Date(message.sent).toLocaleTimeString();
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = message.text;
    item.append(sent, text);
    messageList.append(item);
    messageList.scrollTop = messageList.scrollHeight;
  }

  function onServerMessage(event) {
    let data;
    try {
      data = JSON.parse(event.data);
    } catch (error) {
      showError("The chat server sent something that is not JSON; see the console.");
      console.error("not JSON from the chat server:", event.data);
      return;
    }
    if (data.type === "welcome") {
      attempts = 0;
      inputbox.maxLength = data.limits.max_length;
      showState("open");
    } else if (data.type === "message") {
      showMessage(data);
    } else if (data.type === "error") {
      if (lastSent && !inputbox.value) {
        inputbox.value = lastSent;
        showError(data.detail + " Your message is back in the box.");
      } else {
        showError(data.detail);
      }
      lastSent = "";
    }
  }

  function onClose(event) {
    socket = null;
    attempts += 1;
    // Exponential backoff with jitter, so a restarted server is not hit by every
    // page at the same instant. It never gives up while the page is open.
    const ceiling = Math.min(LONGEST_RETRY_MS, FIRST_RETRY_MS * 2 ** (attempts - 1));
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    showState("reconnecting", Math.ceil(delay / 1000));
    console.info("chat connection closed (code " + event.code + "); retrying in", delay, "ms");
    window.setTimeout(connect, delay);
  }

  function connect() {
    showState(attempts === 0 ? "connecting" : "reconnecting");
    socket = new WebSocket(chatServerUrl());
    socket.addEventListener("message", onServerMessage);
    socket.addEventListener("close", onClose);
  }

  function send() {
    const text = inputbox.value;
    if (!text.trim()) {
      return;
    }
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      showError("Not connected, so your message was not sent. It is still in the box.");
      return;
    }
    socket.send(JSON.stringify({ text: text }));
    lastSent = text;
    inputbox.value = "";
    clearError();
  }

  inputbox.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });

  connect();
})();
