// The dead-letter panel, enhanced. Every button already works as a plain
// form post that comes back to the panel with a note; this script replays
// without leaving the page, shows the note in the panel, and keeps the list
// the learner chose (its kind, its page, the note) when the lab page
// refreshes the panel from the server.
(function () {
  "use strict";

  var current = null;  // the panel element this script last saw or put in
  var note = null;     // {kind, text} of the last action, kept across refreshes
  var loading = false;

  function panel() { return document.getElementById("dead-letters"); }

  // fetchPanel reads the panel for query from the lab page.
  function fetchPanel(query) {
    var p = current || panel();
    var url = p.dataset.base + (query ? "?" + query : "");
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.text(); })
      .then(function (html) { return new DOMParser().parseFromString(html, "text/html").getElementById("dead-letters"); });
  }

  function showNote(p, kind, text) {
    var box = p && p.querySelector("#dead-status");
    if (!box) return null;
    box.textContent = "";
    if (!text) return null;
    var el = document.createElement("p");
    el.className = "notice notice-" + (kind === "error" ? "error" : "ok");
    el.id = "dead-note";
    el.tabIndex = -1;
    el.textContent = text;
    box.appendChild(el);
    return el;
  }

  // swap puts fresh in place of the panel, keeping focus and the note.
  function swap(fresh) {
    var old = panel();
    if (!fresh || !old) return;
    var focused = old.contains(document.activeElement) ? document.activeElement.id : "";
    current = fresh;
    old.replaceWith(fresh);
    if (note) showNote(fresh, note.kind, note.text);
    var again = focused && document.getElementById(focused);
    if (again) again.focus();
    return !!again;
  }

  // adopt follows a panel put in by someone else (the lab page refreshes it
  // after runs and as the dead letters change): if it shows another list
  // than the one chosen, load the chosen one; either way keep the note.
  function adopt(fresh) {
    var want = current ? current.dataset.query : "";
    current = fresh;
    if (fresh.dataset.query !== want && !loading) {
      loading = true;
      fetchPanel(want).then(function (p) { loading = false; if (p && panel() === fresh) swap(p); }, function () { loading = false; });
    }
    if (note && Date.now() - note.at < 120000) showNote(fresh, note.kind, note.text);
  }

  function submit(form, submitter) {
    var body = new URLSearchParams(new FormData(form));
    if (submitter && submitter.name) body.set(submitter.name, submitter.value);
    var buttons = Array.prototype.slice.call(form.querySelectorAll("button"));
    buttons.forEach(function (b) { b.disabled = true; });
    fetch(form.action, {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "X-Requested-With": "fetch", "Accept": "application/json" }
    }).then(function (res) {
      return res.json().catch(function () { return { error: "The server answered " + res.status + "." }; });
    }, function () {
      return { error: "The server could not be reached." };
    }).then(function (j) {
      note = j.error ? { kind: "error", text: "Not done. " + j.error } : { kind: "ok", text: j.notice || "Done." };
      note.at = Date.now();
      var p = current || panel();
      return fetchPanel(p.dataset.query).then(function (fresh) {
        var kept = swap(fresh);
        var el = panel().querySelector("#dead-note");
        // The button pressed may be gone (its letter replayed): then the
        // note takes the focus, so the keyboard stays in the panel.
        if (el && !kept) el.focus();
      });
    }).catch(function () {
      buttons.forEach(function (b) { b.disabled = false; });
      showNote(panel(), "error", "Not done: the page could not be refreshed. Reload it to see the dead letters now.");
    });
  }

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.matches || !form.matches("#dead-letters form[data-dead-form]") || !window.fetch) return;
    e.preventDefault();
    submit(form, e.submitter);
  });

  document.addEventListener("DOMContentLoaded", function () {
    current = panel();
    if (!current) return;
    var text = current.querySelector("#dead-note");
    if (text) note = { kind: "ok", text: text.textContent, at: Date.now() };
    // The note belongs to the post that led here, not to a later reload.
    var q = new URLSearchParams(location.search);
    if (q.has("dead_note") && window.history && history.replaceState) {
      ["dead_note", "dead_n", "dead_of", "dead_user", "dead_left"].forEach(function (k) { q.delete(k); });
      var rest = q.toString();
      history.replaceState(history.state, "", location.pathname + (rest ? "?" + rest : "") + location.hash);
    }
    // Watch the panel's parent: the lab page swaps the panel in as a whole.
    new MutationObserver(function () {
      var p = panel();
      if (p && p !== current) adopt(p);
    }).observe(current.parentNode, { childList: true });
  });
})();
