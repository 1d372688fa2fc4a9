// The workshop board: fetches what it shows from /board/state/ when the page
// opens and again whenever a line arrives in the board room, which the
// stage's own room client (room.js, chat.js) follows and keeps connected.
// Everything a learner sent is put on the page with textContent: a name or
// message that looks like HTML is shown as text.
"use strict";

(function () {
  const board = document.getElementById("board");
  const messageList = document.getElementById("message_list");
  let fetching = false;
  let again = false;
  let state = null;
  let clockOffset = 0; // the server's clock minus this browser's

  function element(tag, className, text) {
    const made = document.createElement(tag);
    if (className) {
      made.className = className;
    }
    if (text !== undefined) {
      made.textContent = text;
    }
    return made;
  }

  function stuckFor(since) {
    const seconds = (Date.now() + clockOffset - Date.parse(since)) / 1000;
    if (seconds < 60) {
      return "just now";
    }
    const minutes = Math.floor(seconds / 60);
    return minutes < 60 ? minutes + " min" : Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
  }

  function tile(learner) {
    const item = element("li", learner.failed ? "learner failing" : "learner passing");
    item.dataset.name = learner.name;
    item.append(element("span", "name", learner.name));
    const total = learner.passed + learner.failed;
    item.append(element("span", "score", learner.passed + "/" + total));
    item.title = learner.failed ? learner.check : "every check passes";
    return item;
  }

  function drawStages() {
    const columns = state.stages.map(function (stage) {
      const column = element("div", "stage");
      column.dataset.stage = stage.stage;
      column.dataset.count = stage.learners.length;
      const title = element("h3");
      title.append(element("span", "chapter", stage.chapter));
      title.append(element("span", "stage-name", stage.stage.replace("_", " ")));
      title.append(element("span", "count", String(stage.learners.length)));
      const list = element("ul", "learners");
      list.append(...stage.learners.map(tile));
      column.append(title, list);
      return column;
    });
    document.getElementById("stages").replaceChildren(...columns);
    const people = state.learners === 1 ? " person" : " people";
    document.getElementById("learner_count").textContent = state.learners + people;
  }

  function drawGroups() {
    const groups = state.groups.map(function (group) {
      const item = element("li", "group");
      item.dataset.check = group.check;
      item.dataset.count = group.people.length;
      const many = group.people.length === 1 ? "1 person" : group.people.length + " people";
      const head = element("p", "group-head");
      head.append(element("span", "how-many", many), element("span", "check", group.readable));
      const people = element("ul", "stuck");
      for (const person of group.people) {
        const who = element("li", "", person.name + " ");
        who.dataset.name = person.name;
        who.append(element("span", "for", stuckFor(person.since)));
        people.append(who);
      }
      item.append(head, element("p", "message", group.message), people);
      return item;
    });
    document.getElementById("groups").replaceChildren(...groups);
    document.getElementById("nobody_stuck").hidden = groups.length > 0;
  }

  function draw() {
    drawStages();
    drawGroups();
    board.dataset.reports = state.reports;
  }

  // One fetch at a time; lines that arrive meanwhile make one more afterwards.
  async function refresh() {
    if (fetching) {
      again = true;
      return;
    }
    fetching = true;
    try {
      const answer = await fetch(board.dataset.stateUrl, { headers: { Accept: "application/json" } });
      if (answer.ok && answer.headers.get("content-type") === "application/json") {
        state = await answer.json();
        clockOffset = Date.parse(state.now) - Date.now();
        draw();
      } else {
        console.error("the board's state answered", answer.status);
      }
    } catch (error) {
      console.error("could not fetch the board's state:", error);
    } finally {
      fetching = false;
      if (again) {
        again = false;
        refresh();
      }
    }
  }

  new MutationObserver(function (changes) {
    const arrived = changes.some((change) => Array.from(change.addedNodes).some((node) => node.dataset && node.dataset.id));
    if (arrived) {
      refresh();
    }
  }).observe(messageList, { childList: true });

  // How long each has been stuck grows by itself; redraw it now and then.
  window.setInterval(function () {
    if (state) {
      drawGroups();
    }
  }, 20000);

  refresh();
})();
