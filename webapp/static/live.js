// Live pages over server-sent events (GET /api/v1/events): the results list's badges and durations, and a job
// page's fields, outputs and log, change as the job moves, without reloading. The server ends each stream after
// a few minutes; EventSource reconnects by itself and the server re-sends the current state.
(function () {
  "use strict";

  const TERMINAL = new Set(["succeeded", "failed", "timed_out", "out_of_memory", "output_too_large", "cancelled", "system_error"]);
  const root = document.querySelector("[data-live]");
  if (!root || !window.EventSource) return;
  const isJobPage = root.dataset.live === "job";

  // ---- formatting, as the server renders it -------------------------------------------------------------
  function seconds(value) {
    if (value == null) return "";
    if (value < 60) return value.toFixed(1) + " s";
    const total = Math.round(value);
    const minutes = Math.floor(total / 60);
    if (minutes < 60) return `${minutes} min ${total % 60} s`;
    return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  }

  function bytes(value) {
    if (value == null) return "";
    const units = ["B", "KiB", "MiB", "GiB"];
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
    return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
  }

  function localTime(iso) {
    return iso ? new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" }) : "";
  }

  function duration(job) {
    if (job.usage && job.usage.wall_seconds != null) return seconds(job.usage.wall_seconds);
    if (!job.started_at) return "";
    const end = job.finished_at ? Date.parse(job.finished_at) : Date.now();
    return seconds(Math.max(0, (end - Date.parse(job.started_at)) / 1000));
  }

  function setTime(el, iso) {
    if (iso) {
      el.setAttribute("datetime", iso);
      el.title = iso.replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC");
    }
    el.textContent = localTime(iso);
  }

  function setBadge(el, status, reason) {
    el.textContent = status.replace(/_/g, " ");
    el.className = "badge " + status;
    if (reason != null) el.title = reason;
  }

  function fill(scope, name, value) {
    scope.querySelectorAll(`[data-field="${name}"]`).forEach((el) => {
      if (el.tagName === "TIME") setTime(el, value);
      else el.textContent = value == null ? "" : String(value);
    });
  }

  // Times in the reader's own zone; the server writes UTC for readers without JavaScript.
  document.querySelectorAll("time[datetime]").forEach((el) => setTime(el, el.getAttribute("datetime")));

  // ---- the running clock of unfinished jobs --------------------------------------------------------------
  setInterval(() => {
    document.querySelectorAll('[data-field="duration"][data-started]').forEach((el) => {
      const holder = el.closest("[data-status]");
      if (holder && !TERMINAL.has(holder.dataset.status)) {
        el.textContent = seconds((Date.now() - Date.parse(el.dataset.started)) / 1000);
      }
    });
  }, 1000);

  function applyDuration(scope, job) {
    scope.querySelectorAll('[data-field="duration"]').forEach((el) => {
      if (job.started_at) el.dataset.started = job.started_at;
      el.textContent = duration(job);
    });
  }

  // ---- the results list ------------------------------------------------------------------------------------
  const newestServed = root.querySelector('tbody tr [data-field="submitted_at"]');
  const servedNewest = newestServed ? Date.parse(newestServed.getAttribute("datetime")) : 0;

  function addRow(job) {
    const template = document.getElementById("job-row");
    const body = root.querySelector("tbody");
    if (!template || !body) return null;
    const row = template.content.firstElementChild.cloneNode(true);
    row.dataset.jobId = job.id;
    const link = row.querySelector('[data-field="project"]');
    link.href = `/jobs/${job.id}`;
    body.prepend(row);
    root.hidden = false;
    const empty = document.getElementById("no-jobs");
    if (empty) empty.hidden = true;
    const total = document.getElementById("job-total");
    if (total) {
      const count = Number(total.dataset.total) + 1;
      total.dataset.total = String(count);
      total.textContent = `${count} job${count === 1 ? "" : "s"}`;
    }
    return row;
  }

  function updateRow(job) {
    let row = root.querySelector(`tr[data-job-id="${job.id}"]`);
    if (!row) {
      // Only jobs newer than the page as served belong at its top (older unfinished ones are on later pages).
      if (root.dataset.insert !== "1" || Date.parse(job.submitted_at) < servedNewest) return;
      row = addRow(job);
      if (!row) return;
    }
    row.dataset.status = job.status;
    fill(row, "project", job.project);
    fill(row, "runtime", job.runtime);
    fill(row, "submitted_at", job.submitted_at);
    setBadge(row.querySelector('[data-field="status"]'), job.status, job.reason);
    applyDuration(row, job);
  }

  // ---- one job's page ---------------------------------------------------------------------------------------
  const log = isJobPage ? createLog(document.getElementById("log")) : null;

  function updateJob(job) {
    if (job.id !== root.dataset.jobId) return;
    const wasActive = !TERMINAL.has(root.dataset.status);
    root.dataset.status = job.status;
    setBadge(root.querySelector('[data-field="status"]'), job.status);
    for (const name of ["reason", "exit_code", "consumer", "attempt", "started_at", "finished_at", "output_key", "log_key"]) {
      fill(root, name, job[name]);
    }
    fill(root, "container_runtime", job.container_runtime ? `under ${job.container_runtime}` : "");
    fill(root, "output_bytes", bytes(job.output_bytes));
    const usage = job.usage || {};
    if (usage.cpu_seconds != null || usage.peak_memory_bytes != null) {
      fill(root, "usage", `${seconds(usage.cpu_seconds)} CPU` + (usage.peak_memory_bytes != null ? `, ${bytes(usage.peak_memory_bytes)} peak memory` : ""));
    }
    applyDuration(root, job);
    if (TERMINAL.has(job.status)) {
      document.getElementById("cancel-form").hidden = true;
      document.getElementById("download-output").hidden = !job.output_key;
      if (wasActive) refreshOutputs();
    }
  }

  async function refreshOutputs() {
    const response = await fetch(root.dataset.outputsUrl, { headers: { Accept: "text/html" } });
    if (response.ok) document.getElementById("outputs").innerHTML = await response.text();
  }

  // The log: small logs are followed by asking only for new bytes; beyond WINDOW the page shows the head and
  // the newest tail (the full log is a link away), and marks the consumer's own cut of a capped log.
  function createLog(pre) {
    const WINDOW = 512 * 1024;
    const HEAD = 128 * 1024;
    const CUT = /\[\.\.\. labqueue: [^\n]*? \.\.\.\]/g;
    const follow = document.getElementById("follow-log");
    const decoder = new TextDecoder();
    let shown = 0;
    let head = null;
    let busy = false;
    let pending = null;

    function atBottom() { return pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40; }

    function render(text, append) {
      const stick = follow.checked && (atBottom() || !append);
      if (!append) pre.textContent = "";
      let last = 0;
      for (const match of text.matchAll(CUT)) {
        pre.append(text.slice(last, match.index));
        const mark = document.createElement("mark");
        mark.className = "cut";
        mark.textContent = match[0];
        pre.append(mark);
        last = match.index + match[0].length;
      }
      pre.append(text.slice(last));
      if (!pre.textContent) pre.textContent = "(nothing logged yet)";
      if (stick) pre.scrollTop = pre.scrollHeight;
    }

    // One byte range of the log: its bytes, where they start, and where the consumer's cut marker sits, if any.
    async function range(spec) {
      const response = await fetch(pre.dataset.logUrl, { headers: { Range: `bytes=${spec}` }, cache: "no-store" });
      if (response.status === 416) return { data: new Uint8Array(), start: 0, cut: null };
      if (!response.ok) throw new Error(`log: ${response.status}`);
      const span = /bytes (\d+)-/.exec(response.headers.get("Content-Range") || "");
      const cut = /^(\d+)-(\d+)$/.exec(response.headers.get("X-Log-Cut") || "");
      return {
        data: new Uint8Array(await response.arrayBuffer()),
        start: span ? Number(span[1]) : 0,
        cut: cut ? [Number(cut[1]), Number(cut[2])] : null,
      };
    }

    function text(data) { return new TextDecoder().decode(data); }

    function skipped(count) { return count > 0 ? `\n[… ${bytes(count)} not shown here: “open as text” has them …]\n` : ""; }

    async function load(size) {
      if (size <= WINDOW) {
        if (size < shown || shown === 0) {
          shown = 0;
          const data = size ? (await range("0-")).data : new Uint8Array();
          shown = data.length;
          render(decoder.decode(data, { stream: true }), false);
        } else if (size > shown) {
          const data = (await range(`${shown}-`)).data;
          shown += data.length;
          if (pre.textContent === "(nothing logged yet)") pre.textContent = "";
          render(decoder.decode(data, { stream: true }), true);
        }
        return;
      }
      // A big log: its head, the consumer's cut marker if it capped the log, and the newest tail.
      const tail = await range(`-${WINDOW - HEAD}`);
      if (head === null) head = (await range(`0-${HEAD - 1}`)).data;
      const cut = tail.cut;
      const headEnd = Math.min(head.length, cut ? cut[0] : head.length);
      let view = text(head.subarray(0, headEnd));
      let tailFrom = 0;
      if (cut) {
        const mark = (await range(`${cut[0]}-${cut[1] - 1}`)).data;
        view += skipped(cut[0] - headEnd) + text(mark);
        tailFrom = Math.max(0, cut[1] - tail.start);
      }
      const hidden = tail.start + tailFrom - (cut ? cut[1] : headEnd);
      let tailText = text(tail.data.subarray(tailFrom));
      if (hidden > 0) tailText = tailText.slice(tailText.indexOf("\n") + 1);
      render(view + skipped(hidden) + tailText, false);
      shown = size;
    }

    async function update(size) {
      if (busy) { pending = size; return; }
      busy = true;
      try {
        await load(size);
      } catch (error) {
        pre.dataset.error = error.message;
      } finally {
        busy = false;
      }
      if (pending !== null) { const next = pending; pending = null; update(next); }
    }

    return { update };
  }

  // ---- the stream ------------------------------------------------------------------------------------------
  function streamUrl() {
    const params = new URLSearchParams();
    if (isJobPage) {
      params.append("job", root.dataset.jobId);
      params.set("log", root.dataset.jobId);
    } else {
      root.querySelectorAll("tr[data-job-id]").forEach((row) => {
        if (row.dataset.jobId && !TERMINAL.has(row.dataset.status)) params.append("job", row.dataset.jobId);
      });
    }
    return "/api/v1/events?" + params.toString();
  }

  // A finished job changes no more: read its log once. A list with nothing unfinished and no room for new rows
  // has nothing to hear either.
  if (isJobPage && TERMINAL.has(root.dataset.status)) {
    fetch(document.getElementById("log").dataset.logUrl, { method: "HEAD", cache: "no-store" })
      .then((response) => log.update(Number(response.headers.get("Content-Length") || 0)));
    return;
  }
  if (!isJobPage && root.dataset.insert !== "1" && !streamUrl().includes("job=")) return;

  const source = new EventSource(streamUrl());
  source.addEventListener("job", (e) => {
    const job = JSON.parse(e.data);
    if (isJobPage) updateJob(job);
    else updateRow(job);
  });
  source.addEventListener("log", (e) => {
    const info = JSON.parse(e.data);
    if (log && info.id === root.dataset.jobId) log.update(info.size);
  });
  window.addEventListener("pagehide", () => source.close());
})();
