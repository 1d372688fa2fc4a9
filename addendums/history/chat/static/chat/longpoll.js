// The room page's long-poll client: plain HTTP to the Twisted chat server.
//
// It keeps exactly one poll open at a time. Each poll asks for the messages
// after the last id seen (the cursor, which Django's page starts at the last
// message it drew); the server answers at once if there are some, or holds
// the request until one arrives or its timeout passes. Then we ask again.
// Drawing the page is room.js's job.
//
// What is typed waits in the outbox, and is POSTed a message at a time, in
// order, until the server answers that it is stored (201, or 200 for a ref it
// had stored already). After a failure it is sent again under the same ref.
"use strict";

(function () {
  const page = window.chatRoomPage;
  const messagesUrl = page.serverUrl("https:", "http:") + "/rooms/" + page.config.room + "/messages";
  // Longer than the server's own timeout (CHAT_POLL_TIMEOUT), so normally the
  // server answers first; this only catches a connection that has gone silent.
  const POLL_TIMEOUT_MS = (page.config.poll_timeout + 15) * 1000;

  let cursor = page.config.last_id; // the id of the last message seen
  let started = false; // the first poll only says that the server is there
  let failures = 0;
  let posting = false; // a POST is under way: the next waits for its answer
  let postFailures = 0;
  let holdUntil = 0; // nothing is POSTed before then
  let holdTimer = null;

  // Network trouble and error answers both land here; the retry waits longer
  // each time, so a server that is down is not hammered, and at least as long
  // as the server asked in a Retry-After header (a full room, say). It never
  // gives up while the page is open.
  function pollFailed(reason, retryAfterSeconds) {
    failures += 1;
    started = false; // after a break, first hear that the server is back
    console.info("poll failed:", reason);
    const delay = Math.max(page.retryDelay(failures), (retryAfterSeconds || 0) * 1000);
    page.showState("reconnecting", Math.ceil(delay / 1000), failures);
    window.setTimeout(poll, delay);
  }

  function show(answer) {
    if (answer.missed) {
      // Messages after our cursor are no longer kept: the answer says which.
      page.showMissed(answer.detail);
    }
    for (const message of answer.messages) {
      page.showMessage(message);
    }
    cursor = answer.cursor;
  }

  // The first poll asks without a cursor, so that it is answered at once and
  // the page knows it is connected; the rest ask for what came after ours.
  async function poll() {
    let answer;
    try {
      const response = await fetch(messagesUrl + (started ? "?after=" + cursor : ""), {
        signal: AbortSignal.timeout(POLL_TIMEOUT_MS),
      });
      answer = await response.json();
      if (answer.code === "logged_out") {
        page.showLoggedOut();
        return;
      }
      if (!response.ok) {
        pollFailed(answer.detail, Number(response.headers.get("Retry-After")));
        return;
      }
    } catch (error) {
      pollFailed(error);
      return;
    }
    if (failures) {
      failures = 0;
      if (postFailures) {
        holdUntil = 0; // the server is back: what waited for it goes now
      }
      sendOutbox();
    }
    page.showState("open");
    if (started) {
      show(answer);
    }
    started = true;
    poll();
  }

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

  // POST the outbox's messages one at a time, oldest first, until it is empty
  // or the server asks us to wait.
  async function sendOutbox() {
    if (posting) {
      return;
    }
    posting = true;
    try {
      let entry;
      while ((entry = page.unsent()[0]) && Date.now() >= holdUntil) {
        if (!(await post(entry))) {
          break;
        }
      }
    } finally {
      posting = false;
    }
  }

  // One POST; true if the outbox may go on to its next message.
  async function post(entry) {
    let response;
    try {
      response = await fetch(messagesUrl, {
        method: "POST",
        // The page's CSRF token: proof that this POST comes from a page of ours.
        headers: { "Content-Type": "application/json", "X-CSRFToken": page.config.csrf_token },
        body: JSON.stringify({ text: entry.text, ref: entry.ref }),
      });
    } catch (error) {
      // Perhaps stored, perhaps not: the same ref makes sending it again safe.
      postFailures += 1;
      holdFor(page.retryDelay(postFailures) / 1000);
      return false;
    }
    postFailures = 0;
    if (response.status === 201 || response.status === 200) {
      const message = await response.json();
      page.showMessage(message); // in its place; the poll that brings it is passed over
      page.acknowledged(entry.ref, message.id);
      return true;
    }
    const problem = await response.json().catch(function () {
      return { detail: "The chat server answered " + response.status + "." };
    });
    if (problem.code === "logged_out") {
      page.showLoggedOut();
      return false;
    }
    if (response.status === 429 || response.status === 503) {
      holdFor(Number(response.headers.get("Retry-After")) || 1);
      return false;
    }
    page.giveBack(entry.ref, problem.detail);
    return true;
  }

  page.onEnter(function (text) {
    page.queue(text); // shown as "sending…" until the server has stored it
    sendOutbox();
    return true;
  });

  page.showState("connecting");
  poll();
})();
