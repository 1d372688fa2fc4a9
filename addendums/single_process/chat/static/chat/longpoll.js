// The room page's long-poll client: plain HTTP to the Twisted chat server.
//
// It keeps exactly one poll open at a time. Each poll asks for the messages
// after the last id seen (the cursor); the server answers at once if there are
// some, or holds the request until one arrives or its timeout passes. Then we
// ask again. Drawing the page is room.js's job.
"use strict";

(function () {
  const page = window.chatRoomPage;
  const messagesUrl = page.serverUrl("https:", "http:") + "/rooms/" + page.config.room + "/messages";
  // Longer than the server's own timeout (CHAT_POLL_TIMEOUT), so normally the
  // server answers first; this only catches a connection that has gone silent.
  const POLL_TIMEOUT_MS = (page.config.poll_timeout + 15) * 1000;

  let cursor = null; // the id of the last message seen; null before the first answer
  let failures = 0;

  // Network trouble and error answers both land here; the retry waits longer
  // each time, so a server that is down is not hammered, and at least as long
  // as the server asked in a Retry-After header (a full room, say). It never
  // gives up while the page is open.
  function pollFailed(reason, retryAfterSeconds) {
    failures += 1;
    console.info("poll failed:", reason);
    const delay = Math.max(page.retryDelay(failures), (retryAfterSeconds || 0) * 1000);
    page.showState("reconnecting", Math.ceil(delay / 1000), failures);
    window.setTimeout(poll, delay);
  }

  function show(answer) {
    if (answer.missed) {
      // Our cursor was older than the history the server keeps, or the server
      // restarted and its ids began again at 1: start counting afresh.
      page.showMissed();
      cursor = null;
    }
    for (const message of answer.messages) {
      if (cursor === null || message.id > cursor) {
        page.showMessage(message);
        cursor = message.id;
      }
    }
    if (cursor === null || answer.cursor > cursor) {
      cursor = answer.cursor;
    }
  }

  async function poll() {
    const query = cursor === null ? "" : "?after=" + cursor;
    let answer;
    try {
      const response = await fetch(messagesUrl + query, {
        signal: AbortSignal.timeout(POLL_TIMEOUT_MS),
      });
      answer = await response.json();
      if (!response.ok) {
        pollFailed(answer.detail, Number(response.headers.get("Retry-After")));
        return;
      }
    } catch (error) {
      pollFailed(error);
      return;
    }
    failures = 0;
    page.showState("open");
    show(answer);
    poll();
  }

  page.onEnter(async function (text) {
    let response;
    try {
      response = await fetch(messagesUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ text: text }),
      });
    } catch (error) {
      page.showError("The chat server could not be reached, so your message was not sent. It is still in the box.");
      return false;
    }
    if (response.status === 201) {
      return true; // it comes back to us, in order, through the poll
    }
    const problem = await response.json().catch(function () {
      return { detail: "The chat server answered " + response.status + "." };
    });
    page.showError(problem.detail + " Your message is still in the box.");
    return false;
  });

  page.showState("connecting");
  poll();
})();
