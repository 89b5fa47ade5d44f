// Decide wizard: refreshes the record preview while the learner types.
// Everything works without this script; it only saves a round trip.
(function () {
  "use strict";
  // After a failed submit, move focus to the list of problems.
  var errors = document.getElementById("decide-errors");
  if (errors) { errors.focus(); }

  var form = document.getElementById("decide-form");
  var pre = document.getElementById("decide-preview");
  if (!form || !pre || !window.fetch) { return; }
  var url = form.getAttribute("data-preview");
  var timer = null;
  var seq = 0;

  function refresh() {
    var mine = ++seq;
    pre.classList.add("is-stale");
    var body = new URLSearchParams(new FormData(form));
    fetch(url, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (res) { return res.ok ? res.text() : Promise.reject(res.status); })
      .then(function (text) {
        if (mine === seq) { pre.textContent = text; }
      })
      .catch(function () { /* keep the last good preview */ })
      .finally(function () { if (mine === seq) { pre.classList.remove("is-stale"); } });
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 350);
  }
  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
})();
