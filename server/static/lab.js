// The signup lab, enhanced. Every control already works as a plain form post;
// this script applies settings as they change, starts runs without leaving
// the page, and draws the live picture and charts from Server-Sent Events.
(function () {
  "use strict";

  var reduceMotion = window.matchMedia("(prefers-reduced-motion: reduce)");

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }
  function setText(el, v) { if (el && el.textContent !== String(v)) el.textContent = String(v); }

  // post sends a form with fetch and returns the JSON answer (ok or error).
  function post(form, action) {
    var body = new URLSearchParams(new FormData(form));
    return fetch(action || form.action, {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "X-Requested-With": "fetch", "Accept": "application/json" }
    }).then(function (res) {
      return res.json().catch(function () { return { error: "The server answered " + res.status + "." }; })
        .then(function (j) { j.status_code = res.status; return j; });
    }, function () { return { error: "The server could not be reached." }; });
  }

  function notice(kind, text) {
    var box = $("#lab-notices");
    if (!box) return;
    box.textContent = "";
    if (!text) return;
    var p = document.createElement("p");
    p.className = "notice notice-" + kind;
    if (kind === "error") { p.id = "lab-error"; p.setAttribute("role", "alert"); }
    p.textContent = text;
    box.appendChild(p);
  }

  function markInvalid(form, field) {
    $all("[aria-invalid]", form).forEach(function (el) { el.removeAttribute("aria-invalid"); el.removeAttribute("aria-describedby"); });
    if (!field) return;
    var el = form.querySelector('[name="' + field + '"]');
    if (el) { el.setAttribute("aria-invalid", "true"); el.setAttribute("aria-describedby", "lab-error"); }
  }

  // ---- charts --------------------------------------------------------------

  var MAX_POINTS = 240;

  function cssVar(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

  function Charts() {
    this.data = { t: [], p50: [], p95: [], p99: [], thr: [], fail: [], lagE: [], lagA: [], dlq: [] };
    this.plots = [];
    this.prev = null;
    if (!window.uPlot) return;
    var self = this;
    function make(id, series, scaleLabel) {
      var el = document.getElementById(id);
      if (!el) return null;
      var opts = {
        width: Math.max(240, el.clientWidth), height: 180,
        scales: { x: { time: true, range: function (u, min, max) {
          // An empty or one-point chart shows the last minute, not years.
          if (min == null || max - min < 30) { var now = max || Date.now() / 1000; return [now - 60, now]; }
          return [min, max];
        } } },
        axes: [{ stroke: cssVar("--muted"), grid: { stroke: cssVar("--border"), width: 1 } },
               { stroke: cssVar("--muted"), grid: { stroke: cssVar("--border"), width: 1 }, label: scaleLabel, size: 50 }],
        series: [{}].concat(series),
        legend: { live: false }
      };
      var p = new window.uPlot(opts, [[]].concat(series.map(function () { return []; })), el);
      p._el = el;
      self.plots.push(p);
      return p;
    }
    var sync = cssVar("--sync"), async = cssVar("--async"), warn = cssVar("--warn"), accent = cssVar("--accent");
    this.lat = make("chart-latency", [
      { label: "p50", stroke: async, width: 2 },
      { label: "p95", stroke: warn, width: 2, dash: [6, 3] },
      { label: "p99", stroke: sync, width: 2, dash: [2, 3] }], "ms");
    this.thr = make("chart-throughput", [
      { label: "succeeded/s", stroke: async, width: 2 },
      { label: "failed/s", stroke: sync, width: 2, dash: [4, 3] }], "/s");
    this.lag = make("chart-lag", [
      { label: "email lag", stroke: accent, width: 2 },
      { label: "analytics lag", stroke: warn, width: 2, dash: [6, 3] },
      { label: "dead letters", stroke: sync, width: 2, dash: [2, 3] }], "msgs");
    if (window.ResizeObserver) {
      var ro = new ResizeObserver(function () {
        self.plots.forEach(function (p) { p.setSize({ width: Math.max(240, p._el.clientWidth), height: 180 }); });
      });
      this.plots.forEach(function (p) { ro.observe(p._el); });
    }
  }

  Charts.prototype.add = function (ev) {
    var s = ev.snapshot, c = s.counters, d = this.data, t = ev.at / 1000;
    var thr = 0, fail = 0;
    if (this.prev && t > this.prev.t) {
      var dt = t - this.prev.t;
      thr = Math.max(0, (c.succeeded - this.prev.ok) / dt);
      fail = Math.max(0, (c.failed - this.prev.failed) / dt);
    }
    this.prev = { t: t, ok: c.succeeded, failed: c.failed };
    var lat = s.signup_latency_ms || {};
    var lagE = 0, lagA = 0;
    (s.groups || []).forEach(function (g) { if (g.name === "email") lagE = g.lag; else lagA = g.lag; });
    d.t.push(t); d.p50.push(lat.p50 || 0); d.p95.push(lat.p95 || 0); d.p99.push(lat.p99 || 0);
    d.thr.push(Math.round(thr * 10) / 10); d.fail.push(Math.round(fail * 10) / 10);
    d.lagE.push(lagE); d.lagA.push(lagA); d.dlq.push(s.dead_letters || 0);
    if (d.t.length > MAX_POINTS) Object.keys(d).forEach(function (k) { d[k].shift(); });
    if (this.lat) this.lat.setData([d.t, d.p50, d.p95, d.p99]);
    if (this.thr) this.thr.setData([d.t, d.thr, d.fail]);
    if (this.lag) this.lag.setData([d.t, d.lagE, d.lagA, d.dlq]);
  };

  // ---- moving dots -----------------------------------------------------------

  // Dots draws on whichever layout of the picture is on show.
  function Dots(figure) {
    this.figure = figure;
    this.live = [];
    this.running = false;
  }

  Dots.prototype.svg = function () {
    var shown = $all("svg.flow", this.figure).filter(function (s) { return s.getBoundingClientRect().width > 0; });
    return shown[0] || null;
  };

  Dots.prototype.spawn = function (route, n, cls) {
    var svg = this.svg();
    if (!svg || n <= 0 || reduceMotion.matches) return;
    var layer = svg.querySelector(".dots");
    n = Math.min(n, 10);
    var paths = route.map(function (w) { return svg.querySelector('[data-wire="' + w + '"]'); }).filter(Boolean);
    if (!paths.length) return;
    for (var i = 0; i < n; i++) {
      var dot = document.createElementNS("http://www.w3.org/2000/svg", "circle");
      dot.setAttribute("class", "dot " + cls);
      dot.setAttribute("r", "4.5");
      layer.appendChild(dot);
      this.live.push({ el: dot, paths: paths, start: performance.now() + i * (240 / n), dur: 700 });
    }
    if (this.live.length > 120) this.live.splice(0, this.live.length - 120).forEach(function (d) { d.el.remove(); });
    if (!this.running) { this.running = true; requestAnimationFrame(this.step.bind(this)); }
  };

  Dots.prototype.step = function (now) {
    this.live = this.live.filter(function (d) {
      var k = (now - d.start) / d.dur;
      if (k < 0) { d.el.setAttribute("opacity", "0"); return true; }
      var leg = Math.floor(k);
      if (leg >= d.paths.length) { d.el.remove(); return false; }
      var p = d.paths[leg], len = p.getTotalLength(), pt = p.getPointAtLength((k - leg) * len);
      d.el.setAttribute("cx", pt.x.toFixed(1));
      d.el.setAttribute("cy", pt.y.toFixed(1));
      d.el.setAttribute("opacity", "1");
      return true;
    });
    if (this.live.length) requestAnimationFrame(this.step.bind(this));
    else this.running = false;
  };

  Dots.prototype.clear = function () { this.live.forEach(function (d) { d.el.remove(); }); this.live = []; };

  // ---- the lab page ----------------------------------------------------------

  function labPage(lab) {
    var base = lab.dataset.base;
    var settings = $("#settings-form"), runForm = $("#run-form");
    var picture = $("#picture"), dots = new Dots($("#picture")), charts = new Charts();
    var runState = $("#run-state"), pauseBtn = $("#pause"), progress = $("#progress"), bar = $("#progress-bar");
    var runBtn = $("#run"), cancelBtn = $("#cancel"), applyState = $("#apply-state");
    var runs = Number(lab.dataset.runs || 0), deadSeen = Number(lab.dataset.dead || 0), last = null, source = null, paused = false;

    // Apply settings as they change; the Apply button stays for keyboard users.
    var timer = null, pending = null, appliedAt = 0;
    function apply() {
      timer = null;
      setText(applyState, "Applying…");
      pending = post(settings).then(function (j) {
        pending = null;
        appliedAt = Date.now();
        if (j.error) {
          markInvalid(settings, j.field);
          notice("error", "Not changed. " + j.error);
          setText(applyState, "");
          return;
        }
        markInvalid(settings, null);
        notice("", "");
        setText(applyState, "Applied");
        if (j.settings) lab.dataset.mode = j.settings.mode;
      });
      return pending;
    }
    // settled resolves once every settings change is in force, so a run
    // started right after a change runs with it.
    function settled() {
      if (timer) { clearTimeout(timer); return apply(); }
      return pending || Promise.resolve();
    }
    settings.addEventListener("change", function () { clearTimeout(timer); timer = setTimeout(apply, 250); });
    settings.addEventListener("submit", function (e) { e.preventDefault(); clearTimeout(timer); apply(); });

    runForm.addEventListener("submit", function (e) {
      var cancel = e.submitter && e.submitter.id === "cancel";
      e.preventDefault();
      settled().then(function () {
        return post(runForm, cancel ? base + "/cancel" : runForm.action);
      }).then(function (j) {
        if (j.error) { markInvalid(runForm, j.field); notice("error", "Not started. " + j.error); return; }
        markInvalid(runForm, null);
        notice("", "");
        if (!cancel) setRunning(true, "your run");
      });
    });

    function setRunning(on, label) {
      lab.dataset.running = String(on);
      runBtn.disabled = on;
      cancelBtn.hidden = !on;
      progress.hidden = !on;
      if (on) setText(runState, "Running " + (label || "") + "…");
    }

    // Refresh the server-rendered panels after a run or a dead-letter change.
    function refreshPanels() {
      fetch(base, { credentials: "same-origin" }).then(function (r) { return r.text(); }).then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        ["#last-run", "#dead-letters", "#trace", "#scenarios"].forEach(function (sel) {
          var fresh = doc.querySelector(sel), old = document.querySelector(sel);
          if (!fresh || !old) return;
          var focused = old.contains(document.activeElement) ? document.activeElement.id : "";
          old.replaceWith(fresh);
          if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
        });
      });
    }

    // syncForm shows settings changed elsewhere (recover-after, "show me",
    // another tab) in the controls, leaving alone the one being edited.
    function syncForm(st) {
      // A snapshot taken before the last apply landed must not undo it.
      if (timer || pending || Date.now() - appliedAt < 1500) return;
      var ms = function (ns) { return String(Math.round(ns / 1e6)); };
      var want = {
        email_latency: ms(st.email.latency), email_error_rate: String(st.email.error_rate),
        analytics_latency: ms(st.analytics.latency), analytics_error_rate: String(st.analytics.error_rate),
        timeout: ms(st.timeout), crash_rate: String(st.crash_rate), email_consumers: String(st.email_consumers),
        analytics_consumers: String(st.analytics_consumers), max_deliveries: String(st.max_deliveries), retry_after: ms(st.retry_after),
        email_down: st.email.down, email_hang: st.email.hang, analytics_down: st.analytics.down, analytics_hang: st.analytics.hang,
        breaker: st.breaker, fallback: st.fallback, idempotency: st.idempotency
      };
      Object.keys(want).forEach(function (name) {
        var el = settings.elements[name];
        if (!el || el === document.activeElement) return;
        if (el.type === "checkbox") { if (el.checked !== want[name]) el.checked = want[name]; }
        else if (Number(el.value) !== Number(want[name])) el.value = want[name];
      });
      $all('input[name="mode"]', settings).forEach(function (r) {
        if (r !== document.activeElement) r.checked = r.value === st.mode;
      });
    }

    function onSnap(ev) {
      syncForm(ev.snapshot.settings);
      var s = ev.snapshot, p = ev.picture, st = ev.status, c = s.counters;
      picture.dataset.mode = p.mode;
      lab.dataset.mode = p.mode;
      var pic = function (key, v) { $all('[data-pic="' + key + '"]', picture).forEach(function (el) { setText(el, v); }); };
      pic("mode", p.mode === "sync" ? "sync · waits" : "async · hands off");
      pic("stream", p.stream);
      pic("dead", p.dead);
      pic("retries", p.retries);
      ["email", "analytics"].forEach(function (svc) {
        $all('[data-svc="' + svc + '"]', picture).forEach(function (g) { g.dataset.state = p[svc].state; });
        pic(svc + "-state", p[svc].label);
        pic(svc + "-breaker", p.breaker ? "breaker " + ((p.breakers || {})[svc] || "") : "");
      });
      (p.groups || []).forEach(function (g) {
        ["pending", "lag", "consumers"].forEach(function (k) {
          $all('[data-g="' + g.name + "." + k + '"]', picture).forEach(function (el) { setText(el, g[k]); });
        });
      });
      $all("#figures [data-k]").forEach(function (dd) {
        var path = dd.dataset.k.split("."), v = s;
        path.forEach(function (k) { v = v == null ? 0 : v[k]; });
        setText(dd, v == null ? 0 : v);
      });
      var running = st.running || !!s.run;
      if (running) {
        var phase = s.run && s.run.phase === "drain" ? "waiting for consumers to finish" : "sending";
        var label = st.steps > 1 ? "step " + st.step + " of " + st.steps + ": " + st.label : (st.label || "");
        setText(runState, "Running " + label + " · " + (s.run ? s.run.sent + " of " + s.run.target + " sent, " + phase : "") );
        if (s.run && s.run.target) bar.className = "progress-bar w" + Math.min(100, Math.round(s.run.sent / s.run.target * 20) * 5);
      } else {
        setText(runState, st.error ? "Stopped: " + st.error : "Idle");
      }
      if (String(running) !== lab.dataset.running) setRunning(running, st.label);
      // Dots for the work done since the last update.
      if (last && !paused) {
        var lc = last.snapshot.counters;
        var ok = c.succeeded - lc.succeeded, bad = c.failed - lc.failed;
        if (p.mode === "sync") {
          dots.spawn(["sync-email", "sync-analytics"], ok, "dot-sync");
          dots.spawn(["sync-email"], bad, "dot-fail");
        } else {
          dots.spawn(["publish"], ok, "dot-async");
          var done = c.processed - lc.processed;
          dots.spawn(["deliver-email", "call-email"], Math.ceil(done / 2), "dot-async");
          dots.spawn(["deliver-analytics", "call-analytics"], Math.floor(done / 2), "dot-async");
          dots.spawn(["dead"], c.dead_lettered - lc.dead_lettered, "dot-fail");
          dots.spawn(["deliver-email"], c.retries - lc.retries, "dot-fail");
        }
      }
      last = ev;
      charts.add(ev);
      (ev.reached || []).forEach(function (id) {
        var el = $('[data-goal="' + id + '"]');
        if (el && !el.classList.contains("goal-yes")) { el.classList.add("goal-yes"); el.textContent = "✓ goal reached"; }
      });
      if (ev.runs !== runs || (deadSeen !== null && deadSeen !== s.dead_letters && !running)) {
        runs = ev.runs;
        refreshPanels();
      }
      deadSeen = s.dead_letters;
    }

    function connect() {
      if (source || !window.EventSource) return;
      source = new EventSource(base + "/events");
      source.addEventListener("snap", function (e) { try { onSnap(JSON.parse(e.data)); } catch (err) { if (window.console) console.error("lab live update", err); } });
      source.addEventListener("closed", function () { disconnect(); setText(runState, "This sandbox was closed. Reload the page for a fresh one."); });
    }
    function disconnect() { if (source) { source.close(); source = null; } }

    pauseBtn.hidden = false;
    pauseBtn.addEventListener("click", function () {
      paused = !paused;
      pauseBtn.setAttribute("aria-pressed", String(paused));
      pauseBtn.textContent = paused ? "Resume updates" : "Pause updates";
      if (paused) { disconnect(); dots.clear(); } else { connect(); }
    });
    window.addEventListener("pagehide", disconnect);
    window.addEventListener("pageshow", function (e) { if (e.persisted && !paused) connect(); });
    connect();
  }

  // ---- a scenario page: follow its guided runs, and check its goal in the
  // background while the learner experiments in another tab.

  function scenarioPage(sc) {
    if (!window.EventSource) return;
    var running = sc.dataset.running === "true";
    var es = new EventSource(sc.dataset.base + "/events");
    es.addEventListener("snap", function (e) {
      var ev = JSON.parse(e.data), st = ev.status;
      var line = document.getElementById("scenario-state");
      if (st.running && line) {
        var run = ev.snapshot.run;
        line.textContent = "Running step " + st.step + " of " + st.steps + ": " + st.label + (run ? " · " + run.sent + " of " + run.target + " sent" : "") + "…";
      }
      var goal = document.getElementById("goal-state");
      if (goal && (ev.reached || []).indexOf(sc.dataset.scenario) >= 0 && !goal.classList.contains("goal-yes")) {
        goal.classList.add("goal-yes");
        goal.textContent = "✓ reached";
      }
      if (running && !st.running) { es.close(); window.location.reload(); }
    });
    window.addEventListener("pagehide", function () { es.close(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var lab = document.getElementById("lab");
    if (lab) labPage(lab);
    var sc = document.getElementById("scenario");
    if (sc) scenarioPage(sc);
  });
})();
