// Small behaviours shared by every page. Everything works without it; it only
// adds the theme toggle and shows clock times in the reader's own time zone.
(function () {
  "use strict";
  var root = document.documentElement;
  var dark = window.matchMedia("(prefers-color-scheme: dark)");

  function current() {
    return root.dataset.theme || (dark.matches ? "dark" : "light");
  }

  function show(button) {
    var isDark = current() === "dark";
    button.setAttribute("aria-pressed", String(isDark));
    button.querySelector(".theme-label").textContent = isDark ? "Light theme" : "Dark theme";
  }

  // localTimes turns "at 08:17:03 UTC" into the reader's clock; the server's
  // UTC text stays as the tooltip. Panels the lab swaps in later are caught
  // by the observer.
  var clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  function localTimes(scope) {
    if (!scope.querySelectorAll) return;
    var els = scope.querySelectorAll("[data-local-time]");
    for (var i = 0; i < els.length; i++) {
      var el = els[i], at = new Date(el.getAttribute("data-local-time"));
      if (isNaN(at.getTime()) || el.dataset.localDone) continue;
      el.title = el.textContent.trim();
      el.textContent = "at " + clock.format(at);
      el.dataset.localDone = "1";
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    if (window.MutationObserver) {
      new MutationObserver(function (changes) {
        changes.forEach(function (c) {
          for (var i = 0; i < c.addedNodes.length; i++) localTimes(c.addedNodes[i]);
        });
      }).observe(document.body, { childList: true, subtree: true });
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("theme-toggle");
    if (!button) return;
    show(button);
    button.addEventListener("click", function () {
      var next = current() === "dark" ? "light" : "dark";
      root.dataset.theme = next;
      try { localStorage.setItem("cr-theme", next); } catch (e) { /* not persisted */ }
      show(button);
    });
    dark.addEventListener("change", function () { show(button); });
  });
})();
