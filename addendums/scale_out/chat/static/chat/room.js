// What every room page shares, whichever way it talks to the chat server:
// the connection state, the message list, errors, and sending on Enter.
//
// #connection_state's data-state attribute (connecting, open, reconnecting)
// is what the tests wait on before typing. Received text is always
// inserted with textContent, so a message can never become HTML on the page.
//
// The list starts with the latest messages, drawn by Django; the rest arrive
// after them. Every message is shown once, in id order, however often it
// arrives. A message typed here waits in the outbox, shown as "sending…",
// until the chat server says it is stored; chat.js and longpoll.js send it,
// and send it again after a break, under the same ref.
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
      // typing, and what they send waits in the outbox.
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

  // The ids of the messages on the page, and the messages typed here that the
  // chat server has not confirmed yet, by ref, in the order they were typed.
  const shown = new Set();
  const outbox = new Map();

  // Django wrote the times in UTC; show them in the reader's own time, as for
  // the messages that arrive later.
  for (const item of messageList.querySelectorAll("li[data-id]")) {
    shown.add(Number(item.dataset.id));
    const sent = item.querySelector("time");
    sent.textContent = new Date(sent.dateTime).toLocaleTimeString();
  }
  // Open at the newest message, as every chat does: a late joiner reads the
  // end of the conversation first, and scrolls up for the rest.
  messageList.scrollTop = messageList.scrollHeight;

  function line(sentText, author, text) {
    const item = document.createElement("li");
    const sent = document.createElement("time");
    sent.className = "sent";
    sent.textContent = sentText;
    const who = document.createElement("span");
    who.className = "author";
    who.textContent = author;
    const what = document.createElement("span");
    what.className = "text";
    what.textContent = text;
    item.append(sent, who, what);
    return item;
  }

  // Put an item among the messages by id, above the lines still "sending…":
  // usually at the end, but a message may arrive after a newer one (its own
  // POST's answer can come before the poll that brings the one before it).
  function place(item, id) {
    let before = null;
    for (let node = messageList.lastElementChild; node; node = node.previousElementSibling) {
      const newer = node.dataset.id !== undefined && Number(node.dataset.id) > id;
      if (!newer && !node.classList.contains("sending")) {
        break;
      }
      before = node;
    }
    messageList.insertBefore(item, before);
    messageList.scrollTop = messageList.scrollHeight;
  }

  function showMessage(message) {
    if (shown.has(message.id)) {
      return; // shown already: it came again after a reconnect, or from both ways
    }
    shown.add(message.id);
    const item = line(new Date(message.sent).toLocaleTimeString(), message.author, message.text);
    item.dataset.id = message.id;
    item.querySelector("time").dateTime = message.sent;
    const waiting = message.author === config.username && outbox.get(message.ref);
    if (waiting) {
      waiting.item.remove(); // our own, stored: it takes the place of "sending…"
      outbox.delete(message.ref);
    }
    place(item, message.id);
  }

  // A random name for a message typed here, which it keeps however often it is
  // sent. getRandomValues works on plain http too, where randomUUID does not.
  function newRef() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  }

  // Put a typed message in the outbox, shown as "sending…" at the end of the list.
  function queue(text) {
    const entry = { ref: newRef(), text: text, item: line("sending…", config.username, text) };
    entry.item.className = "sending";
    entry.item.dataset.ref = entry.ref;
    outbox.set(entry.ref, entry);
    messageList.append(entry.item);
    messageList.scrollTop = messageList.scrollHeight;
    return entry;
  }

  // The messages still waiting to be confirmed, oldest first.
  function unsent() {
    return Array.from(outbox.values());
  }

  // The chat server has stored the message `ref` as message `id`. It has been
  // shown already, or is about to be: the server sends it to its sender too.
  function acknowledged(ref, id) {
    const waiting = outbox.get(ref);
    if (waiting && shown.has(id)) {
      waiting.item.remove();
      outbox.delete(ref);
    }
  }

  // The chat server will not take this message (too long, say): it leaves the
  // list and goes back into the box, if the box is empty, to be mended.
  function giveBack(ref, detail) {
    const refused = outbox.get(ref);
    if (!refused) {
      return;
    }
    refused.item.remove();
    outbox.delete(ref);
    if (!inputbox.value) {
      inputbox.value = refused.text;
      showError(detail + " Your message is back in the box.");
    } else {
      showError(detail + " It was: " + refused.text);
    }
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

  // Some messages are gone from the room's history (prune_messages) before
  // this page could show them; `detail` says which, in plain words.
  function showMissed(detail) {
    const item = document.createElement("li");
    item.className = "missed";
    item.textContent = detail || "Some messages were missed while you were away.";
    place(item, Infinity);
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
    queue: queue,
    unsent: unsent,
    acknowledged: acknowledged,
    giveBack: giveBack,
    showMissed: showMissed,
    showLoggedOut: showLoggedOut,
    retryDelay: retryDelay,
    onEnter: onEnter,
  };
})();
