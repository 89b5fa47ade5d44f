// Workshops: keeps the facilitator's board and a participant's bar live
// (server-sent events carry the redrawn HTML), copies the facilitator link,
// and asks before closing a workshop. The pages work without it: forms post
// and the board redraws on reload.
(function () {
  "use strict";

  // live replaces el's content with each event's HTML, keeping the focus on
  // the element with the same id when it is redrawn.
  function live(el, event) {
    if (!el || !el.dataset.events || !window.EventSource) return;
    var src = new EventSource(el.dataset.events);
    src.addEventListener(event, function (e) {
      var focused = document.activeElement && el.contains(document.activeElement) ? document.activeElement.id : "";
      el.innerHTML = e.data;
      if (focused) {
        var again = document.getElementById(focused);
        if (again) again.focus();
      }
    });
  }
  live(document.getElementById("ws-board"), "board");
  live(document.getElementById("ws-bar"), "bar");

  document.addEventListener("click", function (e) {
    var b = e.target.closest("[data-copy]");
    if (!b) return;
    var input = document.querySelector(b.dataset.copy);
    if (!input) return;
    input.select();
    if (navigator.clipboard) {
      navigator.clipboard.writeText(input.value).then(function () { b.textContent = "Copied"; }, function () {});
    }
  });
  document.addEventListener("submit", function (e) {
    var f = e.target.closest("form[data-confirm]");
    if (f && !window.confirm(f.dataset.confirm)) e.preventDefault();
  });
})();
