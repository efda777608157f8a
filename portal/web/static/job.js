// Progressive enhancement of an analysis job's page: without JavaScript the page shows the state at load time
// (reload to refresh). It polls only while the job is queued or running (data-state on #job-status).
(function () {
  "use strict";
  var box = document.getElementById("job-status");
  if (!box || (box.dataset.state !== "queued" && box.dataset.state !== "running")) return;
  async function poll() {
    const r = await fetch(box.dataset.url, {headers: {Accept: "application/json"}});
    const job = await r.json();
    const p = job.progress || {};
    document.getElementById("job-state").textContent = job.state;
    const bar = document.getElementById("job-progress");
    bar.max = p.events_total || 1; bar.value = p.events_done || 0;
    document.getElementById("job-progress-text").textContent =
      `${(p.events_done || 0).toLocaleString()} / ${(p.events_total || 0).toLocaleString()} events, files ` +
      `${p.files_done || 0}/${p.files_total || 0}, ${Math.round(p.events_per_second || 0).toLocaleString()} events/s`;
    if (job.state === "done" || job.state === "failed" || job.state === "cancelled") { location.reload(); return; }
    setTimeout(poll, 700);
  }
  setTimeout(poll, 500);
})();
