// Lessons: keyboard navigation between chapters, knowledge checks answered
// in place, and glossary tooltips that Esc dismisses. Every feature works
// without this file (links, plain form posts, hover/focus CSS); it only
// makes them quicker.
(function () {
  "use strict";

  // typing reports whether keys are going into a field, where they must keep
  // their usual meaning.
  function typing(el) {
    if (!el || el === document.body) return false;
    if (el.isContentEditable) return true;
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT";
  }

  function rel(name) {
    var link = document.querySelector('link[rel="' + name + '"]');
    return link ? link.getAttribute("href") : null;
  }

  function atBottom() {
    var doc = document.documentElement;
    return window.scrollY + window.innerHeight >= doc.scrollHeight - 4;
  }

  function atTop() {
    return window.scrollY <= 4;
  }

  // ← / → change chapter. PageDown / PageUp keep scrolling the chapter and
  // only turn the page once the reader is at its end (or start), so long
  // chapters stay readable with the keyboard.
  document.addEventListener("keydown", function (e) {
    if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
    if (typing(document.activeElement) || typing(e.target)) return;
    var prev = rel("prev"), next = rel("next");
    var go = null;
    if (e.key === "ArrowRight" || e.key === "PageDown" && atBottom()) go = next;
    if (e.key === "ArrowLeft" || e.key === "PageUp" && atTop()) go = prev;
    if (go) {
      e.preventDefault();
      window.location.assign(go);
    }
  });

  // Esc hides the glossary tooltip under the pointer or focus; it comes back
  // when the pointer leaves or focus moves on.
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape") return;
    document.querySelectorAll(".term").forEach(function (t) {
      if (t.matches(":hover") || t.contains(document.activeElement)) t.classList.add("tip-dismissed");
    });
  });
  function undismiss(e) {
    var t = e.target.closest && e.target.closest(".term");
    if (t) t.classList.remove("tip-dismissed");
  }
  document.addEventListener("mouseout", undismiss);
  document.addEventListener("focusout", undismiss);

  // Reset asks first.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) e.preventDefault();
  });

  // Knowledge checks post in the background and the graded check replaces
  // the form; the server renders it, so both paths show the same thing. A
  // question's "Show the answers" button posts the same form with its
  // name and value (reveal=<question id>); focus then goes to that question.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.matches("form[data-quiz]") || e.defaultPrevented) return;
    e.preventDefault();
    var section = form.closest(".quiz");
    var submitter = e.submitter || null;
    var body = new URLSearchParams(new FormData(form));
    if (submitter && submitter.name) body.append(submitter.name, submitter.value);
    var action = (submitter && submitter.getAttribute("formaction")) || form.getAttribute("action");
    var buttons = form.querySelectorAll("button[type=submit]");
    buttons.forEach(function (b) { b.disabled = true; });
    fetch(action.split("#")[0], {
      method: "POST",
      headers: { "X-Requested-With": "fetch", "Content-Type": "application/x-www-form-urlencoded" },
      body: body.toString(),
      credentials: "same-origin"
    }).then(function (res) {
      return res.text().then(function (text) { return { ok: res.ok, text: text }; });
    }).then(function (r) {
      if (!r.ok) throw new Error(r.text || "The answers could not be checked.");
      var holder = document.createElement("div");
      holder.innerHTML = r.text;
      var graded = holder.querySelector(".quiz");
      if (!graded) throw new Error("The answers could not be checked.");
      section.replaceWith(graded);
      var target = graded.querySelector(".score");
      if (submitter && submitter.name === "reveal") {
        var q = document.getElementById("q-" + submitter.value);
        if (q) target = q.querySelector(".verdict") || target;
      }
      if (target) {
        target.setAttribute("tabindex", "-1");
        target.focus();
      }
      if (graded.querySelector(".score[data-perfect]")) {
        var status = document.getElementById("chapter-status");
        if (!status) {
          var end = document.querySelector(".lesson-end form");
          if (end) {
            var done = document.createElement("p");
            done.className = "status-done";
            done.textContent = "✓ You have completed this chapter.";
            end.replaceWith(done);
          }
        }
      }
    }).catch(function (err) {
      buttons.forEach(function (b) { b.disabled = false; });
      var msg = form.querySelector(".quiz-error");
      if (!msg) {
        msg = document.createElement("p");
        msg.className = "quiz-error";
        msg.setAttribute("role", "alert");
        form.querySelector(".quiz-actions").appendChild(msg);
      }
      msg.textContent = err.message;
    });
  });
})();
