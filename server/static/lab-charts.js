// The lab charts: one run, second by second, drawn with uPlot.
//
// window.LabCharts = {init, update, series}:
//   init(container)  builds the three charts in container (#charts) and fetches
//                    its data-timeline URL, so the last or current run shows at
//                    once after a reload. Calling it again does nothing.
//   update(timeline) adds what a live update brought: null/undefined for
//                    nothing new, the new points and marks of the same run, or
//                    a whole new run (which replaces the old one).
//   series(chartId)  the current stroke colours of that chart's series.
// After each change the container carries data-run, data-points and
// data-last-p50 (the p50 of the last second that had answers).
(function () {
  "use strict";

  var root = document.documentElement;
  var SVG = "http://www.w3.org/2000/svg";
  // Label rows above each plot for the marks, in CSS pixels.
  var MARK_ROWS = 2, MARK_ROW_H = 15;

  // Each series says where its value comes from, its theme colour (with a
  // fallback for a property the theme may not define) and its dash pattern:
  // series differ by dash as well as colour.
  var DASHED = [6, 4], DOTTED = [2, 3], DASH_DOT = [10, 3, 2, 3], LONG_DASH = [16, 5];
  // Colours follow the theme's meanings: --ok and --fail for outcomes only,
  // --warn for slow or retrying work; the mode colours are left alone since
  // a chart shows one run whatever its mode.
  var CHARTS = [
    { id: "chart-latency", unit: "ms", what: "Signup latency",
      series: [
        { key: "p50", label: "p50", color: ["--accent"], dash: null },
        { key: "p95", label: "p95", color: ["--warn"], dash: DASHED },
        { key: "p99", label: "p99", color: ["--text"], dash: DOTTED }
      ] },
    { id: "chart-throughput", unit: "per second", what: "Signups and emails",
      series: [
        { key: "accepted", label: "signups accepted", color: ["--ok", "--async"], dash: null },
        { key: "failed", label: "signups failed", color: ["--fail", "--sync"], dash: DASHED },
        { key: "completed", label: "emails completed", color: ["--accent"], dash: DOTTED }
      ] },
    { id: "chart-lag", unit: "messages", what: "Work waiting",
      series: [
        { key: "waitEmail", label: "email waiting", color: ["--accent"], dash: null },
        { key: "waitAnalytics", label: "analytics waiting", color: ["--muted"], dash: DASHED },
        { key: "retryEmail", label: "email retrying", color: ["--warn"], dash: DOTTED },
        { key: "retryAnalytics", label: "analytics retrying", color: ["--warn"], dash: DASH_DOT },
        { key: "dead", label: "dead letters so far", color: ["--fail", "--sync"], dash: LONG_DASH, width: 2.5 }
      ] }
  ];
  var KEYS = ["p50", "p95", "p99", "accepted", "failed", "completed",
    "waitEmail", "waitAnalytics", "retryEmail", "retryAnalytics", "dead"];
  var LIFECYCLE = { "run started": true, "load ended": true, "run ended": true };

  // ---- the run's data --------------------------------------------------------

  function emptyRun() {
    var r = { run: "", started: "", done: true, t: [], marks: [], seen: {}, lastP50: null };
    KEYS.forEach(function (k) { r[k] = []; });
    return r;
  }

  var data = emptyRun();
  var updated = false; // a live update arrived (the first fetch must not undo it)

  function num(v) { return typeof v === "number" && isFinite(v) ? v : 0; }

  // merge adds a timeline (the whole run or what is new of it) to data.
  function merge(tl) {
    if (!tl || typeof tl !== "object" || !tl.run) return false;
    if (tl.run !== data.run) {
      data = emptyRun();
      data.run = String(tl.run);
    }
    data.started = tl.started || data.started;
    data.done = !!tl.done;
    (tl.points || []).forEach(function (p) {
      var t = num(p.t), n = data.t.length;
      if (n && t <= data.t[n - 1]) return; // already have it
      var w = p.waiting || {}, r = p.retrying || {};
      var p50 = num(p.p50), p95 = num(p.p95), p99 = num(p.p99);
      var answered = p50 > 0 || p95 > 0 || p99 > 0 || num(p.accepted) + num(p.failed) > 0;
      data.t.push(t);
      // A second without answers has no latency: a gap, not a zero.
      data.p50.push(answered ? p50 : null);
      data.p95.push(answered ? p95 : null);
      data.p99.push(answered ? p99 : null);
      if (answered) data.lastP50 = p50;
      data.accepted.push(num(p.accepted));
      data.failed.push(num(p.failed));
      data.completed.push(num(p.completed));
      data.waitEmail.push(num(w.email));
      data.waitAnalytics.push(num(w.analytics));
      data.retryEmail.push(num(r.email));
      data.retryAnalytics.push(num(r.analytics));
      data.dead.push(num(p.dead));
    });
    (tl.marks || []).forEach(function (m) {
      var key = num(m.t) + "|" + m.label;
      if (data.seen[key]) return;
      data.seen[key] = true;
      data.marks.push({ t: num(m.t), label: String(m.label || "") });
    });
    data.marks.sort(function (a, b) { return a.t - b.t; });
    return true;
  }

  function lastT() {
    var t = data.t.length ? data.t[data.t.length - 1] : 0;
    data.marks.forEach(function (m) { t = Math.max(t, m.t); });
    return t;
  }

  // ---- words and numbers -------------------------------------------------------

  function round(v, places) { var f = Math.pow(10, places); return Math.round(v * f) / f; }

  // secs labels the time axis: "0 s", "45 s", "1 min", "1 min 30 s".
  function secs(v) {
    v = round(v, 3);
    if (Math.abs(v) < 60) return v + " s";
    var m = Math.floor(v / 60), s = round(v - m * 60, 3);
    return m + " min" + (s ? " " + s + " s" : "");
  }

  // when says when a mark or a second happened: "0 s", "4.2 s", "1 min 5 s".
  function when(v) {
    return secs(v < 10 ? round(v, 1) : Math.round(v));
  }

  function amount(v) {
    if (v == null) return "–";
    var a = Math.abs(v);
    if (a >= 10000) return round(v / 1000, 1) + "k";
    if (a >= 100 || Number.isInteger(v)) return String(Math.round(v));
    return String(round(v, 1));
  }

  function niceMax(v) {
    if (!(v > 0)) return 1;
    v *= 1.08;
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var steps = [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * p >= v) return steps[i] * p;
    return 10 * p;
  }

  var WHOLE = []; // whole-number tick steps: counts and ms need no fractions
  [1, 10, 100, 1000, 10000, 100000].forEach(function (p) { WHOLE.push(p, 2 * p, 5 * p); });
  var SECOND_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];

  // ---- theme ---------------------------------------------------------------------

  function cssVar(names) {
    var cs = getComputedStyle(root);
    for (var i = 0; i < names.length; i++) {
      var v = cs.getPropertyValue(names[i]).trim();
      if (v) return v;
    }
    return "";
  }

  function readTheme() {
    var body = document.body ? getComputedStyle(document.body).fontFamily : "";
    return {
      text: cssVar(["--text"]) || "#1c1d21",
      muted: cssVar(["--muted"]) || "#5b5f6a",
      border: cssVar(["--border"]) || "#d9d6cd",
      surface: cssVar(["--surface", "--bg"]) || "#ffffff",
      font: body || "system-ui, sans-serif",
      key: ["--text", "--muted", "--border", "--surface", "--sync", "--async", "--fail", "--warn", "--ok", "--accent"]
        .map(function (n) { return cssVar([n]); }).join(",")
    };
  }

  var theme = null;

  // ---- the charts ------------------------------------------------------------------

  var container = null;
  var charts = []; // {def, el, legend, u, width}

  var HEIGHT = 200; // each chart's canvas, label rows and time axis included

  function chartData(def) {
    return [data.t].concat(def.series.map(function (s) { return data[s.key]; }));
  }

  function xRange() {
    var end = lastT();
    // While a run goes on the axis grows from ten seconds; a finished run
    // fills the width.
    end = data.done && end > 0 ? Math.max(1, end) : Math.max(10, Math.ceil(end));
    return [0, end];
  }

  // Points show where a line cannot: a lone second between two gaps.
  function loneSeconds(u, si, show) {
    if (show) return null;
    var ys = u.data[si], out = [];
    for (var i = 0; i < ys.length; i++) {
      if (ys[i] != null && (i === 0 || ys[i - 1] == null) && (i === ys.length - 1 || ys[i + 1] == null)) out.push(i);
    }
    return out.length ? out : null;
  }

  // drawMarks draws a dashed vertical line for each mark with its label in
  // the rows above the plot; labels that would overlap step down a row, and
  // the text under the charts lists every mark anyway.
  function drawMarks(u) {
    if (!data.marks.length || !theme) return;
    var ctx = u.ctx, px = window.devicePixelRatio || 1;
    var left = u.bbox.left, right = u.bbox.left + u.bbox.width, top = u.bbox.top, bottom = u.bbox.top + u.bbox.height;
    var ends = [];
    for (var r = 0; r < MARK_ROWS; r++) ends.push(-Infinity);
    ctx.save();
    ctx.font = Math.round(11 * px) + "px " + theme.font;
    ctx.textBaseline = "middle";
    ctx.textAlign = "left";
    data.marks.forEach(function (m, n) {
      var x = Math.round(u.valToPos(m.t, "x", true));
      if (x < left - 1 || x > right + 1) return;
      var life = LIFECYCLE[m.label];
      var name = m.label.length > 28 ? m.label.slice(0, 27) + "…" : m.label;
      // The label, or where it does not fit its number in the list below.
      var placed = place(name) || place("(" + (n + 1) + ")");
      var y0 = top;
      if (placed) {
        var cy = (placed.row + 0.5) * MARK_ROW_H * px + px;
        ctx.fillStyle = theme.surface;
        ctx.fillRect(placed.x - 2 * px, cy - 6.5 * px, placed.w + 4 * px, 13 * px);
        ctx.fillStyle = life ? theme.muted : theme.text;
        ctx.fillText(placed.text, placed.x, cy);
        y0 = cy - 6 * px;
      }
      ctx.strokeStyle = theme.muted;
      ctx.lineWidth = Math.max(1, Math.round((life ? 1 : 1.5) * px));
      ctx.setLineDash([4 * px, 3 * px]);
      ctx.beginPath();
      ctx.moveTo(x + 0.5, y0);
      ctx.lineTo(x + 0.5, bottom);
      ctx.stroke();

      function place(text) {
        var w = ctx.measureText(text).width, pad = 3 * px;
        var lx = x + pad; // right of the line, or left of it at the edge
        if (lx + w > right) lx = x - pad - w;
        lx = Math.max(lx, 0);
        for (var i = 0; i < MARK_ROWS; i++) {
          if (ends[i] + 6 * px <= lx) {
            ends[i] = lx + w;
            return { row: i, x: lx, w: w, text: text };
          }
        }
        return null;
      }
    });
    ctx.restore();
  }

  function options(def, width) {
    var font = "12px " + theme.font;
    var axis = {
      stroke: theme.muted, font: font,
      grid: { stroke: theme.border, width: 1 },
      ticks: { stroke: theme.border, width: 1, size: 4 }
    };
    return {
      width: width, height: HEIGHT,
      padding: [MARK_ROWS * MARK_ROW_H + 6, 14, 0, 0],
      legend: { show: false },
      cursor: { drag: { x: false, y: false, setScale: false }, sync: { key: "lab-run" }, points: { size: 7 } },
      scales: {
        x: { time: false, range: function () { return xRange(); } },
        y: { range: function (u, min, max) { return [0, niceMax(max)]; } }
      },
      axes: [
        Object.assign({}, axis, {
          incrs: SECOND_STEPS, size: 32,
          // Wider gaps once labels read "1 min 30 s", so they never touch.
          space: function (u, i, min, max) { return max >= 60 ? 88 : 48; },
          values: function (u, splits) { return splits.map(secs); }
        }),
        Object.assign({}, axis, {
          incrs: WHOLE, size: 46, space: 28, label: def.unit, labelSize: 18, labelFont: font, labelGap: 0,
          values: function (u, splits) { return splits.map(amount); }
        })
      ],
      series: [{ label: "seconds" }].concat(def.series.map(function (s) {
        return {
          label: s.label, stroke: s.colour, width: s.width || 2, dash: s.dash || undefined, spanGaps: false,
          points: { size: 5, fill: s.colour, stroke: s.colour, filter: loneSeconds }
        };
      })),
      hooks: {
        draw: [drawMarks],
        setCursor: [function (u) { legendValues(chartOf(u), u.cursor.idx); }]
      }
    };
  }

  function chartOf(u) {
    for (var i = 0; i < charts.length; i++) if (charts[i].u === u) return charts[i];
    return null;
  }

  function legendSwatch(s) {
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "lc-swatch");
    svg.setAttribute("width", "34");
    svg.setAttribute("height", "10");
    svg.setAttribute("viewBox", "0 0 34 10");
    svg.setAttribute("aria-hidden", "true");
    var line = document.createElementNS(SVG, "line");
    line.setAttribute("x1", "1"); line.setAttribute("x2", "33");
    line.setAttribute("y1", "5"); line.setAttribute("y2", "5");
    line.setAttribute("stroke-width", "2.5");
    if (s.dash) line.setAttribute("stroke-dasharray", s.dash.join(" "));
    svg.appendChild(line);
    return svg;
  }

  function buildLegend(c) {
    var ul = document.createElement("ul");
    ul.className = "lc-legend";
    var at = document.createElement("li");
    at.className = "lc-at";
    ul.appendChild(at);
    c.def.series.forEach(function (s) {
      var li = document.createElement("li");
      li.appendChild(legendSwatch(s));
      var name = document.createElement("span");
      name.className = "lc-name";
      name.textContent = s.label;
      var val = document.createElement("span");
      val.className = "lc-value";
      li.appendChild(name);
      li.appendChild(document.createTextNode(" "));
      li.appendChild(val);
      ul.appendChild(li);
    });
    return ul;
  }

  function colourLegend(c) {
    var lines = c.legend.querySelectorAll("line");
    c.def.series.forEach(function (s, i) { lines[i].setAttribute("stroke", s.colour); });
  }

  // legendValues shows the values of second idx (the cursor's), or else of
  // the last second (for latency, the last second that had answers).
  function legendValues(c, idx) {
    if (!c) return;
    var n = data.t.length, hovering = idx != null && idx >= 0 && idx < n;
    var latency = c.def.unit === "ms", i = hovering ? idx : n - 1, head = "Last second";
    if (!hovering && latency) {
      i = lastAnswered();
      head = "Last second with answers";
    }
    var text = !n ? "" : i < 0 ? "No signup answered yet." : (hovering ? "At " : head + ", ") + when(data.t[i]) + ":";
    setText(c.legend.firstChild, text);
    var vals = c.legend.querySelectorAll(".lc-value");
    c.def.series.forEach(function (s, k) {
      var v = n && i >= 0 ? data[s.key][i] : null;
      setText(vals[k], !n || i < 0 ? "" : v == null ? "no answers" : amount(v) + (latency ? " ms" : ""));
    });
  }

  function lastAnswered() {
    for (var i = data.p50.length - 1; i >= 0; i--) if (data.p50[i] != null) return i;
    return -1;
  }

  function widthOf(c) { return Math.max(200, Math.floor(c.el.clientWidth)); }

  function build() {
    theme = readTheme();
    charts.forEach(function (c) {
      c.def.series.forEach(function (s) { s.colour = cssVar(s.color) || theme.text; });
      if (c.u) c.u.destroy();
      c.el.textContent = "";
      c.width = widthOf(c);
      c.u = new window.uPlot(options(c.def, c.width), chartData(c.def), c.el);
      colourLegend(c);
      legendValues(c, null);
    });
  }

  // restyle rebuilds the plots when the theme's colours changed.
  function restyle() {
    if (!charts.length) return;
    if (readTheme().key === theme.key) return;
    build();
  }

  function resize() {
    charts.forEach(function (c) {
      var w = widthOf(c);
      if (c.u && w !== c.width) {
        c.width = w;
        c.u.setSize({ width: w, height: HEIGHT });
      }
    });
  }

  // ---- what the page says about the run ---------------------------------------

  function maxAt(key) {
    var ys = data[key], best = null, at = 0;
    for (var i = 0; i < ys.length; i++) if (ys[i] != null && (best == null || ys[i] > best)) { best = ys[i]; at = data.t[i]; }
    return { v: best, t: at };
  }

  function sum(key) { return data[key].reduce(function (a, b) { return a + (b || 0); }, 0); }

  function describe(id) {
    var span = "over " + when(lastT());
    var marks = data.marks.filter(function (m) { return !LIFECYCLE[m.label]; })
      .map(function (m) { return m.label + " at " + when(m.t); });
    var tail = marks.length ? " Marked: " + marks.join("; ") + "." : "";
    if (!data.t.length) return null;
    if (id === "chart-latency") {
      var p50 = maxAt("p50"), p99 = maxAt("p99");
      if (p50.v == null) return "Signup latency, second by second: no signup was answered " + span + "." + tail;
      return "Signup latency, second by second " + span + ": p50 up to " + amount(p50.v) + " ms, p99 up to " +
        amount(p99.v) + " ms (at " + when(p99.t) + "); p50 of the last second with answers " + amount(data.lastP50) + " ms." + tail;
    }
    if (id === "chart-throughput") {
      var top = maxAt("accepted");
      return "Signups and emails, second by second " + span + ": " + sum("accepted") + " accepted, " + sum("failed") +
        " failed, " + sum("completed") + " welcome emails completed; at most " + top.v + " accepted in one second (at " + when(top.t) + ")." + tail;
    }
    var we = maxAt("waitEmail"), wa = maxAt("waitAnalytics");
    return "Work waiting per consumer group, second by second " + span + ": at most " + we.v + " for email (at " +
      when(we.t) + ") and " + wa.v + " for analytics; " + data.dead[data.dead.length - 1] + " dead letters by the last second." + tail;
  }

  var baseLabels = {};

  function setText(el, text) { if (el && el.textContent !== text) el.textContent = text; }

  function render() {
    if (!container) return;
    charts.forEach(function (c) {
      if (c.u) c.u.setData(chartData(c.def));
      legendValues(c, c.u ? c.u.cursor.idx : null);
      var label = describe(c.def.id) || baseLabels[c.def.id];
      if (c.el.getAttribute("aria-label") !== label) c.el.setAttribute("aria-label", label);
    });
    container.dataset.run = data.run;
    container.dataset.points = String(data.t.length);
    container.dataset.lastP50 = data.lastP50 == null ? "" : String(data.lastP50);
    container.dataset.done = String(data.done);
    var panel = container.closest("section") || document;
    var empty = panel.querySelector("#charts-empty");
    if (empty) empty.hidden = !!data.run;
    var status = panel.querySelector("#charts-run");
    if (status) {
      var started = data.started ? new Date(data.started) : null;
      var clock = started && !isNaN(started) ? started.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" }) : "";
      setText(status, !data.run ? "" : (data.done ? "Last run" : "Run in progress") +
        (clock ? ", started " + clock : "") + " · " + when(lastT()) + (data.done ? " long" : " so far") + ".");
    }
    var list = panel.querySelector("#charts-marks");
    if (list) {
      list.hidden = !data.marks.length;
      setText(list, data.marks.length ? "Marked on the charts: " +
        data.marks.map(function (m, n) { return "(" + (n + 1) + ") " + when(m.t) + " " + m.label; }).join(" · ") + "." : "");
    }
  }

  // ---- the API ------------------------------------------------------------------

  function init(el) {
    if (!el || container) return;
    if (!window.uPlot) return;
    container = el;
    CHARTS.forEach(function (def) {
      var chartEl = document.getElementById(def.id);
      if (!chartEl || !el.contains(chartEl)) return;
      baseLabels[def.id] = chartEl.getAttribute("aria-label") || def.what;
      var c = { def: def, el: chartEl, u: null, width: 0 };
      c.legend = buildLegend(c);
      chartEl.parentNode.insertBefore(c.legend, chartEl.nextSibling);
      charts.push(c);
    });
    build();
    render();

    if (window.ResizeObserver) {
      var pending = false;
      var ro = new ResizeObserver(function () {
        if (pending) return;
        pending = true;
        requestAnimationFrame(function () { pending = false; resize(); });
      });
      charts.forEach(function (c) { ro.observe(c.el); });
    } else {
      window.addEventListener("resize", resize);
    }
    // The site switches themes with data-theme on <html>, and otherwise
    // follows the system's setting: watch both.
    new MutationObserver(restyle).observe(root, { attributes: true, attributeFilter: ["data-theme", "class"] });
    var dark = window.matchMedia("(prefers-color-scheme: dark)");
    if (dark.addEventListener) dark.addEventListener("change", restyle);
    else if (dark.addListener) dark.addListener(restyle);

    var url = el.dataset.timeline;
    if (url && window.fetch) {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (res) { return res.ok ? res.json() : null; })
        .then(function (tl) {
          // A live update may have brought a newer run meanwhile.
          if (!tl || (updated && data.run && tl.run !== data.run)) return;
          if (merge(tl)) render();
        }, function () { /* the live updates will bring the run */ });
    }
  }

  function update(tl) {
    if (!tl) return;
    if (merge(tl)) {
      updated = true;
      render();
    }
  }

  function series(chartId) {
    for (var i = 0; i < charts.length; i++) {
      var c = charts[i];
      if (c.def.id === chartId && c.u) {
        return c.u.series.slice(1).map(function (s, k) { return s.stroke(c.u, k + 1); });
      }
    }
    return [];
  }

  window.LabCharts = { init: init, update: update, series: series };
})();
