// Decide wizard: keeps the record preview and the interactions' badges in
// step with the answers while the learner types, and takes the learner to
// the first answer to fix. Everything works without this script; it only
// saves round trips.
(function () {
  "use strict";
  // After a failed submit, go to the first answer to fix; the list of
  // problems above it says what is wrong (role=alert reads it out).
  var invalid = document.querySelector('#decide-form [aria-invalid="true"]');
  if (invalid) {
    var folded = invalid.closest("details");
    if (folded) { folded.open = true; }
    invalid.focus();
  }

  var form = document.getElementById("decide-form");
  var preview = document.getElementById("decide-preview");
  if (!form || !preview || !window.fetch) { return; }
  var url = form.getAttribute("data-preview");
  var timer = null;
  var seq = 0;

  function badges(map) {
    Object.keys(map).forEach(function (id) {
      var el = document.getElementById(id);
      if (!el) { return; }
      var p = map[id];
      el.textContent = p;
      el.className = p ? "badge badge-" + p : "badge";
      el.hidden = !p;
    });
  }

  function refresh() {
    var mine = ++seq;
    preview.classList.add("is-stale");
    var body = new URLSearchParams(new FormData(form));
    fetch(url, { method: "POST", body: body, credentials: "same-origin",
      headers: { "Accept": "application/json", "X-Requested-With": "fetch" } })
      .then(function (res) { return res.ok ? res.json() : Promise.reject(res.status); })
      .then(function (data) {
        if (mine !== seq) { return; }
        // Server-rendered and escaped: the answers are text in it.
        var open = preview.querySelector("details.decide-markdown[open]") !== null;
        preview.innerHTML = data.html;
        if (open) { preview.querySelector("details.decide-markdown").open = true; }
        badges(data.badges || {});
      })
      .catch(function () { /* keep the last good preview */ })
      .finally(function () { if (mine === seq) { preview.classList.remove("is-stale"); } });
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  }
  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
})();
