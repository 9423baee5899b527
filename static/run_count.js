// The runs table is shown before its runs are counted: this asks GET /api/v1/runs/count for
// the number and writes it in ("1–50 of 2,394"), and in the "Compare ... runs that match" link.
(function () {
  "use strict";

  function init() {
    var target = document.getElementById("run-count");
    if (!target) return;
    fetch(target.dataset.countUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (body) {
        if (!body) return;
        target.textContent = body.count.toLocaleString("en-US") + (body.count_exact ? "" : "+");
        var link = document.getElementById("compare-matching");
        if (link && body.count_exact && body.count <= 100) {
          link.textContent = "Compare all " + body.count + " runs that match";
        }
      })
      .catch(function () { /* the page still works; the count stays "many" */ });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
