// Draws the run page's metric chart: one line per metric key, x = step.
// The data is embedded by the server with json_script as {key: {step: [...], value: [...]}}.
(function () {
  "use strict";

  function draw() {
    var source = document.getElementById("metrics-data");
    var target = document.getElementById("metrics-chart");
    if (!source || !target || typeof Plotly === "undefined") {
      return;
    }
    var series = JSON.parse(source.textContent);
    var keys = Object.keys(series).sort();
    var traces = keys.map(function (key) {
      var points = series[key];
      return {
        type: points.step.length > 5000 ? "scattergl" : "scatter",
        mode: points.step.length > 1 ? "lines" : "markers",
        name: key,
        x: points.step,
        y: points.value,
        // Not built from the key: keys are user text, and plotly parses its templates.
        hovertemplate: "%{fullData.name}<br>step %{x}<br>%{y:.6g}<extra></extra>",
      };
    });
    var layout = {
      margin: { l: 56, r: 16, t: 16, b: 40 },
      height: 320,
      xaxis: { title: { text: "step" }, zeroline: false },
      yaxis: { zeroline: false, automargin: true },
      legend: { orientation: "h", y: -0.2 },
      font: { family: "-apple-system, BlinkMacSystemFont, 'Segoe UI', Helvetica, Arial, sans-serif", size: 12 },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
    };
    Plotly.newPlot(target, traces, layout, { responsive: true, displaylogo: false });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
