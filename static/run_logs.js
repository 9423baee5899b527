// Step logs on the run page (the text itself grows through htmx, see runs/_step_log.html):
// - a growing log stays scrolled to its end, unless the reader scrolled up to read something;
// - a step's log opens by itself when the step starts running, and its badge follows along;
// - the logs that were open stay open across the reload when the run ends.
(function () {
  "use strict";
  const NEAR_END_PX = 24;

  function logOf(node) {
    return node && node.closest ? node.closest("pre.log") : null;
  }

  function atEnd(pre) {
    return pre.scrollHeight - pre.scrollTop - pre.clientHeight < NEAR_END_PX;
  }

  // Before new text lands: was the reader at the end?
  document.addEventListener("htmx:beforeSwap", function (event) {
    const pre = logOf(event.detail.target);
    if (pre) pre.dataset.follow = atEnd(pre) ? "1" : "0";
  });

  // The page reloads once when the run ends; the logs open before stay open after it.
  const OPEN_KEY = "flowdeck.openLogs:" + location.pathname;

  function remember() {
    const open = Array.from(document.querySelectorAll("details.log-block[open]")).map(function (d) { return d.id; });
    try { sessionStorage.setItem(OPEN_KEY, JSON.stringify(open)); } catch (e) { /* storage off: no memory */ }
  }

  // Logs the server rendered open may have fired their toggle before this script ran: the
  // page being left is the moment that counts.
  window.addEventListener("pagehide", remember);

  document.addEventListener("DOMContentLoaded", function () {
    let open = [];
    try { open = JSON.parse(sessionStorage.getItem(OPEN_KEY) || "[]"); } catch (e) { open = []; }
    open.forEach(function (id) {
      const details = document.getElementById(id);
      if (details && details.classList.contains("log-block")) details.open = true;
    });
  });

  // A step's log opens by itself when the step starts running (the status section polls and
  // tells), unless the reader closed that log themselves.
  document.addEventListener("toggle", function (event) {
    const details = event.target;
    if (!details.classList || !details.classList.contains("log-block")) return;
    if (!details.open) details.dataset.closedByReader = "1";
    remember();
  }, true);

  function openRunningLogs(status) {
    status.querySelectorAll("tr[id^='step-']").forEach(function (row) {
      const details = document.getElementById("log-" + row.id.slice("step-".length));
      if (!details) return;
      // The log's own status badge follows the steps table.
      const badge = row.querySelector(".badge[class*='status-']");
      const shown = details.querySelector("summary .badge[class*='status-']");
      if (badge && shown && badge.className !== shown.className) shown.replaceWith(badge.cloneNode(true));
      if (row.querySelector(".status-running") && !details.open && !details.dataset.closedByReader) details.open = true;
    });
  }

  // After it landed (a new element in a log, or a whole log view): scroll if they were.
  document.addEventListener("htmx:load", function (event) {
    if (event.target.id === "run-status") {
      openRunningLogs(event.target);
      return;
    }
    const pre = logOf(event.target);
    if (pre) {
      if (pre.dataset.follow !== "0") pre.scrollTop = pre.scrollHeight;
      return;
    }
    // A log view just opened starts at its end: the latest output, or how it ended.
    if (event.target.querySelectorAll) {
      event.target.querySelectorAll("pre.log").forEach(function (pre) {
        pre.scrollTop = pre.scrollHeight;
      });
    }
  });
})();
