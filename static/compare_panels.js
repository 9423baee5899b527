// The compare page's other panels, from the state compare.js keeps: parallel coordinates over
// chosen params and metrics, a scatter of one against another, and artifacts side by side.
(function () {
  "use strict";

  var C = window.flowdeckCompare;
  function $(id) { return document.getElementById(id); }

  // --- columns: params.<name> (text, numbers when they all read as one) and metrics.<key> -----
  function params() {
    var out = {};
    C.data.diff.params.forEach(function (row) { out["params." + row.key] = row; });
    return out;
  }

  function columnValues(name) {
    if (name.indexOf("metrics.") === 0) {
      var key = name.slice(8);
      var row = C.data.metrics.table.filter(function (r) { return r.key === key; })[0];
      return row ? C.data.runs.map(function (_r, i) { return C.valueOf(row, i).value; }) : null;
    }
    var p = params()[name];
    return p ? p.values.slice() : null;
  }

  function numeric(values) {
    return values.every(function (v) { return v === null || (v !== "" && !isNaN(Number(v))); });
  }

  function columns() {
    var p = C.data.diff.params.map(function (row) { return { name: "params." + row.key, same: row.same }; });
    var m = C.data.metrics.table.map(function (row) { return { name: "metrics." + row.key, same: false }; });
    return p.concat(m);
  }

  function defaultDims() {
    var differing = C.data.diff.params.filter(function (r) { return !r.same; }).slice(0, 6)
      .map(function (r) { return "params." + r.key; });
    return differing.concat(C.data.metrics.table.slice(0, 4).map(function (r) { return "metrics." + r.key; }));
  }

  // --- parallel coordinates -------------------------------------------------------------------
  function drawParcoords() {
    var target = $("parcoords");
    var dims = (C.state.dims || defaultDims()).filter(function (d) { return columnValues(d); });
    if (dims.length < 2) {
      target.textContent = "Choose at least two axes (params or metrics).";
      target.classList.add("muted");
      return;
    }
    target.classList.remove("muted");
    var cols = dims.map(columnValues);
    // A run missing any axis cannot be drawn as one line: it is left out.
    var keep = C.data.runs.map(function (_r, i) { return cols.every(function (c) { return c[i] !== null; }); });
    var dimensions = dims.map(function (name, k) {
      var values = cols[k].filter(function (_v, i) { return keep[i]; });
      if (numeric(values)) return { label: name, values: values.map(Number) };
      var cats = Array.from(new Set(values)).sort();
      return { label: name, values: values.map(function (v) { return cats.indexOf(v); }),
               tickvals: cats.map(function (_c, i) { return i; }), ticktext: cats };
    });
    var colorDim = dimensions.filter(function (d) { return d.label.indexOf("metrics.") === 0; }).pop() || dimensions[0];
    var trace = { type: "parcoords", dimensions: dimensions,
                  line: { color: colorDim.values, colorscale: "Viridis", showscale: true,
                          colorbar: { title: { text: colorDim.label }, thickness: 10 } } };
    Plotly.react(target, [trace], C.layout({ height: 340, margin: { l: 60, r: 60, t: 40, b: 20 } }), C.config);
  }

  function drawDimsPicker() {
    var box = $("dims");
    box.textContent = "";
    var chosen = C.state.dims || defaultDims();
    columns().forEach(function (col) {
      var label = C.el("label", { "class": "mono" });
      var box2 = C.el("input", { type: "checkbox", value: col.name });
      box2.checked = chosen.indexOf(col.name) >= 0;
      box2.addEventListener("change", function () {
        var now = C.state.dims || defaultDims().slice();
        now = now.filter(function (d) { return d !== col.name; });
        if (box2.checked) now.push(col.name);
        C.state.dims = now;
        drawParcoords();
        C.changed();
      });
      label.appendChild(box2);
      label.appendChild(document.createTextNode(" " + col.name + (col.same ? " (same)" : "")));
      box.appendChild(label);
    });
  }

  // --- scatter --------------------------------------------------------------------------------
  function fillSelect(select, names, chosen) {
    select.textContent = "";
    names.forEach(function (n) {
      var o = C.el("option", { value: n }, n);
      if (n === chosen) o.selected = true;
      select.appendChild(o);
    });
  }

  function drawScatter() {
    var sx = $("scatter-x"), sy = $("scatter-y");
    var names = columns().map(function (c) { return c.name; });
    var metrics = names.filter(function (n) { return n.indexOf("metrics.") === 0; });
    var firstParam = C.data.diff.params.filter(function (r) { return !r.same && numeric(r.values); })[0];
    var x = C.state.scatter_x || (firstParam ? "params." + firstParam.key : names[0]);
    var y = C.state.scatter_y || metrics[0] || names[1];
    fillSelect(sx, names, x);
    fillSelect(sy, names, y);
    var target = $("scatter");
    var xs = columnValues(x || ""), ys = columnValues(y || "");
    if (!xs || !ys) { target.textContent = "Nothing to plot yet."; return; }
    var runs = C.data.runs.filter(function (_r, i) { return xs[i] !== null && ys[i] !== null; });
    var pick = function (col) { return C.data.runs.map(function (_r, i) { return col[i]; }).filter(function (_v, i) { return xs[i] !== null && ys[i] !== null; }); };
    var trace = {
      type: "scatter", mode: "markers", x: pick(xs).map(function (v) { return numeric([v]) ? Number(v) : v; }),
      y: pick(ys).map(function (v) { return numeric([v]) ? Number(v) : v; }),
      text: runs.map(function (r) { return r.label; }), marker: { size: 10, color: runs.map(function (r) { return r.color; }) },
      hovertemplate: "%{text}<br>x %{x}<br>y %{y:.6g}<extra></extra>",
    };
    var logX = x.indexOf("params.") === 0 && /(^|[._])lr$|learning_rate|weight_decay/.test(x) &&
      trace.x.every(function (v) { return typeof v === "number" && v > 0; });
    Plotly.react(target, [trace], C.layout({ height: 340, hovermode: "closest",
      xaxis: { title: { text: x }, type: logX ? "log" : "-" }, yaxis: { title: { text: y }, automargin: true } }), C.config);
  }

  function bindScatter() {
    ["scatter-x", "scatter-y"].forEach(function (id) {
      $(id).addEventListener("change", function () {
        C.state.scatter_x = $("scatter-x").value;
        C.state.scatter_y = $("scatter-y").value;
        drawScatter();
        C.changed();
      });
    });
  }

  // --- artifacts side by side ---------------------------------------------------------------
  function diffBlock(lines) {
    var pre = C.el("pre", { "class": "diff" });
    lines.forEach(function (line) {
      var cls = line[0] === "+" ? "add" : line[0] === "-" ? "del" : line[0] === "@" ? "hunk" : "";
      pre.appendChild(C.el("span", { "class": cls }, line + "\n"));
    });
    return pre;
  }

  function csvTable(rows) {
    var table = C.el("table", { "class": "table csv-table" });
    rows.forEach(function (row, i) {
      var tr = C.el("tr");
      row.forEach(function (cell) { tr.appendChild(C.el(i === 0 ? "th" : "td", {}, cell)); });
      table.appendChild(tr);
    });
    return table;
  }

  function showArtifact(path) {
    var view = $("artifact-view");
    view.textContent = "Loading " + path + "…";
    var q = new URLSearchParams({ runs: C.data.runs.map(function (r) { return r.id; }).join(","), path: path });
    fetch(JSON.parse($("compare-artifact-api").textContent) + "?" + q.toString(), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (body) {
        view.textContent = "";
        if (body.error) { view.textContent = body.error.message; return; }
        view.appendChild(C.el("h3", { "class": "mono" }, body.path));
        var grid = C.el("div", { "class": "artifact-grid artifact-" + body.kind });
        body.items.forEach(function (item) {
          var run = C.runsById[item.run];
          var card = C.el("div", { "class": "artifact-card", "data-run": item.run });
          var head = C.el("div", { "class": "artifact-card-head" });
          head.appendChild(C.el("span", { "class": "swatch", style: "background: " + run.color }));
          head.appendChild(C.el("a", { href: run.url }, run.label));
          if (item.present) head.appendChild(C.el("a", { href: item.url, "class": "small", download: "" }, " download"));
          card.appendChild(head);
          if (!item.present) card.appendChild(C.el("p", { "class": "muted" }, "Not in this run."));
          else if (body.kind === "image") card.appendChild(item.shown ? C.el("img", { src: item.url, alt: body.path + " of " + run.label, loading: "lazy" }) : C.el("p", { "class": "muted" }, "Too large to show here."));
          else if (body.kind === "csv") card.appendChild(csvTable(item.rows || []));
          else if (item.text !== undefined) {
            if (item.diff === null) card.appendChild(C.el("pre", { "class": "artifact-text" }, item.text));
            else if (item.diff.length === 0) card.appendChild(C.el("p", { "class": "muted" }, "Same as the first run."));
            else card.appendChild(diffBlock(item.diff));
          } else card.appendChild(C.el("p", { "class": "muted" }, "A binary file: download it to look inside."));
          if (item.truncated) card.appendChild(C.el("p", { "class": "muted small" }, "Only the first 256 KiB are shown."));
          grid.appendChild(card);
        });
        view.appendChild(grid);
      });
  }

  function bindArtifacts() {
    Array.prototype.forEach.call(document.querySelectorAll(".artifact-open"), function (button) {
      button.addEventListener("click", function () {
        C.state.artifact = button.getAttribute("data-path");
        C.changed();
        showArtifact(C.state.artifact);
      });
    });
    if (C.state.artifact) showArtifact(C.state.artifact);
  }

  function start() {
    drawDimsPicker();
    drawParcoords();
    bindScatter();
    drawScatter();
    bindArtifacts();
  }

  C.listeners.push(function (why) {
    if (why === "ready") start();
    else { drawParcoords(); drawScatter(); }
  });
  if (C.ready) start();
})();
