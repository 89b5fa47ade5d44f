// The signup lab, enhanced. Every control already works as a plain form post;
// this script applies settings as they change, starts runs without leaving
// the page, and follows the lab live over Server-Sent Events: the picture
// (lab-picture.js) animates what really happened, the charts (lab-charts.js)
// draw the run second by second, and the numbers say what this run did.
(function () {
  "use strict";

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
    if (kind === "error") { p.id = "lab-error"; p.setAttribute("role", "alert"); } else { p.setAttribute("role", "status"); }
    p.textContent = text;
    box.appendChild(p);
  }

  function markInvalid(field) {
    $all("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); el.removeAttribute("aria-describedby"); });
    if (!field) return;
    var el = document.querySelector('[name="' + field + '"]');
    if (!el) return;
    el.setAttribute("aria-invalid", "true");
    el.setAttribute("aria-describedby", "lab-error");
    var panel = el.closest("details");
    if (panel) panel.open = true;
  }

  function labPage(lab) {
    var base = lab.dataset.base;
    var settings = $("#settings-form"), runForm = $("#run-form");
    var picture = new window.LabPicture($("#picture"));
    var runState = $("#run-state"), pauseBtn = $("#pause"), progress = $("#progress"), bar = $("#progress-bar");
    var runBtn = $("#run"), cancelBtn = $("#cancel"), applyState = $("#apply-state");
    var runs = Number(lab.dataset.runs || 0), deadSeen = Number(lab.dataset.dead || 0), source = null, paused = false;
    if (window.LabCharts && $("#charts")) window.LabCharts.init($("#charts"));

    // Apply settings as they change; the Apply button stays for keyboard
    // users. The mode switch in the run bar belongs to the same form.
    var timer = null, pending = null, appliedAt = 0;
    function apply() {
      timer = null;
      setText(applyState, "Applying…");
      pending = post(settings).then(function (j) {
        pending = null;
        appliedAt = Date.now();
        if (j.error) {
          markInvalid(j.field);
          notice("error", "Not changed. " + j.error);
          setText(applyState, "");
          return;
        }
        markInvalid(null);
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
    function changed() { clearTimeout(timer); timer = setTimeout(apply, 250); }
    settings.addEventListener("change", changed);
    $("#mode-toggle").addEventListener("change", changed);
    settings.addEventListener("submit", function (e) { e.preventDefault(); clearTimeout(timer); apply(); });

    runForm.addEventListener("submit", function (e) {
      var cancel = e.submitter && e.submitter.id === "cancel";
      e.preventDefault();
      settled().then(function () {
        return post(runForm, cancel ? base + "/cancel" : runForm.action);
      }).then(function (j) {
        if (j.error) { markInvalid(j.field); notice("error", "Not started. " + j.error); return; }
        markInvalid(null);
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
      fetch(window.location.pathname + window.location.search, { credentials: "same-origin" }).then(function (r) { return r.text(); }).then(function (html) {
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

    // syncForm shows settings changed elsewhere (recover-after, a scenario,
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
        retry_max_backoff: ms(st.retry_max_backoff), lease: ms(st.lease), max_retry_age: String(Math.round(st.max_retry_age / 1e9)),
        publish_error_rate: String(st.publish_error_rate),
        email_down: st.email.down, email_hang: st.email.hang, analytics_down: st.analytics.down, analytics_hang: st.analytics.hang,
        breaker: st.breaker, fallback: st.fallback, idempotency: st.idempotency
      };
      Object.keys(want).forEach(function (name) {
        var el = settings.elements[name];
        if (!el || el === document.activeElement) return;
        if (el.type === "checkbox") { if (el.checked !== want[name]) el.checked = want[name]; }
        else if (Number(el.value) !== Number(want[name])) el.value = want[name];
      });
      if (settings.elements.publish && settings.elements.publish !== document.activeElement) settings.elements.publish.value = st.publish;
      $all('input[name="mode"]').forEach(function (r) {
        if (r !== document.activeElement) r.checked = r.value === st.mode;
      });
    }

    // now shows the run in progress, its own counts only.
    function showNow(run) {
      var none = $("#now-none"), figs = $("#now-figures");
      if (none) none.hidden = !!run;
      if (figs) figs.hidden = !run;
      if (!run) return;
      $all("[data-now]", figs).forEach(function (dd) {
        var k = dd.dataset.now, v;
        if (k === "sent") v = run.sent + " of " + run.target;
        else if (k.indexOf("waiting.") === 0) v = (run.waiting || {})[k.slice(8)] || 0;
        else v = run[k] || 0;
        setText(dd, v);
      });
    }

    function onSnap(ev) {
      var s = ev.snapshot, st = ev.status;
      syncForm(s.settings);
      lab.dataset.mode = s.settings.mode;
      picture.state(ev.picture);
      if (!paused) picture.flows(ev.flows, ev.flow_rates);
      if (window.LabCharts) window.LabCharts.update(ev.timeline);
      $all("#fault-summary a, #system-summary").forEach(function (el) { setText(el, ev.summary); });
      showNow(s.run);
      setText($('[data-total="signups"]'), s.counters.signups);
      setText($('[data-total="emails_sent"]'), s.counters.emails_sent);
      setText($('[data-total="dead_letters"]'), s.dead_letters);
      var running = st.running || !!s.run;
      if (running) {
        var label = st.steps > 1 ? "step " + st.step + " of " + st.steps + ": " + st.label : (st.label || "");
        var what = "";
        if (s.run && s.run.phase === "drain") {
          var w = s.run.waiting || {};
          what = "all " + s.run.target + " sent; waiting for the consumers (" + (w.email || 0) + " emails, " + (w.analytics || 0) + " analytics to go)";
        } else if (s.run) {
          what = s.run.sent + " of " + s.run.target + " sent";
        }
        setText(runState, "Running " + label + (what ? " · " + what : "") + "…");
        if (s.run && s.run.target) bar.className = "progress-bar w" + Math.min(100, Math.round(s.run.sent / s.run.target * 20) * 5);
      } else {
        setText(runState, st.error ? "Stopped: " + st.error : "Idle");
      }
      if (String(running) !== lab.dataset.running) setRunning(running, st.label);
      (ev.reached || []).forEach(function (id) {
        var el = $('[data-goal="' + id + '"]');
        if (el && !el.classList.contains("goal-yes")) { el.classList.add("goal-yes"); el.textContent = "✓ goal reached"; }
      });
      if (ev.runs !== runs || (deadSeen !== s.dead_letters && !running)) {
        runs = ev.runs;
        refreshPanels();
      }
      deadSeen = s.dead_letters;
    }

    function connect() {
      if (source || !window.EventSource) return;
      source = new EventSource(base + "/events");
      source.addEventListener("snap", function (e) {
        var ev;
        try { ev = JSON.parse(e.data); } catch (err) { if (window.console) console.error("lab live update", err); return; }
        onSnap(ev);
      });
      source.addEventListener("closed", function () { disconnect(); setText(runState, "This sandbox was closed. Reload the page for a fresh one."); });
    }
    function disconnect() { if (source) { source.close(); source = null; } }

    pauseBtn.hidden = false;
    pauseBtn.addEventListener("click", function () {
      paused = !paused;
      pauseBtn.setAttribute("aria-pressed", String(paused));
      pauseBtn.textContent = paused ? "Resume the picture" : "Pause the picture";
      picture.pause(paused);
    });
    window.addEventListener("pagehide", disconnect);
    window.addEventListener("pageshow", function (e) { if (e.persisted) connect(); });
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
