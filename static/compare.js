// The compare page: the diff toggle, one overlay chart per metric key (WebGL), and the values
// table (each run's last value, best value, or value at a chosen step). The data is the JSON
// GET /api/v1/compare answers, embedded in the page as #compare-data. Parallel coordinates,
// the scatter and the artifacts are drawn by compare_panels.js from the same state.
(function () {
  "use strict";

  var FONT = { family: "-apple-system, BlinkMacSystemFont, 'Segoe UI', Helvetica, Arial, sans-serif", size: 12 };
  var C = (window.flowdeckCompare = { charts: {}, listeners: [] });

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  C.el = el;

  C.fmt = function (v) {
    if (v === null || v === undefined) return "—";
    if (typeof v !== "number") return String(v);
    var a = Math.abs(v);
    return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(4) : String(Number(v.toPrecision(6)));
  };

  C.layout = function (extra) {
    var base = {
      margin: { l: 56, r: 12, t: 8, b: 36 }, height: 280, font: FONT, showlegend: false,
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      xaxis: { zeroline: false, automargin: true }, yaxis: { zeroline: false, automargin: true },
    };
    Object.keys(extra || {}).forEach(function (k) { base[k] = extra[k]; });
    return base;
  };
  C.config = { responsive: true, displaylogo: false };

  // --- state, kept in the URL so the address bar is always a link to what is shown ---------
  function readState() {
    var o = C.data.options;
    return {
      x: o.x || "step", smoothing: o.smoothing || 0, log: !!o.log, all: !!o.all, at: o.at || "last",
      step: o.step === undefined ? null : o.step, keys: o.keys || null, dims: o.dims || null,
      scatter_x: o.scatter_x || "", scatter_y: o.scatter_y || "", artifact: o.artifact || "",
      max_points: o.max_points || null, sample: o.sample || null,
    };
  }

  C.query = function () {
    var s = C.state, q = new URLSearchParams();
    q.set("runs", C.data.runs.map(function (r) { return r.id; }).join(","));
    if (s.keys) q.set("keys", s.keys.join(","));
    if (s.at !== "last") q.set("at", s.at);
    if (s.at === "step" && s.step !== null) q.set("step", s.step);
    if (s.max_points) q.set("max_points", s.max_points);
    if (s.sample) q.set("sample", s.sample);
    if (s.x !== "step") q.set("x", s.x);
    if (s.smoothing) q.set("smoothing", s.smoothing);
    if (s.log) q.set("log", "1");
    if (s.all) q.set("all", "1");
    if (s.dims) q.set("dims", s.dims.join(","));
    if (s.scatter_x) q.set("scatter_x", s.scatter_x);
    if (s.scatter_y) q.set("scatter_y", s.scatter_y);
    if (s.artifact) q.set("artifact", s.artifact);
    return q.toString().replace(/%2C/g, ",");
  };

  C.changed = function () {
    var query = C.query();
    var saveQuery = $("save-query");
    if (saveQuery) saveQuery.value = query;
    if (!document.querySelector(".saved-note")) history.replaceState(null, "", "?" + query);
  };

  // --- diff ---------------------------------------------------------------------------------
  function drawDiff() {
    var box = $("diff-sections");
    box.classList.toggle("show-all", C.state.all);
  }

  // --- overlay charts -----------------------------------------------------------------------
  function smooth(values, weight) {
    if (!weight) return values;
    // An exponential moving average, debiased at the start (as TensorBoard does).
    var out = new Array(values.length), last = 0, n = 0;
    for (var i = 0; i < values.length; i++) {
      last = last * weight + (1 - weight) * values[i];
      n++;
      out[i] = last / (1 - Math.pow(weight, n));
    }
    return out;
  }

  function xValues(series, run) {
    var mode = C.state.x;
    if (mode === "step") return series.step;
    if (mode === "wall") return series.time.map(function (t) { return new Date(series.t0 + t); });
    var start = run.started_at ? Date.parse(run.started_at) : series.t0;
    return series.time.map(function (t) { return (series.t0 + t - start) / 1000; });
  }

  // WebGL when a chart holds many points; SVG below that, as each WebGL chart takes one of
  // the browser's few contexts per page and a moment to start.
  var GL_POINTS = 2000;

  function traces(key) {
    var all = C.data.series[key] || [];
    var points = all.reduce(function (n, s) { return n + s.step.length; }, 0);
    return all.map(function (s) {
      var run = C.runsById[s.run];
      var trace = {
        type: points > GL_POINTS ? "scattergl" : "scatter", mode: s.step.length > 1 ? "lines" : "markers", name: run.label,
        x: xValues(s, run), y: smooth(s.value, C.state.smoothing), line: { color: run.color, width: 1.5 },
        marker: { color: run.color, size: 6 }, meta: { run: s.run },
        // Never a template built from run names: plotly parses its templates.
        hovertemplate: "%{fullData.name}: %{y:.6g}<extra></extra>",
      };
      if (C.state.smoothing) {
        trace.customdata = s.value;
        trace.hovertemplate = "%{fullData.name}: %{y:.6g} (raw %{customdata:.6g})<extra></extra>";
      }
      return trace;
    });
  }

  function chartLayout() {
    var title = { step: "step", wall: "wall time", relative: "seconds since the run started" }[C.state.x];
    return C.layout({
      hovermode: "x unified", hoverlabel: { namelength: -1 },
      xaxis: { title: { text: title }, zeroline: false, type: C.state.x === "wall" ? "date" : "linear" },
      yaxis: { zeroline: false, automargin: true, type: C.state.log ? "log" : "linear" },
    });
  }

  function drawCharts() {
    var grid = $("charts");
    if (!grid) return;
    C.data.metrics.charted.forEach(function (key) {
      var target = C.charts[key];
      if (!target) {
        var cell = el("div", { "class": "chart-cell", "data-key": key });
        var head = el("div", { "class": "chart-title" });
        head.appendChild(el("span", { "class": "mono" }, key));
        var sampled = (C.data.series[key] || []).some(function (s) { return s.sampled; });
        if (sampled) head.appendChild(el("span", { "class": "muted small" }, " · downsampled to " + C.data.max_points + " points per run, keeping every peak and dip"));
        target = el("div", { "class": "chart" });
        cell.appendChild(head);
        cell.appendChild(target);
        grid.appendChild(cell);
        C.charts[key] = target;
      }
      Plotly.react(target, traces(key), chartLayout(), C.config);
    });
  }

  // --- values table ---------------------------------------------------------------------------
  C.valueOf = function (row, i) {
    var at = C.state.at;
    if (at === "step") return { value: row.at_step ? row.at_step[i] : null, step: row.at_step_step ? row.at_step_step[i] : null };
    return { value: row[at][i], step: row[at + "_step"][i] };
  };

  function drawValues() {
    var table = $("values-table");
    if (!table) return;
    table.textContent = "";
    var rows = C.data.metrics.table;
    var head = el("tr");
    head.appendChild(el("th", {}, "run"));
    rows.forEach(function (row) {
      head.appendChild(el("th", { "class": "num mono", title: (row.goal === "min" ? "lower" : "higher") + " is better" },
        row.key + (row.goal === "min" ? " ↓" : " ↑")));
    });
    var thead = el("thead");
    thead.appendChild(head);
    table.appendChild(thead);
    var best = rows.map(function (row) {
      var values = C.data.runs.map(function (_r, i) { return C.valueOf(row, i).value; }).filter(function (v) { return v !== null; });
      if (!values.length) return null;
      return row.goal === "min" ? Math.min.apply(null, values) : Math.max.apply(null, values);
    });
    var body = el("tbody");
    C.data.runs.forEach(function (run, i) {
      var tr = el("tr", { "data-run": run.id });
      var name = el("th");
      name.appendChild(el("span", { "class": "swatch", style: "background: " + run.color }));
      name.appendChild(el("a", { href: run.url }, run.label));
      tr.appendChild(name);
      rows.forEach(function (row, k) {
        var v = C.valueOf(row, i);
        var td = el("td", { "class": "num mono" + (v.value !== null && v.value === best[k] ? " best" : ""),
                            "data-key": row.key }, C.fmt(v.value));
        if (v.step !== null && v.step !== undefined) td.appendChild(el("span", { "class": "at-step" }, "@" + v.step));
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    table.appendChild(body);
  }

  function refetchValues() {
    // Values at a step come from every point, not the chart's sample: ask the server.
    var q = new URLSearchParams(C.query());
    q.set("max_points", "10");
    q.set("keys", C.data.metrics.keys.join(","));
    return fetch(JSON.parse($("compare-api").textContent).split("?")[0] + "?" + q.toString(), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (fresh) {
        if (fresh.error) throw new Error(fresh.error.message);
        C.data.metrics.table = fresh.metrics.table;
        drawValues();
        C.listeners.forEach(function (fn) { fn("values"); });
      });
  }

  // --- which keys are charted: the first 12 unless chosen ------------------------------------
  function drawKeyPicker() {
    var box = $("keys-menu");
    if (!box) return;
    var charted = C.data.metrics.charted;
    C.data.metrics.all_keys.forEach(function (key) {
      var label = el("label", { "class": "mono" });
      var input = el("input", { type: "checkbox", value: key });
      input.checked = charted.indexOf(key) >= 0;
      label.appendChild(input);
      label.appendChild(document.createTextNode(" " + key));
      box.appendChild(label);
    });
    var apply = el("button", { type: "button", "class": "btn btn-primary btn-small" }, "Chart these");
    apply.addEventListener("click", function () {
      var chosen = Array.prototype.filter.call(box.querySelectorAll("input"), function (i) { return i.checked; })
        .map(function (i) { return i.value; });
      C.state.keys = chosen.length ? chosen : null;
      window.location.href = JSON.parse($("compare-page").textContent) + "?" + C.query();
    });
    box.appendChild(apply);
    $("keys-count").textContent = charted.length + " of " + C.data.metrics.all_keys.length + " keys charted";
  }

  function bind() {
    $("diff-all").addEventListener("change", function (e) { C.state.all = e.target.checked; drawDiff(); C.changed(); });
    var x = $("opt-x"), sm = $("opt-smoothing"), log = $("opt-log"), at = $("opt-at"), step = $("opt-step");
    if (x) x.addEventListener("change", function () { C.state.x = x.value; drawCharts(); C.changed(); });
    if (sm) sm.addEventListener("input", function () {
      C.state.smoothing = Number(sm.value);
      $("opt-smoothing-out").textContent = sm.value;
      drawCharts();
      C.changed();
    });
    if (log) log.addEventListener("change", function () { C.state.log = log.checked; drawCharts(); C.changed(); });
    function onAt() {
      C.state.at = at.value;
      $("opt-step-label").hidden = at.value !== "step";
      if (at.value === "step") {
        if (step.value === "") return;
        C.state.step = Number(step.value);
        C.changed();
        refetchValues();
        return;
      }
      C.changed();
      drawValues();
      C.listeners.forEach(function (fn) { fn("values"); });
    }
    if (at) at.addEventListener("change", onAt);
    if (step) step.addEventListener("change", onAt);
  }

  function init() {
    var source = $("compare-data");
    if (!source || typeof Plotly === "undefined") return;
    C.data = JSON.parse(source.textContent);
    C.runsById = {};
    C.data.runs.forEach(function (r) { C.runsById[r.id] = r; });
    C.state = readState();
    bind();
    drawDiff();
    drawKeyPicker();
    drawCharts();
    drawValues();
    C.ready = true;
    C.listeners.forEach(function (fn) { fn("ready"); });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
