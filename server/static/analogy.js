// Analogy widgets: the restaurant (a synchronous call) and the postal
// service (a message broker) as small simulations the learner controls.
// The page already shows a still picture, its description and a legend;
// this file brings the picture to life, reveals the controls and counters,
// and never starts moving by itself when reduced motion is requested.
(function () {
  "use strict";
  var SVGNS = "http://www.w3.org/2000/svg";
  var TICK = 0.1; // simulated seconds per step of the model
  var reduceMotion = window.matchMedia("(prefers-reduced-motion: reduce)");

  function svg(parent, name, attrs, text) {
    var n = document.createElementNS(SVGNS, name);
    for (var k in attrs) n.setAttribute(k, attrs[k]);
    if (text !== undefined) n.textContent = text;
    parent.appendChild(n);
    return n;
  }
  function lerp(a, b, f) { return a + (b - a) * Math.max(0, Math.min(1, f)); }
  // ring draws a countdown circle: full at frac 1, empty at 0.
  function ring(g, cx, cy, r, frac, cls) {
    var c = 2 * Math.PI * r;
    svg(g, "circle", { cx: cx, cy: cy, r: r, "class": cls, "stroke-dasharray": (c * frac).toFixed(1) + " " + c.toFixed(1), transform: "rotate(-90 " + cx + " " + cy + ")" });
  }

  // ---- The restaurant -------------------------------------------------
  var R = { waiters: 3, cook: 4, timeout: 8, patience: 15, order: 0.5, walk: 1.2, rows: [51, 121, 191], table: 222, pass: 412 };

  function Restaurant() { this.params = { kitchenSpeed: 1, closed: false, arrivals: 18 }; this.reset(); }
  Restaurant.prototype.reset = function () {
    this.t = 0; this.nextID = 0; this.arrivalAcc = 0.9;
    this.queue = []; this.orders = []; this.effects = [];
    this.served = 0; this.timedOut = 0;
    this.waiters = [];
    for (var i = 0; i < R.waiters; i++) this.waiters.push({ row: i, state: "idle", since: 0, diner: null, order: null, outcome: null });
  };
  Restaurant.prototype.set = function (name, v) { this.params[name] = v; };
  Restaurant.prototype.tick = function (dt) {
    var p = this.params, t = (this.t += dt), self = this;
    this.arrivalAcc += p.arrivals / 60 * dt;
    while (this.arrivalAcc >= 1) { this.arrivalAcc -= 1; this.queue.push({ id: ++this.nextID, arrived: t }); }
    this.queue = this.queue.filter(function (d) {
      if (t - d.arrived < R.patience) return true;
      self.timedOut++; self.effects.push({ x: 40, y: 30, ok: false, until: t + 1.2 });
      return false;
    });
    if (!p.closed) {
      for (var k = 0; k < this.orders.length && k < 2; k++) this.orders[k].progress += dt * p.kitchenSpeed / R.cook;
    }
    this.waiters.forEach(function (w) {
      var in_ = t - w.since;
      switch (w.state) {
        case "idle":
          if (self.queue.length) { w.diner = self.queue.shift(); w.state = "ordering"; w.since = t; }
          break;
        case "ordering":
          if (in_ >= R.order) { w.state = "toPass"; w.since = t; }
          break;
        case "toPass":
          if (in_ >= R.walk) { w.order = { progress: 0, waiter: w }; self.orders.push(w.order); w.state = "waiting"; w.since = t; }
          break;
        case "waiting":
          if (w.order.progress >= 1 || in_ >= R.timeout) {
            w.outcome = w.order.progress >= 1 ? "served" : "timeout";
            self.orders.splice(self.orders.indexOf(w.order), 1);
            w.order = null; w.state = "back"; w.since = t;
          }
          break;
        case "back":
          if (in_ >= R.walk) {
            if (w.outcome === "served") self.served++; else self.timedOut++;
            self.effects.push({ x: 172, y: R.rows[w.row], ok: w.outcome === "served", until: t + 1.2 });
            w.diner = null; w.state = "idle"; w.since = t;
          }
          break;
      }
    });
    this.effects = this.effects.filter(function (e) { return e.until > t; });
  };
  Restaurant.prototype.counters = function () {
    var busy = this.waiters.filter(function (w) { return w.state !== "idle"; }).length;
    var seated = this.waiters.filter(function (w) { return w.diner; }).length;
    return { served: this.served, waiting: this.queue.length + seated, timedout: this.timedOut, busy: busy + " of " + R.waiters };
  };
  Restaurant.prototype.summary = function () {
    var c = this.counters();
    return "Served " + c.served + ", waiting " + c.waiting + ", timed out " + c.timedout + "; waiters busy " + c.busy + ".";
  };
  Restaurant.prototype.draw = function (g) {
    var t = this.t, p = this.params;
    this.queue.slice(0, 24).forEach(function (d, k) {
      var x = 30 + (k % 4) * 22, y = 52 + Math.floor(k / 4) * 24;
      var impatient = t - d.arrived > R.patience * 0.6;
      svg(g, "circle", { cx: x, cy: y, r: 9, "class": "diner" + (impatient ? " impatient" : "") });
      if (impatient) svg(g, "text", { x: x, y: y + 4, "class": "token-label" }, "!");
    });
    if (this.queue.length > 24) svg(g, "text", { x: 30, y: 212, "class": "label small" }, "+" + (this.queue.length - 24) + " more");
    svg(g, "rect", { x: 446, y: 0, width: 194, height: 240, rx: 8, "class": "kitchen-state" + (p.closed ? " closed" : "") });
    this.orders.forEach(function (o, k) {
      if (k < 2) {
        var cy = k === 0 ? 80 : 160;
        ring(g, 580, cy, 24, p.closed ? 0.02 : Math.min(1, o.progress), "cook-ring");
        svg(g, "rect", { x: 572, y: cy - 8, width: 16, height: 16, rx: 3, "class": "dish" + (o.progress > 0.5 ? " nearly" : "") });
      } else {
        svg(g, "rect", { x: 462 + ((k - 2) % 4) * 16, y: 40 + Math.floor((k - 2) / 4) * 14, width: 12, height: 10, rx: 2, "class": "ticket" });
      }
    });
    if (p.closed) svg(g, "text", { x: 543, y: 126, "class": "closed-sign" }, "CLOSED");
    this.waiters.forEach(function (w) {
      var y = R.rows[w.row], x = R.table, in_ = t - w.since;
      if (w.diner) svg(g, "circle", { cx: 172, cy: y, r: 9, "class": "diner seated" });
      if (w.state === "toPass") x = lerp(R.table, R.pass, in_ / R.walk);
      if (w.state === "waiting") x = R.pass;
      if (w.state === "back") x = lerp(R.pass, R.table, in_ / R.walk);
      if (w.state === "waiting") ring(g, x, y, 18, 1 - in_ / R.timeout, "timeout-ring");
      svg(g, "circle", { cx: x, cy: y, r: 13, "class": "waiter" + (w.state === "waiting" ? " blocked" : "") });
      svg(g, "text", { x: x, y: y + 5, "class": "token-label" }, "W");
      if (w.state === "back" && w.outcome === "served") svg(g, "rect", { x: x - 22, y: y - 6, width: 12, height: 12, rx: 2, "class": "dish" });
      if (w.state === "back" && w.outcome === "timeout") svg(g, "text", { x: x - 20, y: y - 14, "class": "mark bad" }, "✗");
    });
    this.effects.forEach(function (e) {
      svg(g, "text", { x: e.x, y: e.y - 14, "class": "mark " + (e.ok ? "good" : "bad") }, e.ok ? "✓" : "✗");
    });
  };

  // ---- The postal service ---------------------------------------------
  var P = { rate: 20, capacity: 3, retryWait: 4, maxAttempts: 4, fly: 0.8, office: 392, house: 486 };

  function Postal() { this.params = { delay: 3, away: false, redelivery: true }; this.reset(); }
  Postal.prototype.reset = function () {
    this.t = 0; this.postAcc = 0.9; this.nextID = 0;
    this.flying = []; this.pile = []; this.van = { state: "office", since: 0, load: [], failed: false };
    this.posted = 0; this.delivered = 0; this.redelivered = 0; this.returned = 0;
  };
  Postal.prototype.set = Restaurant.prototype.set;
  Postal.prototype.tick = function (dt) {
    var p = this.params, t = (this.t += dt), self = this, van = this.van;
    this.postAcc += P.rate / 60 * dt;
    while (this.postAcc >= 1) { this.postAcc -= 1; this.posted++; this.flying.push({ id: ++this.nextID, at: t }); }
    this.flying = this.flying.filter(function (f) {
      if (t - f.at < P.fly) return true;
      self.pile.push({ id: f.id, attempts: 0, readyAt: t });
      return false;
    });
    var in_ = t - van.since;
    if (van.state === "office") {
      var ready = this.pile.filter(function (x) { return x.readyAt <= t; }).slice(0, P.capacity);
      if (ready.length) {
        this.pile = this.pile.filter(function (x) { return ready.indexOf(x) < 0; });
        van.load = ready; van.state = "out"; van.since = t;
      }
    } else if (van.state === "out" && in_ >= p.delay) {
      if (p.away) { van.load.forEach(function (x) { x.attempts++; }); van.failed = true; }
      else { this.delivered += van.load.length; van.load = []; van.failed = false; }
      van.state = "back"; van.since = t;
    } else if (van.state === "back" && in_ >= p.delay) {
      van.load.forEach(function (x) {
        if (p.redelivery && x.attempts < P.maxAttempts) { self.redelivered++; x.readyAt = t + P.retryWait; self.pile.push(x); }
        else self.returned++;
      });
      van.load = []; van.failed = false; van.state = "office"; van.since = t;
    }
  };
  Postal.prototype.counters = function () {
    return { posted: this.posted, delivered: this.delivered, queued: this.pile.length, redelivered: this.redelivered, returned: this.returned, senderwait: "0 s" };
  };
  Postal.prototype.summary = function () {
    var c = this.counters();
    return "Posted " + c.posted + ", delivered " + c.delivered + ", queued " + c.queued + ", redelivered " + c.redelivered + ", returned to sender " + c.returned + ".";
  };
  Postal.prototype.draw = function (g) {
    var t = this.t, p = this.params, van = this.van;
    this.flying.forEach(function (f) {
      svg(g, "rect", { x: lerp(120, 236, (t - f.at) / P.fly), y: 108, width: 18, height: 14, rx: 2, "class": "parcel" });
    });
    this.pile.slice(0, 30).forEach(function (x, k) {
      var px = 240 + (k % 6) * 22, py = 136 - Math.floor(k / 6) * 17;
      var waiting = x.readyAt > t;
      svg(g, "rect", { x: px, y: py, width: 18, height: 14, rx: 2, "class": "parcel" + (waiting ? " retry" : "") });
      if (waiting) svg(g, "text", { x: px + 9, y: py + 11, "class": "retry-label" }, "↻");
    });
    if (this.pile.length > 30) svg(g, "text", { x: 240, y: 60, "class": "label small" }, "+" + (this.pile.length - 30) + " more");
    svg(g, "text", { x: 372, y: 176, "class": "label small count" }, String(this.returned));
    var in_ = t - van.since, x = P.office;
    if (van.state === "out") x = lerp(P.office, P.house, in_ / p.delay);
    if (van.state === "back") x = lerp(P.house, P.office, in_ / p.delay);
    svg(g, "rect", { x: x, y: 188, width: 44, height: 24, rx: 5, "class": "van" + (van.failed ? " failed" : "") });
    if (van.load.length) svg(g, "text", { x: x + 22, y: 205, "class": "token-label" }, van.failed ? "↩" + van.load.length : String(van.load.length));
    if (p.away) svg(g, "text", { x: 580, y: 110, "class": "away-sign" }, "AWAY");
    else svg(g, "circle", { cx: 600, cy: 110, r: 10, "class": "recipient" });
  };

  // ---- The widget: controls, loop, counters ---------------------------
  function Widget(fig, model) {
    this.fig = fig; this.model = model;
    this.layer = fig.querySelector(".dyn");
    this.status = fig.querySelector(".widget-status");
    this.playing = !reduceMotion.matches;
    this.speed = 1; this.acc = 0; this.last = 0; this.frame = 0;
    fig.classList.add("is-live");
    fig.querySelectorAll(".widget-controls, .widget-counters").forEach(function (n) { n.hidden = false; });
    this.wire();
    this.draw();
    if (this.playing) this.start(); else this.showPlay();
  }
  Widget.prototype.say = function (text) { if (this.status) this.status.textContent = text; };
  Widget.prototype.wire = function () {
    var self = this, fig = this.fig, m = this.model;
    function show(name, text) { var o = fig.querySelector('[data-show="' + name + '"]'); if (o) o.textContent = text; }
    fig.querySelectorAll("[data-control]").forEach(function (input) {
      var name = input.getAttribute("data-control");
      function apply() {
        switch (name) {
          case "kitchen-speed": m.set("kitchenSpeed", parseFloat(input.value)); show(name, input.value + "×"); break;
          case "kitchen-closed": m.set("closed", input.checked); self.say(input.checked ? "Kitchen closed." : "Kitchen open again."); break;
          case "arrivals": m.set("arrivals", parseFloat(input.value)); show(name, input.value + " a minute"); break;
          case "carrier-delay": m.set("delay", parseFloat(input.value)); show(name, input.value + " s a trip"); break;
          case "recipient-away": m.set("away", input.checked); self.say(input.checked ? "The recipient is away." : "The recipient is home."); break;
          case "redelivery": m.set("redelivery", input.checked); self.say(input.checked ? "Failed parcels will be redelivered." : "Failed parcels go back to the sender."); break;
          case "speed": self.speed = parseFloat(input.value); break;
        }
        self.draw();
      }
      input.addEventListener(input.type === "range" ? "input" : "change", apply);
      apply();
    });
    fig.querySelector('[data-action="play"]').addEventListener("click", function () {
      if (self.playing) { self.stop(); self.say("Paused. " + m.summary()); } else { self.start(); self.say("Playing."); }
    });
    fig.querySelector('[data-action="step"]').addEventListener("click", function () {
      if (self.playing) self.stop();
      for (var i = 0; i < 10; i++) m.tick(TICK);
      self.draw();
      self.say(m.summary());
    });
    fig.querySelector('[data-action="reset"]').addEventListener("click", function () {
      m.reset(); self.draw(); self.say("Reset. " + m.summary());
    });
  };
  Widget.prototype.showPlay = function () {
    var b = this.fig.querySelector('[data-action="play"]');
    b.textContent = this.playing ? "Pause" : "Play";
    b.setAttribute("aria-pressed", String(this.playing));
    this.fig.classList.toggle("is-playing", this.playing);
  };
  Widget.prototype.start = function () {
    var self = this;
    this.playing = true; this.last = 0; this.showPlay();
    function frame(now) {
      if (!self.playing) return;
      if (self.last) self.acc += Math.min(250, now - self.last) / 1000 * self.speed;
      self.last = now;
      var n = 0;
      while (self.acc >= TICK && n++ < 40) { self.model.tick(TICK); self.acc -= TICK; }
      self.draw();
      self.frame = window.requestAnimationFrame(frame);
    }
    this.frame = window.requestAnimationFrame(frame);
  };
  Widget.prototype.stop = function () {
    this.playing = false; window.cancelAnimationFrame(this.frame); this.showPlay();
  };
  Widget.prototype.draw = function () {
    var g = this.layer, c = this.model.counters(), fig = this.fig;
    while (g.firstChild) g.removeChild(g.firstChild);
    this.model.draw(g);
    Object.keys(c).forEach(function (k) {
      var n = fig.querySelector('[data-counter="' + k + '"]');
      if (n && n.textContent !== String(c[k])) n.textContent = c[k];
    });
  };

  function init() {
    document.querySelectorAll("figure.analogy-widget[data-widget]").forEach(function (fig) {
      var kind = fig.getAttribute("data-widget");
      var model = kind === "restaurant" ? new Restaurant() : kind === "postal" ? new Postal() : null;
      if (model) fig.widget = new Widget(fig, model);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
