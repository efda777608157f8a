// Progressive enhancement of an analysis job's page: without JavaScript the page shows the state at load time
// (reload to refresh). It polls only while the job is queued or running (data-state on #job-status); when the
// job ends, the page's content is fetched once and swapped in (the result appears without a reload).
(function () {
  "use strict";
  var cancel = document.getElementById("job-cancel");
  if (cancel) {
    cancel.addEventListener("click", async function () {
      const headers = {Accept: "application/json"};
      if (cancel.dataset.csrf) headers["X-CSRFToken"] = cancel.dataset.csrf;
      const r = await fetch(cancel.dataset.url, {method: "POST", headers: headers});
      const status = document.getElementById("job-cancel-status");
      if (r.ok) { cancel.disabled = true; status.textContent = "Cancelling…"; return; }
      let detail = r.statusText;
      try { detail = (await r.json()).detail || detail; } catch (e) { /* not JSON */ }
      status.textContent = `Could not cancel: ${detail}`;
    });
  }
  var box = document.getElementById("job-status");
  if (!box || (box.dataset.state !== "queued" && box.dataset.state !== "running")) return;
  async function refresh() {
    const page = await fetch(location.href, {headers: {Accept: "text/html"}});
    const doc = new DOMParser().parseFromString(await page.text(), "text/html");
    const fresh = doc.querySelector("main");
    const here = document.querySelector("main");
    if (fresh && here) here.replaceWith(fresh);
  }
  async function poll() {
    const r = await fetch(box.dataset.url, {headers: {Accept: "application/json"}});
    const job = await r.json();
    const p = job.progress || {};
    const state = document.getElementById("job-state");
    state.textContent = JSON.parse(state.dataset.names || "{}")[job.state] || job.state;
    const bar = document.getElementById("job-progress");
    bar.max = p.events_total || 1; bar.value = p.events_done || 0;
    // The sentence comes translated from the page (data-template), numbers in the page's language.
    const text = document.getElementById("job-progress-text"), lang = document.documentElement.lang || undefined;
    const values = {done: (p.events_done || 0).toLocaleString(lang), total: (p.events_total || 0).toLocaleString(lang),
                    files_done: p.files_done || 0, files_total: p.files_total || 0,
                    rate: Math.round(p.events_per_second || 0).toLocaleString(lang)};
    text.textContent = text.dataset.template.replace(/\{(\w+)\}/g, function (all, name) { return name in values ? values[name] : all; });
    // A software record's analysis: what its environment's build (or reuse) said, newest last.
    const log = document.getElementById("job-env-log");
    if (log && Array.isArray(p.environment)) {
      log.replaceChildren(...p.environment.map(function (line) { const li = document.createElement("li"); li.textContent = line; return li; }));
    }
    if (job.state === "done" || job.state === "failed" || job.state === "cancelled") { await refresh(); return; }
    setTimeout(poll, 700);
  }
  setTimeout(poll, 500);
})();
