// The lab's live picture, driven by what really happened. The server sends
// flows — a signup answered, a call and how long it took and how it ended, an
// event published, a message delivered, retried or dead-lettered — sampled to
// a few dozen a second; each becomes a dot on the wire it travelled. The
// flows of one signup (or one message) play one after the other, so a sync
// signup visibly calls email, waits, then calls analytics. A call waits at
// its service as long as it really took, up to maxWait.
(function () {
  "use strict";

  var NS = "http://www.w3.org/2000/svg";
  var TRAVEL = 420;      // ms along one wire
  var MAX_WAIT = 4000;   // a longer call is shown shorter, and says so
  var MAX_DOTS = 80;     // bounded, however fast the system goes
  var MAX_CHAINS = 200;

  function LabPicture(figure) {
    this.figure = figure;
    this.dots = [];
    this.chains = {};     // id -> time its last step ends
    this.chainCount = 0;
    this.running = false;
    this.paused = false;
    this.reduce = window.matchMedia("(prefers-reduced-motion: reduce)");
  }

  // svg is whichever layout of the picture is on show.
  LabPicture.prototype.svg = function () {
    var all = this.figure.querySelectorAll("svg.flow");
    for (var i = 0; i < all.length; i++) {
      if (all[i].getBoundingClientRect().width > 0) return all[i];
    }
    return null;
  };

  LabPicture.prototype.wire = function (svg, name) {
    return svg.querySelector('[data-wire="' + name + '"]');
  };

  // shape makes a dot: a filled circle when the work was done, a hollow one
  // when it will be retried, a cross when it failed — never colour alone.
  function shape(kind) {
    var el;
    if (kind === "fail") {
      el = document.createElementNS(NS, "path");
      el.setAttribute("d", "M-4.5 -4.5 4.5 4.5M4.5 -4.5 -4.5 4.5");
    } else {
      el = document.createElementNS(NS, "circle");
      el.setAttribute("r", kind === "retry" ? "4" : "4.5");
    }
    el.setAttribute("class", "dot dot-" + kind);
    return el;
  }

  // move schedules a dot along legs: [{wire, reverse, wait, kind}], starting
  // at start (performance.now() time).
  LabPicture.prototype.move = function (legs, start) {
    var svg = this.svg();
    if (!svg || this.paused || this.reduce.matches) return;
    var layer = svg.querySelector(".dots");
    var steps = [], t = start;
    for (var i = 0; i < legs.length; i++) {
      var path = this.wire(svg, legs[i].wire);
      if (!path) continue;
      // A wait happens at the far end of the wire (the service), before
      // the answer travels back; its outcome shows only once it comes.
      if (legs[i].wait) { steps.push({ path: path, at: 1, from: t, to: t + legs[i].wait, kind: "ok" }); t += legs[i].wait; }
      steps.push({ path: path, reverse: !!legs[i].reverse, from: t, to: t + TRAVEL, kind: legs[i].kind });
      t += TRAVEL;
    }
    if (!steps.length) return t;
    if (this.dots.length >= MAX_DOTS) {
      var old = this.dots.shift();
      old.el.remove();
    }
    var el = shape(steps[0].kind);
    el.setAttribute("opacity", "0");
    layer.appendChild(el);
    // Say what was drawn, however briefly it showed: failed, retried, done.
    var last = steps[steps.length - 1].kind, ds = this.figure.dataset, key = "drawn" + last.charAt(0).toUpperCase() + last.slice(1);
    ds[key] = String(Number(ds[key] || 0) + 1);
    this.dots.push({ el: el, steps: steps, kind: steps[0].kind });
    if (!this.running) { this.running = true; requestAnimationFrame(this.frame.bind(this)); }
    return t;
  };

  LabPicture.prototype.frame = function (now) {
    this.dots = this.dots.filter(function (d) {
      var s = null;
      for (var i = 0; i < d.steps.length; i++) {
        if (now < d.steps[i].to) { s = d.steps[i]; break; }
      }
      if (!s) { d.el.remove(); return false; }
      if (now < s.from) { d.el.setAttribute("opacity", "0"); return true; }
      if (s.kind !== d.kind) {
        var fresh = shape(s.kind);
        d.el.replaceWith(fresh);
        d.el = fresh;
        d.kind = s.kind;
      }
      var len = s.path.getTotalLength();
      var k = s.at != null ? s.at : (now - s.from) / (s.to - s.from);
      if (s.reverse) k = 1 - k;
      var pt = s.path.getPointAtLength(Math.max(0, Math.min(1, k)) * len);
      d.el.setAttribute("transform", "translate(" + pt.x.toFixed(1) + " " + pt.y.toFixed(1) + ")");
      d.el.setAttribute("opacity", "1");
      d.el.classList.toggle("dot-waiting", s.at != null);
      return true;
    });
    if (this.dots.length) requestAnimationFrame(this.frame.bind(this));
    else this.running = false;
  };

  // chain returns when the flows of id may go on: after its last step.
  LabPicture.prototype.chain = function (id, now) {
    var at = Math.max(now, this.chains[id] || 0);
    return at;
  };

  LabPicture.prototype.book = function (id, end) {
    if (!(id in this.chains)) this.chainCount++;
    this.chains[id] = end;
    if (this.chainCount > MAX_CHAINS) {
      var now = performance.now(), self = this;
      Object.keys(this.chains).forEach(function (k) {
        if (self.chains[k] < now) { delete self.chains[k]; self.chainCount--; }
      });
    }
  };

  function waitOf(ms) { return Math.min(Math.max(ms || 0, 0), MAX_WAIT); }

  function secs(ms) { return ms < 1000 ? Math.round(ms) + " ms" : (ms / 1000).toFixed(1) + " s"; }

  LabPicture.prototype.label = function (key, text) {
    var els = this.figure.querySelectorAll('[data-pic="' + key + '"]');
    for (var i = 0; i < els.length; i++) if (els[i].textContent !== text) els[i].textContent = text;
  };

  // flows animates what the server reported; rates says how many signups
  // and messages each group saw in the last second.
  LabPicture.prototype.flows = function (list, rates) {
    var now = performance.now(), self = this;
    (list || []).forEach(function (f) {
      var start = self.chain(f.id, now), end = start, ok = f.ok ? "ok" : "fail";
      switch (f.kind) {
      case "call":
        var svc = f.where, wire = f.group ? "call-" + svc : "sync-" + svc;
        end = self.move([{ wire: wire, kind: "ok" }, { wire: wire, reverse: true, wait: waitOf(f.ms), kind: ok }], start);
        self.label(svc + "-last", (f.ok ? "took " : (f.detail || "failed") + " · ") + secs(f.ms) +
          (f.ms > MAX_WAIT ? " (shown " + MAX_WAIT / 1000 + " s)" : ""));
        break;
      case "published":
        end = self.move([{ wire: "publish", kind: "ok" }], start);
        break;
      case "delivered":
        end = self.move([{ wire: "deliver-" + f.group, kind: f.detail === "new" ? "ok" : "retry" }], start);
        break;
      case "retry":
        end = self.move([{ wire: "retry-" + f.group, kind: "retry" }], start);
        break;
      case "dead":
        end = self.move([{ wire: "dead-" + f.group, kind: "fail" }], start);
        break;
      case "crash":
        self.flash('[data-group="' + f.group + '"]', "crashed");
        break;
      case "signup":
        self.label("api-last", (f.ok ? "answered in " : "failed after ") + secs(f.ms));
        self.flash('[data-node="api"]', f.ok ? "answered" : "failed");
        break;
      case "paused":
      case "resumed":
        self.flash('[data-group="' + f.where + '"]', f.kind);
        break;
      }
      if (f.id) self.book(f.id, end);
    });
    if (rates) {
      var shown = 0;
      (list || []).forEach(function (f) { if (f.kind === "signup") shown++; });
      if (rates.api > 0 && shown > 0 && rates.api > shown * 1.5) {
        this.label("scale", "Each dot here stands for about " + Math.round(rates.api / shown) + " signups; a call waits at its service as long as it really took.");
      }
    }
  };

  LabPicture.prototype.flash = function (sel, cls) {
    var els = this.figure.querySelectorAll(sel);
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      el.classList.remove("flash-" + cls);
      // Restart the animation on purpose: reading a layout property does it.
      void el.getBoundingClientRect();
      el.classList.add("flash-" + cls);
    }
  };

  // state shows the picture the server computed from a snapshot.
  LabPicture.prototype.state = function (p) {
    var fig = this.figure, self = this;
    fig.dataset.mode = p.mode;
    this.label("mode", p.mode === "sync" ? "sync · waits" : "async · hands off");
    this.label("stream", String(p.stream));
    this.label("dead", String(p.dead));
    ["email", "analytics"].forEach(function (svc) {
      var nodes = fig.querySelectorAll('[data-svc="' + svc + '"]');
      for (var i = 0; i < nodes.length; i++) nodes[i].dataset.state = p[svc].state;
      self.label(svc + "-state", p[svc].label);
    });
    (p.groups || []).forEach(function (g) {
      var nodes = fig.querySelectorAll('[data-group="' + g.name + '"]');
      for (var i = 0; i < nodes.length; i++) nodes[i].dataset.state = g.state;
      ["waiting", "retrying", "consumers", "label"].forEach(function (k) {
        var els = fig.querySelectorAll('[data-g="' + g.name + "." + k + '"]');
        for (var j = 0; j < els.length; j++) if (els[j].textContent !== String(g[k])) els[j].textContent = String(g[k]);
      });
    });
  };

  LabPicture.prototype.pause = function (on) {
    this.paused = on;
    if (on) { this.dots.forEach(function (d) { d.el.remove(); }); this.dots = []; this.chains = {}; this.chainCount = 0; }
  };

  window.LabPicture = LabPicture;
})();
