// The trend page: one metric's value per run in time order (markers coloured by whether the
// run's gates on it passed), and each gate's threshold as a step line across the runs.
(function () {
  "use strict";

  function draw() {
    var source = document.getElementById("trend-data"), target = document.getElementById("trend-chart");
    if (!source || !target || typeof Plotly === "undefined") return;
    var data = JSON.parse(source.textContent);
    var runs = data.runs.filter(function (r) { return r.value !== null; });
    var passes = function (r) {
      return r.thresholds.every(function (t) {
        var v = r.value;
        return { "<": v < t.value, "<=": v <= t.value, ">": v > t.value, ">=": v >= t.value, "==": v === t.value, "!=": v !== t.value }[t.op];
      });
    };
    var traces = [{
      type: "scattergl", mode: "lines+markers", name: data.metric, x: runs.map(function (r) { return r.created_at; }),
      y: runs.map(function (r) { return r.value; }), text: runs.map(function (r) { return r.label + " · v" + (r.version || "–") + " · " + r.status; }),
      customdata: runs.map(function (r) { return r.url; }), line: { color: "#8c959f", width: 1 },
      marker: { size: 9, color: runs.map(function (r) { return r.thresholds.length ? (passes(r) ? "#1a7f37" : "#cf222e") : "#0969da"; }) },
      hovertemplate: "%{text}<br>%{y:.6g}<extra></extra>",
    }];
    // One line per gate (step and operator): its threshold at each run, so a gate tightened in
    // a new version shows where it changed.
    var lines = {};
    runs.forEach(function (r) {
      r.thresholds.forEach(function (t) {
        var name = t.step + " gate: " + t.op + " threshold";
        (lines[name] = lines[name] || { x: [], y: [] });
        lines[name].x.push(r.created_at);
        lines[name].y.push(t.value);
      });
    });
    Object.keys(lines).forEach(function (name) {
      traces.push({ type: "scatter", mode: "lines", name: name, x: lines[name].x, y: lines[name].y,
                    line: { dash: "dash", color: "#bf8700", shape: "hv", width: 2 }, hovertemplate: name + " %{y:.6g}<extra></extra>" });
    });
    Plotly.newPlot(target, traces, {
      margin: { l: 56, r: 16, t: 16, b: 40 }, height: 380, hovermode: "closest",
      xaxis: { title: { text: "run started" }, type: "date" }, yaxis: { title: { text: data.metric + " (" + data.agg + ")" }, automargin: true },
      legend: { orientation: "h", y: -0.2 }, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
    }, { responsive: true, displaylogo: false });
    target.on("plotly_click", function (event) {
      var url = event.points[0] && event.points[0].customdata;
      if (url) window.location.href = url;
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
