// The launch page: one EventSource both starts and follows the launch; the page names its URL in data-events-url.
// A file rather than an inline script so the Content-Security-Policy can forbid inline scripts.
(function () {
  "use strict";
  var box = document.querySelector("[data-events-url]");
  if (!box) return;
  var log = document.getElementById("launch-log"), phase = document.getElementById("launch-phase");
  var names = JSON.parse(box.dataset.names || "{}"); // the phases in the page's language (the log stays as sent)
  var source = new EventSource(box.dataset.eventsUrl);
  source.onmessage = function (msg) {
    var ev = JSON.parse(msg.data);
    phase.textContent = names[ev.phase] || ev.phase;
    log.textContent += "[" + ev.phase + "] " + ev.message + "\n";
    if (ev.phase === "ready") { source.close(); window.location.href = ev.url; }
    if (ev.phase === "failed") { source.close(); document.getElementById("launch-failed").hidden = false; }
  };
  // A refused start (429 rate limit, 503 launches off) closes the stream without any event: say it failed.
  source.onerror = function () {
    if (source.readyState === EventSource.CLOSED) document.getElementById("launch-failed").hidden = false;
  };
})();
