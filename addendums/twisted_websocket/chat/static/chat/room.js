// What every room page shares, whichever way it talks to the chat server:
// the connection state, the message list, errors, and sending on Enter.
//
// #connection_state's data-state attribute (connecting, open, reconnecting)
// is what the tests wait on before typing. Received text is always
// inserted with textContent, so a message can never become HTML on the page.
"use strict";

window.chatRoomPage = (function () {
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

  // The chat server's address, to put /ws/<id> or /rooms/<id>/... after: the
  // host the page came from, on CHAT_PORT, unless settings.CHAT_SERVER_URL
  // names it (with or without a path, e.g. wss://example.com/chat).
  function serverUrl(secureScheme, plainScheme) {
    if (config.url) {
      const url = new URL(config.url);
      url.protocol = url.protocol === "wss:" || url.protocol === "https:" ? secureScheme : plainScheme;
      return url.href.replace(/\/+$/, "");
    }
    const scheme = window.location.protocol === "https:" ? secureScheme : plainScheme;
    return scheme + "//" + window.location.hostname + ":" + config.port;
  }

  // `attempts`: the tries in a row that failed, kept for the tests beside the state.
  function showState(state, retryInSeconds, attempts) {
    stateLabel.dataset.state = state;
    stateLabel.dataset.attempts = attempts || 0;
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

  function append(item) {
    messageList.append(item);
    messageList.scrollTop = messageList.scrollHeight;
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
    append(item);
  }

  function showMissed() {
    const item = document.createElement("li");
    item.className = "missed";
    item.textContent = "Some messages were missed while you were away.";
    append(item);
  }

  // Exponential backoff with jitter, so a restarted server is not hit by
  // every page at the same instant.
  function retryDelay(attempt) {
    const ceiling = Math.min(LONGEST_RETRY_MS, FIRST_RETRY_MS * 2 ** (attempt - 1));
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  // Call send(text) when Enter is pressed on a non-blank line. If send returns
  // true the box is cleared; otherwise the text stays for another try. While
  // one send is under way, another Enter waits its turn instead of sending the
  // same text twice.
  function onEnter(send) {
    let sending = false;
    inputbox.addEventListener("keydown", async function (event) {
      if (event.key !== "Enter" || event.isComposing) {
        return;
      }
      event.preventDefault();
      const text = inputbox.value;
      if (sending || !text.trim()) {
        return;
      }
      sending = true;
      try {
        if (await send(text)) {
          if (inputbox.value === text) {
            inputbox.value = "";
          }
          clearError();
        }
      } finally {
        sending = false;
      }
    });
  }

  return {
    config: config,
    serverUrl: serverUrl,
    showState: showState,
    showError: showError,
    showMessage: showMessage,
    showMissed: showMissed,
    retryDelay: retryDelay,
    onEnter: onEnter,
  };
})();
