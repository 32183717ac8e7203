// The live board (reviews/web/board.py): rows from the server's event stream, ages and deadlines counted on the
// review clock, and how fresh the feed is. No inline script anywhere: the page's CSP allows this file only.
"use strict";
(function () {
  const board = document.getElementById("board");
  const rows = document.getElementById("rows");
  const status = document.getElementById("feed-status");
  const empty = document.getElementById("empty");
  if (!board || !rows || !status) return;
  const staleAfter = Number(board.dataset.staleS || 15) * 1000;
  const DAY = 24 * 3600 * 1000;
  // the server's review clock minus ours: ages and deadlines are judged on the clock the activations run on
  let offset = Date.parse(board.dataset.now) - Date.now();
  let lastMessage = Date.now();
  let source = null;

  function span(ms) {
    const minutes = Math.floor(ms / 60000);
    if (minutes < 1) return "under a minute";
    if (minutes < 60) return minutes + " min";
    return Math.floor(minutes / 60) + " h " + String(minutes % 60).padStart(2, "0") + " min";
  }

  function place(html, opened) {
    const holder = document.createElement("template");
    holder.innerHTML = html.trim();
    const fresh = holder.content.firstElementChild;
    const old = document.getElementById(fresh.id);
    if (old) {
      // a form being filled in (a note) is not swept away by an update of its row
      const typing = old.contains(document.activeElement) && document.activeElement.tagName === "TEXTAREA";
      if (typing) return;
      // what DNS had open stays open (the action panels are in the same order in both)
      const was = Array.from(old.querySelectorAll("details"), (d) => d.open);
      fresh.querySelectorAll("details").forEach((d, n) => { if (was[n]) d.open = true; });
      old.replaceWith(fresh);
    } else {
      // newest first: before the first row opened earlier than this one
      const later = Array.from(rows.children).find((row) => row.dataset.opened < opened);
      rows.insertBefore(fresh, later || null);
    }
    fresh.dataset.updated = String(performance.now());
    tick();
  }

  function remove(id) {
    const old = document.getElementById("row-" + id);
    if (old) old.remove();
    if (empty) empty.hidden = rows.children.length > 0;
  }

  function tick() {
    const now = Date.now() + offset;
    for (const row of Array.from(rows.children)) {
      const opened = Date.parse(row.dataset.opened);
      if (now - opened > DAY) { row.remove(); continue; }
      const age = row.querySelector(".age");
      if (age) age.textContent = span(now - opened);
      let overdue = false;
      for (const team of row.querySelectorAll("li.team[data-deadline]")) {
        if (team.dataset.answered === "1") continue;
        const left = Date.parse(team.dataset.deadline) - now;
        const label = team.querySelector(".left");
        if (label) label.textContent = left >= 0 ? span(left) + " left" : "overdue by " + span(-left);
        if (left < 0) { team.classList.add("overdue"); overdue = true; }
      }
      if (overdue) { row.classList.add("overdue"); row.classList.remove("settled"); }
    }
    if (empty) empty.hidden = rows.children.length > 0;
    const silent = Date.now() - lastMessage;
    const stale = silent > staleAfter;
    status.textContent = (stale ? "feed stale: " : "live: ") + "last update " + Math.round(silent / 1000) + " s ago" + (stale ? ", reconnecting" : "");
    status.className = "status " + (stale ? "stale" : "live");
  }

  function heard() { lastMessage = Date.now(); }

  function connect() {
    const url = board.dataset.events + "?since=" + encodeURIComponent(board.dataset.cursor || "");
    source = new EventSource(url);
    source.addEventListener("row", (e) => { heard(); const d = JSON.parse(e.data); place(d.html, d.opened); });
    source.addEventListener("remove", (e) => { heard(); remove(JSON.parse(e.data).id); });
    source.addEventListener("beat", (e) => { heard(); offset = Date.parse(JSON.parse(e.data).now) - Date.now(); tick(); });
    source.addEventListener("signed_out", () => { source.close(); status.textContent = "signed out: reload the page to sign in again"; });
    source.addEventListener("error", () => {
      // the browser reconnects by itself unless the answer was not a stream (a sign-in page): then try again later
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 5000);
    });
  }

  // a retried form is the same action (its request id), a new form a new one
  document.addEventListener("submit", (e) => {
    const field = e.target.querySelector("input[name=request_id]");
    if (field && !field.value) field.value = (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2)).replace(/[^A-Za-z0-9-]/g, "");
  });

  connect();
  tick();
  setInterval(tick, 1000);
})();
