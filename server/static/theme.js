// Runs before the page paints: apply the theme the learner chose last time, so
// a dark-theme reader never sees a white flash. With no choice saved, the CSS
// follows prefers-color-scheme.
(function () {
  try {
    var t = localStorage.getItem("cr-theme");
    if (t === "light" || t === "dark") document.documentElement.dataset.theme = t;
  } catch (e) { /* storage blocked: follow the system setting */ }
})();
