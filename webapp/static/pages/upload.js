// The upload form, better with JavaScript: drop a zip, see its project and runtime before sending, watch the
// upload's progress, and read the server's reason right by the form if it refuses the zip. Without JavaScript
// the same form posts to the page, which answers with the same reason.
(function () {
  "use strict";

  const form = document.getElementById("upload-form");
  if (!form || !window.XMLHttpRequest || !window.FormData) return;
  const input = form.querySelector('input[type="file"]');
  const runtime = form.querySelector('select[name="runtime"]');
  const runtimeHint = document.getElementById("runtime-hint");
  const dropzone = document.getElementById("dropzone");
  const info = document.getElementById("zip-info");
  const errorBox = document.getElementById("upload-error");
  const progress = document.getElementById("upload-progress");
  const bar = document.getElementById("upload-progress-bar");
  const progressText = document.getElementById("upload-progress-text");
  const submit = document.getElementById("upload-submit");
  const abortButton = document.getElementById("upload-abort");
  const maxBytes = Number(form.dataset.maxBytes);
  const runtimes = JSON.parse(form.dataset.runtimes); // the server's table: [{ name, label, entry_file }]
  const labels = new Map(runtimes.map((entry) => [entry.name, entry.label]));
  let request = null;

  document.documentElement.classList.add("js");

  function mib(bytes) {
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + " KiB";
    if (bytes < 1024 * 1024 * 1024) return (bytes / 1024 / 1024).toFixed(1) + " MiB";
    return (bytes / 1024 / 1024 / 1024).toFixed(2) + " GiB";
  }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  }

  function showInfo(text, warning) {
    info.textContent = text;
    info.hidden = !text;
    info.classList.toggle("warning", Boolean(warning));
  }

  async function inspect() {
    showError("");
    const file = input.files && input.files[0];
    dropzone.classList.toggle("has-file", Boolean(file));
    if (!file) { showInfo(""); return; }
    if (file.size > maxBytes) {
      showInfo("");
      showError(`The upload is ${mib(file.size)}; the limit is ${mib(maxBytes)}.`);
      return;
    }
    try {
      const project = await window.labqueueZip.inspect(file, runtimes);
      const parts = [`Project “${project.project}”`];
      if (project.runtime) parts.push(`${labels.get(project.runtime) || project.runtime} (${project.entryFile})`);
      parts.push(`${project.files} file${project.files === 1 ? "" : "s"}, ${mib(project.bytes)} unpacked, ${mib(file.size)} to upload`);
      if (project.runtime && runtime) {
        runtime.value = project.runtime;
        runtimeHint.textContent = `detected: ${project.entryFile}`;
      }
      showInfo(parts.join(" · ") + (project.problem ? ` — ${project.problem}` : ""), Boolean(project.problem));
    } catch (error) {
      showInfo(error.message, true);
    }
  }

  function setBusy(busy) {
    submit.disabled = busy;
    abortButton.hidden = !busy;
    input.disabled = busy;
    progress.hidden = !busy && bar.value === 0;
  }

  function upload(event) {
    event.preventDefault();
    const file = input.files && input.files[0];
    if (!file) { showError("Choose a zip file first."); return; }
    if (file.size > maxBytes) { showError(`The upload is ${mib(file.size)}; the limit is ${mib(maxBytes)}.`); return; }
    showError("");
    const data = new FormData(form);
    const started = performance.now();
    request = new XMLHttpRequest();
    request.open("POST", form.dataset.apiUrl);
    request.setRequestHeader("Accept", "application/json");
    request.setRequestHeader("X-CSRFToken", form.querySelector('input[name="csrf_token"]').value);
    request.upload.addEventListener("progress", (e) => {
      if (!e.lengthComputable) return;
      const percent = Math.floor((e.loaded / e.total) * 100);
      const seconds = (performance.now() - started) / 1000;
      bar.value = percent;
      progressText.textContent = `${percent}% · ${mib(e.loaded)} of ${mib(e.total)}` + (seconds > 0.5 ? ` · ${mib(e.loaded / seconds)}/s` : "");
    });
    request.upload.addEventListener("load", () => { progressText.textContent = "Uploaded; the server is checking the zip…"; });
    request.addEventListener("load", () => {
      let body = null;
      try { body = JSON.parse(request.responseText); } catch (e) { body = null; }
      if (request.status === 201 && body && body.id) {
        progressText.textContent = "Queued. Opening the job…";
        window.location.assign(form.dataset.jobUrl.replace("JOB_ID", body.id));
        return;
      }
      bar.value = 0;
      setBusy(false);
      progress.hidden = true;
      showError(body && body.message ? body.message : `The server answered ${request.status} ${request.statusText}.`);
    });
    request.addEventListener("error", () => {
      bar.value = 0;
      setBusy(false);
      showError("The upload broke off: the connection to the server was lost. Try again.");
    });
    request.addEventListener("abort", () => {
      bar.value = 0;
      setBusy(false);
      progress.hidden = true;
      showError("Upload stopped; nothing was stored.");
    });
    bar.value = 0;
    progressText.textContent = "Starting…";
    progress.hidden = false;
    setBusy(true);
    request.send(data);
  }

  input.addEventListener("change", inspect);
  form.addEventListener("submit", upload);
  abortButton.addEventListener("click", () => { if (request) request.abort(); });

  for (const name of ["dragenter", "dragover"]) {
    dropzone.addEventListener(name, (e) => { e.preventDefault(); dropzone.classList.add("dragging"); });
  }
  for (const name of ["dragleave", "drop"]) {
    dropzone.addEventListener(name, () => dropzone.classList.remove("dragging"));
  }
  dropzone.addEventListener("drop", (e) => {
    e.preventDefault();
    if (!e.dataTransfer || !e.dataTransfer.files.length) return;
    input.files = e.dataTransfer.files;
    inspect();
  });
  if (input.files && input.files.length) inspect();
})();
