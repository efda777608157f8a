// The comparison page while a run is still going (a re-run, typically): poll both jobs, then show the verdict
// and the plot by fetching this page again and swapping its status section in (no reload).
(function () {
  "use strict";
  var box = document.getElementById("compare-status");
  if (!box || box.dataset.ready === "yes") return;
  var names = JSON.parse(box.dataset.names || "{}"); // the states in the page's language
  async function poll() {
    const r = await fetch(box.dataset.url, {headers: {Accept: "application/json"}});
    const cmp = await r.json();
    for (const job of cmp.jobs || []) {
      const p = job.progress || {};
      const state = document.querySelector(`[data-compare-state="${job.id}"]`);
      if (state) state.textContent = names[job.state] || job.state;
      const events = document.querySelector(`[data-compare-events="${job.id}"]`);
      if (events) events.textContent = `${(p.events_done || 0).toLocaleString()} / ${(p.events_total || 0).toLocaleString()}`;
    }
    const finished = (cmp.jobs || []).every(function (j) { return j.state === "done" || j.state === "failed"; });
    if (cmp.ready || finished) {
      const page = await fetch(location.href, {headers: {Accept: "text/html"}});
      const doc = new DOMParser().parseFromString(await page.text(), "text/html");
      const fresh = doc.getElementById("compare-status");
      if (fresh) box.replaceWith(fresh);
      return;
    }
    setTimeout(poll, 700);
  }
  setTimeout(poll, 500);
})();
