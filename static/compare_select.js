// The runs table's Compare button: counts the ticked runs, and "tick all" ticks the page.
(function () {
  "use strict";

  function init() {
    var picks = document.querySelectorAll(".compare-pick");
    var all = document.getElementById("compare-all");
    var count = document.getElementById("compare-count");
    var button = document.getElementById("compare-button");
    if (!button) return;
    function update() {
      var n = Array.prototype.filter.call(picks, function (p) { return p.checked; }).length;
      button.disabled = n < 2 || n > 100;
      button.textContent = n >= 2 ? "Compare " + n + " runs" : "Compare";
      count.textContent = n === 0 ? "Tick 2 to 100 runs to compare them." : n === 1 ? "Tick one more." :
        n > 100 ? "At most 100 runs at once." : "";
    }
    Array.prototype.forEach.call(picks, function (p) { p.addEventListener("change", update); });
    if (all) all.addEventListener("change", function () {
      Array.prototype.forEach.call(picks, function (p) { p.checked = all.checked; });
      update();
    });
    update();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
