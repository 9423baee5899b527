// The run page's status section is replaced every 2 seconds while the run is live; this
// keeps each sub-workflow step's list of child steps open (or closed) across the refresh.
(function () {
  "use strict";
  var open = {};
  document.addEventListener("toggle", function (event) {
    var el = event.target;
    if (el.matches && el.matches("details.subrun-steps") && el.id) {
      open[el.id] = el.open;
    }
  }, true);
  document.addEventListener("htmx:afterSettle", function () {
    Object.keys(open).forEach(function (id) {
      var el = document.getElementById(id);
      if (el && el.open !== open[id]) {
        el.open = open[id];
      }
    });
  });
})();
