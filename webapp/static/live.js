// Live status without reloading: poll the JSON API for the jobs on the page and the log of an open job.
(function () {
  "use strict";
  const TERMINAL = new Set(["succeeded", "failed", "timed_out", "out_of_memory", "output_too_large", "cancelled", "system_error"]);

  function setBadge(el, status) {
    el.textContent = status;
    el.className = "badge " + status;
  }

  async function refreshJob(id, scope) {
    const response = await fetch("/api/v1/jobs/" + id, { headers: { Accept: "application/json" } });
    if (!response.ok) return null;
    const job = await response.json();
    scope.querySelectorAll('[data-field="status"]').forEach((el) => setBadge(el, job.status));
    const fields = { reason: job.reason, exit_code: job.exit_code, consumer: job.consumer, attempt: job.attempt,
      started_at: job.started_at, finished_at: job.finished_at,
      duration: job.usage && job.usage.wall_seconds != null ? job.usage.wall_seconds.toFixed(1) + " s" : "" };
    for (const [name, value] of Object.entries(fields)) {
      scope.querySelectorAll('[data-field="' + name + '"]').forEach((el) => { el.textContent = value == null ? "" : value; });
    }
    return job;
  }

  async function refreshLog() {
    const pre = document.getElementById("log");
    if (!pre) return;
    const response = await fetch(pre.dataset.logUrl);
    if (response.ok) pre.textContent = (await response.text()) || "(no output yet)";
  }

  async function tick() {
    const rows = Array.from(document.querySelectorAll("[data-job-id]"));
    const pending = rows.filter((row) => {
      const badge = row.matches('[data-field="status"]') ? row : row.querySelector('[data-field="status"]');
      return !badge || !TERMINAL.has(badge.textContent.trim());
    });
    for (const row of pending) {
      const scope = row.closest("main") && row.tagName !== "TR" ? document : row;
      const job = await refreshJob(row.dataset.jobId, scope);
      if (job && row.tagName !== "TR") {
        await refreshLog();
        const download = document.getElementById("download-output");
        if (download && job.output_key) download.hidden = false;
      }
    }
    if (pending.length) setTimeout(tick, 1500);
  }

  refreshLog();
  setTimeout(tick, 1000);
})();
