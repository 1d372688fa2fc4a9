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
    logged_out: "Logged out",
  };
  const FIRST_RETRY_MS = 500;
  const LONGEST_RETRY_MS = config.longest_retry_ms; // 10 s unless the settings say

  // The chat server's address, to put /ws/<id> or /rooms/<id>/... after: the
  // very place the page came from, since one process serves both. A page
  // loaded over https gets wss:// and https://, so nothing travels in clear.
  function serverUrl(secureScheme, plainScheme) {
    const scheme = window.location.protocol === "https:" ? secureScheme : plainScheme;
    return scheme + "//" + window.location.host;
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
    const author = document.createElement("span");
    author.className = "author";
    author.textContent = message.author;
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = message.text;
    item.append(sent, author, text);
    append(item);
  }

  // The chat server no longer knows who this page belongs to: its session has
  // ended, here or in another tab. Retrying cannot help; logging in again can.
  function showLoggedOut() {
    stateLabel.dataset.state = "logged_out";
    stateLabel.textContent = STATE_TEXT.logged_out;
    inputbox.disabled = true;
    errorBox.replaceChildren("You are logged out — ");
    const link = document.createElement("a");
    link.id = "log_in_again";
    link.href = config.login_url;
    link.textContent = "log in again";
    errorBox.append(link, ".");
    errorBox.hidden = false;
    // The header still names the person and offers to log them out; make it
    // say what any page says to nobody: log in.
    const who = document.getElementById("logged_in_as");
    const logout = document.querySelector(".site-header form.logout");
    if (who && logout) {
      const login = document.createElement("a");
      login.href = config.login_url;
      login.textContent = "Log in";
      who.remove();
      logout.replaceWith(login);
    }
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
    showLoggedOut: showLoggedOut,
    retryDelay: retryDelay,
    onEnter: onEnter,
  };
})();
