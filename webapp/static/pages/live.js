// Live pages over server-sent events (GET /api/v1/events): the results list's badges and durations, and a job
// page's fields, outputs and log, change as the job moves, without reloading. The server ends each stream after
// a few minutes; EventSource reconnects by itself and the server re-sends the current state.
(function () {
  "use strict";

  const TERMINAL = new Set(["succeeded", "failed", "timed_out", "out_of_memory", "output_too_large", "cancelled", "system_error"]);
  const FAILURES = new Set(["failed", "timed_out", "out_of_memory", "output_too_large", "system_error"]);
  const root = document.querySelector("[data-live]");
  // The failure summary's excerpt ends on the exception: show its end, as a terminal would.
  const excerpt = document.getElementById("failure-excerpt");
  if (excerpt) excerpt.scrollTop = excerpt.scrollHeight;
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
    const link = row.querySelector('[data-field="name"]');
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
    fill(row, "name", job.name);
    fill(row, "short_id", job.short_id);
    fill(row, "reason", job.reason);
    fill(row, "datasets", (job.datasets || []).join(", "));
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
      // A job that ended badly: the page as served opens on why (the failure summary, read from the log's end).
      if (wasActive && FAILURES.has(job.status)) window.location.reload();
      else if (wasActive) refreshOutputs();
    }
  }

  async function refreshOutputs() {
    const response = await fetch(root.dataset.outputsUrl, { headers: { Accept: "text/html" } });
    if (response.ok) document.getElementById("outputs").innerHTML = await response.text();
  }

  // The log: small logs are followed by asking only for new bytes; beyond WINDOW the page shows the head and
  // the newest tail (the full log is a link away). labqueue's own marks (its notes, the environment build's
  // output, the cut of a capped log) are highlighted where the server says they are (X-Log-Marks, byte ranges
  // the consumer stored beside the log), never by what the text looks like: a job can print anything.
  function createLog(pre) {
    const WINDOW = 512 * 1024;
    const HEAD = 128 * 1024;
    const follow = document.getElementById("follow-log");
    const decoder = new TextDecoder();
    let shown = 0;
    let head = null;
    let busy = false;
    let pending = null;

    function atBottom() { return pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40; }

    // Pieces of text, each with the kind of labqueue mark it is, or none: [{text, kind}].
    function render(pieces, append) {
      const stick = follow.checked && (atBottom() || !append);
      if (!append) pre.textContent = "";
      for (const piece of pieces) {
        if (!piece.text) continue;
        if (piece.kind) {
          const mark = document.createElement("mark");
          mark.className = piece.kind;
          mark.textContent = piece.text;
          pre.append(mark);
        } else {
          pre.append(piece.text);
        }
      }
      if (!pre.textContent) pre.textContent = "(nothing logged yet)";
      if (stick) pre.scrollTop = pre.scrollHeight;
    }

    // Bytes of the log from offset `start`, split where labqueue's marks begin and end, decoded in order.
    function pieces(data, start, marks, textDecoder) {
      const cuts = new Set([0, data.length]);
      for (const [, from, to] of marks) {
        for (const at of [from - start, to - start]) if (at > 0 && at < data.length) cuts.add(at);
      }
      const bounds = [...cuts].sort((x, y) => x - y);
      const out = [];
      for (let i = 0; i + 1 < bounds.length; i += 1) {
        const at = start + bounds[i];
        const mark = marks.find(([, from, to]) => from <= at && at < to);
        out.push({ text: textDecoder.decode(data.subarray(bounds[i], bounds[i + 1]), { stream: true }), kind: mark ? mark[0] : null });
      }
      return out;
    }

    function marksOf(response) {
      try {
        const marks = JSON.parse(response.headers.get("X-Log-Marks") || "[]");
        return Array.isArray(marks) ? marks.filter((m) => Array.isArray(m) && m.length === 3) : [];
      } catch (error) {
        return [];
      }
    }

    // One byte range of the log: its bytes, where they start, and labqueue's marks in the whole log.
    async function range(spec) {
      const response = await fetch(pre.dataset.logUrl, { headers: { Range: `bytes=${spec}` }, cache: "no-store" });
      if (response.status === 416) return { data: new Uint8Array(), start: 0, marks: [] };
      if (!response.ok) throw new Error(`log: ${response.status}`);
      const span = /bytes (\d+)-/.exec(response.headers.get("Content-Range") || "");
      return {
        data: new Uint8Array(await response.arrayBuffer()),
        start: span ? Number(span[1]) : 0,
        marks: marksOf(response),
      };
    }

    function skipped(count) { return { text: count > 0 ? `\n[… ${bytes(count)} not shown here: “open as text” has them …]\n` : "", kind: null }; }

    async function load(size) {
      if (size <= WINDOW) {
        if (size < shown || shown === 0) {
          shown = 0;
          const got = size ? await range("0-") : { data: new Uint8Array(), start: 0, marks: [] };
          shown = got.data.length;
          render(pieces(got.data, 0, got.marks, decoder), false);
        } else if (size > shown) {
          const got = await range(`${shown}-`);
          const start = shown;
          shown += got.data.length;
          if (pre.textContent === "(nothing logged yet)") pre.textContent = "";
          render(pieces(got.data, start, got.marks, decoder), true);
        }
        return;
      }
      // A big log: its head, the cut if the consumer capped the log, and the newest tail.
      const tail = await range(`-${WINDOW - HEAD}`);
      if (head === null) head = (await range(`0-${HEAD - 1}`)).data;
      const marks = tail.marks;
      const cut = marks.find(([kind]) => kind === "cut");
      const headEnd = Math.min(head.length, cut ? cut[1] : head.length);
      const view = pieces(head.subarray(0, headEnd), 0, marks, new TextDecoder());
      let tailFrom = 0;
      if (cut) {
        const mark = await range(`${cut[1]}-${cut[2] - 1}`);
        view.push(skipped(cut[1] - headEnd), ...pieces(mark.data, cut[1], marks, new TextDecoder()));
        tailFrom = Math.max(0, cut[2] - tail.start);
      }
      const hidden = tail.start + tailFrom - (cut ? cut[2] : headEnd);
      if (hidden > 0) tailFrom += tail.data.subarray(tailFrom).indexOf(10) + 1;  // from the first whole line
      view.push(skipped(hidden), ...pieces(tail.data.subarray(tailFrom), tail.start + tailFrom, marks, new TextDecoder()));
      render(view, false);
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
