/* Keys for the interviewer console. The pages are plain forms that work without this file;
   it only adds: number keys choose the numbered answer of the active question (two digits
   typed quickly for 10 and more), D and R key don't know and refused, Enter goes on, B goes
   back, J lists the earlier questions, N opens the question's note, Esc leaves a text box so
   the keys work again.
   The active question is the one holding the focus, else the first one on the page.
   On the case screen, while a call placed through Twilio is going, the call status region
   (role="status") is refreshed every 2 s from the attempt's calls.json, so its words change
   as Twilio's callbacks arrive (screen readers announce the change); asking stops when the
   call has ended, and never starts when no call is going. */
(function () {
  "use strict";
  var pending = "";
  var timer = null;

  function typing(el) {
    if (!el || !el.tagName) return false;
    var tag = el.tagName.toLowerCase();
    if (tag === "textarea" || tag === "select") return true;
    return tag === "input" && !/^(radio|checkbox|submit|button)$/.test(el.type);
  }

  function activeGroup() {
    var el = document.activeElement || document.body;
    var row = el.closest ? el.closest("[data-row]") : null;
    if (row) return row;
    var question = el.closest ? el.closest("[data-question]") : null;
    if (!question) {
      var form = document.querySelector(".end-form, .script-form");
      question = form && form.querySelector("[data-question], [data-choices]");
    }
    if (!question) return null;
    var rows = question.querySelectorAll("[data-row]");
    for (var i = 0; i < rows.length; i++) {
      if (!rows[i].querySelector("input:checked")) return rows[i];
    }
    return rows.length ? rows[0] : question;
  }

  function choose(group, key) {
    var input = group && group.querySelector('input[data-key="' + key + '"]');
    if (!input) return false;
    if (input.type === "checkbox") {
      input.checked = !input.checked;
      if (input.checked) clearOthers(group, input);
    } else {
      input.checked = true;
      var typed = group.querySelectorAll("[data-typed]");
      for (var i = 0; i < typed.length; i++) typed[i].value = "";
    }
    input.dispatchEvent(new Event("change", { bubbles: true }));
    if (group.hasAttribute("data-row")) {
      var rows = Array.prototype.slice.call(document.querySelectorAll("[data-row]"));
      var next = rows[rows.indexOf(group) + 1];
      var target = next ? (next.querySelector("input:checked") || next.querySelector("input")) : input;
      target.focus();
    } else {
      input.focus();
    }
    return true;
  }

  function clearOthers(group, input) {
    var boxes = group.querySelectorAll('input[type="checkbox"][name="' + input.name + '"]');
    for (var i = 0; i < boxes.length; i++) {
      if (boxes[i] === input) continue;
      if (input.hasAttribute("data-exclusive") || boxes[i].hasAttribute("data-exclusive")) boxes[i].checked = false;
    }
    if (input.name.slice(-8) === "-missing") {
      var typed = group.querySelectorAll("[data-typed]");
      for (var j = 0; j < typed.length; j++) typed[j].value = "";
    }
  }

  function primary() {
    return document.querySelector("[data-primary]");
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    var el = event.target;
    var key = event.key;
    if (key === "Escape" && typing(el)) {
      var holder = el.closest("[data-question]") || document.body;
      var first = holder.querySelector("input[type=radio], input[type=checkbox]");
      el.blur();
      if (first) first.focus();
      event.preventDefault();
      return;
    }
    if (key === "Enter") {
      if (el.tagName && /^(textarea|button|a|select|summary)$/i.test(el.tagName)) return;
      var button = primary();
      if (button && (!el.form || el.form === button.form)) {
        event.preventDefault();
        button.click();
      }
      return;
    }
    var numberBox = el && el.getAttribute && el.getAttribute("data-typed") === "number";
    if (typing(el) && !(numberBox && /^[dDrR]$/.test(key))) return;
    var group = activeGroup();
    if (/^[0-9]$/.test(key)) {
      if (!group) return;
      pending += key;
      clearTimeout(timer);
      var many = group.querySelectorAll("input[data-key]").length > 11;
      if (!many || pending.length >= 2 || !group.querySelector('input[data-key^="' + pending + '"]:not([data-key="' + pending + '"])')) {
        choose(group, pending);
        pending = "";
      } else {
        var typedSoFar = pending;
        timer = setTimeout(function () { choose(group, typedSoFar); pending = ""; }, 700);
      }
      event.preventDefault();
      return;
    }
    var upper = key.toUpperCase();
    if (upper === "D" || upper === "R") {
      if (group && choose(group, upper)) event.preventDefault();
      return;
    }
    if (upper === "B") {
      var back = document.querySelector("[data-back]");
      if (back) { event.preventDefault(); back.click(); }
      return;
    }
    if (upper === "J") {
      var earlier = document.querySelector("[data-earlier]");
      if (earlier) { event.preventDefault(); earlier.click(); }
      return;
    }
    if (upper === "N") {
      var question = group && (group.closest("[data-question]") || group);
      var note = question && question.querySelector("details.note");
      if (note) {
        note.open = true;
        note.querySelector("textarea").focus();
        event.preventDefault();
      }
    }
  });

  document.addEventListener("focusin", function (event) {
    var marked = document.querySelectorAll(".question--active");
    for (var i = 0; i < marked.length; i++) marked[i].classList.remove("question--active");
    var question = event.target.closest && event.target.closest("[data-question]");
    if (question) question.classList.add("question--active");
  });

  document.addEventListener("submit", function (event) {
    // A second press while the first is on its way sends nothing more (the server is safe
    // either way: the form's nonce records one save).
    var form = event.target;
    if (form.getAttribute("data-sent")) { event.preventDefault(); return; }
    form.setAttribute("data-sent", "1");
    setTimeout(function () { form.removeAttribute("data-sent"); }, 3000);
  });

  function watchCall() {
    // The case screen's live call status: the region holds the URL to ask and whether a call
    // is going; without fetch (or when nothing is going) the page's own link reloads it.
    var region = document.querySelector("[data-call-status]");
    if (!region || !region.hasAttribute("data-going") || !window.fetch) return;
    var words = region.querySelector("[data-call-status-text]");
    var refresh = document.querySelector("[data-call-status-refresh]");
    var every = 1000 * (parseFloat(region.getAttribute("data-poll-seconds")) || 2);
    var misses = 0;
    if (refresh) refresh.hidden = true;

    function stop(showLink) {
      region.removeAttribute("data-going");
      if (refresh) refresh.hidden = !showLink;
    }

    function ask() {
      fetch(region.getAttribute("data-call-status"), {
        credentials: "same-origin",
        cache: "no-store",
        redirect: "error",  // signed out: the sign-in page is no call status
        headers: { Accept: "application/json" }
      }).then(function (response) {
        if (!response.ok) throw new Error("gone");
        return response.json();
      }).then(function (data) {
        misses = 0;
        if (data.text && words.textContent !== data.text) words.textContent = data.text;
        if (data.going) setTimeout(ask, every);
        else stop(false);
      }).catch(function () {
        // A 404 (the case was coded or released) or a dropped connection: try twice more,
        // then leave it to the reload link.
        misses += 1;
        if (misses < 3) setTimeout(ask, every);
        else stop(true);
      });
    }

    setTimeout(ask, every);
  }

  document.addEventListener("DOMContentLoaded", watchCall);

  document.addEventListener("DOMContentLoaded", function () {
    document.documentElement.classList.remove("no-js");
    var summary = document.querySelector("[data-error-summary], [data-warning-panel]");
    if (summary) { summary.focus(); return; }
    var checked = document.querySelector(".script-form [data-question] input:checked");
    if (checked && document.activeElement === document.body) checked.focus();
  });
})();
