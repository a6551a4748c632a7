/* Progressive enhancement for the web mode. Every page works without this file: the server
   enforces exclusive options, keeps answers and times sessions out. This only makes it nicer. */
(function () {
  "use strict";
  var doc = document;
  doc.documentElement.className = doc.documentElement.className.replace("no-js", "js");

  function each(selector, fn, root) {
    Array.prototype.forEach.call((root || doc).querySelectorAll(selector), fn);
  }
  function byName(form, name) {
    return Array.prototype.filter.call(form.elements, function (el) { return el.name === name; });
  }

  /* "Other, please specify": show the text box only while its option is chosen. */
  function syncReveals() {
    each("input[data-reveals]", function (input) {
      var target = doc.getElementById(input.getAttribute("data-reveals"));
      if (!target) { return; }
      var hasText = Array.prototype.some.call(target.querySelectorAll("input"), function (i) { return i.value; });
      var error = target.querySelector(".form-group--error");
      var show = input.checked || hasText && !!error;
      target.classList.toggle("conditional--hidden", !show);
      input.setAttribute("aria-expanded", show ? "true" : "false");
    });
  }

  /* Exclusive options ("None of these", don't know): choosing one clears the others. */
  function onChange(event) {
    var input = event.target;
    var form = input.form;
    if (!form) { return; }
    if (input.type === "checkbox" && input.checked) {
      var group = byName(form, input.name);
      var exclusive = input.hasAttribute("data-exclusive");
      group.forEach(function (other) {
        if (other !== input && (exclusive || other.hasAttribute("data-exclusive"))) { other.checked = false; }
      });
      var clears = input.getAttribute("data-clears");
      if (clears) {
        [clears, clears + "-day", clears + "-month", clears + "-year"].forEach(function (name) {
          byName(form, name).forEach(function (field) { field.value = ""; });
        });
      }
    }
    if (input.type === "radio" || input.type === "checkbox") { syncReveals(); }
  }
  function onInput(event) {
    var field = event.target;
    if (!field.form || !field.value) { return; }
    var base = field.name.replace(/-(day|month|year)$/, "");
    byName(field.form, base + "-missing").forEach(function (box) { box.checked = false; });
  }

  /* One submit per click: a second click within two seconds is ignored (the server would
     record it once anyway). Buttons are not disabled, so their name and value are sent. */
  function onSubmit(event) {
    var form = event.target;
    var last = Number(form.getAttribute("data-submitted-at") || 0);
    var now = Date.now();
    if (now - last < 2000) { event.preventDefault(); return; }
    form.setAttribute("data-submitted-at", String(now));
  }

  /* Session timeout warning: a countdown that the server's own timeout does not depend on. */
  function startTimeout() {
    var body = doc.body;
    var total = Number(body.getAttribute("data-timeout") || 0) * 1000;
    var warnBefore = Number(body.getAttribute("data-warning") || 0) * 1000;
    var panel = doc.getElementById("timeout-warning");
    var stay = doc.getElementById("timeout-stay");
    var keepalive = body.getAttribute("data-keepalive");
    if (!total || !panel || !stay || !window.fetch) { return; }
    var warnTimer, endTimer;
    function arm() {
      clearTimeout(warnTimer); clearTimeout(endTimer);
      warnTimer = setTimeout(function () {
        panel.hidden = false;
        stay.focus();
      }, Math.max(total - warnBefore, 0));
      endTimer = setTimeout(function () { window.location.reload(); }, total + 1000);
    }
    stay.addEventListener("click", function (event) {
      event.preventDefault();
      fetch(keepalive, { credentials: "same-origin" }).then(function () {
        panel.hidden = true;
        arm();
      });
    });
    arm();
  }

  /* Links in the error summary and warning panel move focus to the field, not just scroll. */
  function onClick(event) {
    var link = event.target.closest && event.target.closest(".error-summary a, .warning-panel a");
    if (!link) { return; }
    var id = (link.getAttribute("href") || "").replace(/^#/, "");
    var field = id && doc.getElementById(id);
    if (!field) { return; }
    event.preventDefault();
    var legend = field.closest("fieldset") && field.closest("fieldset").querySelector("legend");
    (legend || field).scrollIntoView();
    field.focus({ preventScroll: true });
  }

  doc.addEventListener("click", onClick);
  doc.addEventListener("change", onChange);
  doc.addEventListener("input", onInput);
  each("form", function (form) { form.addEventListener("submit", onSubmit); });
  syncReveals();
  startTimeout();
  var summary = doc.querySelector(".error-summary, .warning-panel");
  if (summary) { summary.focus(); }
})();
