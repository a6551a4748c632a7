// The panel dashboard reloads its figures while it is in view (issue 13).
// Without this script the page is complete; the "Refresh the figures" link reloads it.
// Every REFRESH seconds, and at once when the tab comes back after that long hidden,
// the figures' HTML is fetched from data-refresh-url and put in place of the old.
// Nothing is fetched while the tab is hidden; a failed fetch leaves the figures as they
// were and says so. A button stops and restarts the updates (WCAG 2.2.2).
(function () {
  "use strict";
  var box = document.getElementById("panel-figures");
  if (!box || !window.fetch) { return; }
  var url = box.getAttribute("data-refresh-url");
  var every = 1000 * (parseInt(box.getAttribute("data-refresh-seconds"), 10) || 60);
  var last = Date.now();
  var timer = null;
  var paused = false;
  var busy = false;

  var bar = document.createElement("p");
  bar.className = "panel-status";
  var button = document.createElement("button");
  button.type = "button";
  button.className = "button button--secondary";
  button.id = "panel-refresh-toggle";
  var note = document.createElement("span");
  note.id = "panel-refresh-note";
  note.setAttribute("role", "status");
  bar.appendChild(button);
  bar.appendChild(document.createTextNode(" "));
  bar.appendChild(note);
  box.parentNode.insertBefore(bar, box);

  function label() {
    button.textContent = paused ? "Start updating the figures" : "Stop updating the figures";
    note.textContent = paused ? "Updates stopped." : "The figures update every minute while this tab is open.";
  }

  function refresh() {
    if (busy || paused || document.hidden) { return; }
    busy = true;
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (!response.ok || response.redirected) { throw new Error(String(response.status)); }
        return response.text();
      })
      .then(function (html) {
        box.innerHTML = html;
        last = Date.now();
        label();
      })
      .catch(function () {
        note.textContent = "The figures could not be updated; they are as of the time shown.";
      })
      .then(function () { busy = false; });
  }

  function schedule() {
    if (timer) { clearInterval(timer); }
    timer = paused ? null : setInterval(refresh, every);
  }

  button.addEventListener("click", function () {
    paused = !paused;
    label();
    schedule();
    if (!paused && Date.now() - last >= every) { refresh(); }
  });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && !paused && Date.now() - last >= every) { refresh(); }
  });
  label();
  schedule();
})();
