// Small behaviours shared by every page. Everything works without it; it only
// adds the theme toggle.
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
