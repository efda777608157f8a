// Deposit pages, progressive enhancement: without this file the form is checked by the server (messages at each
// field) and files are sent whole by the multipart form. With it:
// 1. the form is checked on submit with the schema's rules the page carries (data-minlength, data-pattern,
//    required), each message shown at its field (aria-invalid, aria-describedby) and the submit held back;
// 2. files dropped on the box or chosen in the input are sent by tus 1.0 (/api/uploads/) in chunks, with a
//    progress bar each; a chunk that fails (network drop, server restart) is resumed from the offset the server
//    reports (HEAD), with growing waits; the committed file's SHA-256 and adler32 are then shown as the API reports
//    them, and the file's row is added to the draft's file table (no reload, so unsaved form input stays); the
//    table's Delete buttons then go through the API too. Calls ride on the session cookie with the page's CSRF token in X-CSRFToken, never a bearer token.
(function () {
  "use strict";
  var CHUNK = 4 * 1024 * 1024; // bytes per PATCH: a drop loses at most one chunk's progress
  var RETRIES = 30; // attempts per chunk before giving up
  var WAITS = [500, 1000, 2000, 4000, 8000]; // ms between attempts (the last one repeats)

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (all, name) { return name in values ? values[name] : all; });
  }

  // ------------------------------------------------------------------------------------------- the form
  var form = document.querySelector("[data-deposit-form]");
  function setError(input, message) {
    var holder = input.closest("[data-field]");
    var box = holder && holder.querySelector(".field-error");
    if (!box) return;
    box.textContent = message || "";
    box.hidden = !message;
    if (message) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
  }
  function problemOf(input) {
    var value = input.value.trim();
    var values = {label: input.dataset.label || input.name, hint: input.dataset.hint || "", n: input.dataset.minlength};
    if (input.required && !value) return fill(form.dataset.msgRequired, values);
    if (!value) return null;
    if (input.dataset.minlength && value.length < parseInt(input.dataset.minlength, 10)) return fill(form.dataset.msgMinlength, values);
    if (input.dataset.pattern && !new RegExp(input.dataset.pattern).test(value)) return fill(form.dataset.msgPattern, values);
    return null;
  }
  if (form) {
    form.addEventListener("submit", function (event) {
      var bad = [];
      form.querySelectorAll("input[data-label]").forEach(function (input) {
        var message = problemOf(input);
        setError(input, message);
        if (message) bad.push(input);
      });
      var summary = document.getElementById("form-client-errors");
      if (!bad.length) { summary.hidden = true; return; }
      event.preventDefault();
      summary.textContent = bad.length === 1 ? summary.dataset.one : fill(summary.dataset.many, {n: bad.length});
      summary.hidden = false;
      bad[0].focus();
    });
    // a corrected field loses its message as soon as it is right
    form.addEventListener("input", function (event) {
      var input = event.target;
      if (input.matches("input[data-label]") && input.getAttribute("aria-invalid") === "true" && !problemOf(input)) setError(input, null);
    });
  }

  // ------------------------------------------------------------------------------------------- files over tus
  var box = document.querySelector("[data-deposit-files]");
  if (!box) return;
  var recid = box.dataset.recid;
  var list = document.getElementById("upload-list");

  function b64(text) { return btoa(unescape(encodeURIComponent(text))); }
  function sleep(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }
  function headers(extra) {
    var out = {"Tus-Resumable": "1.0.0", "X-CSRFToken": box.dataset.csrf};
    Object.keys(extra || {}).forEach(function (k) { out[k] = extra[k]; });
    return out;
  }
  async function detail(response) {
    try { return (await response.json()).detail || response.statusText; } catch (e) { return response.statusText; }
  }
  // XMLHttpRequest rather than fetch: it reports the upload's progress
  function patch(url, offset, blob, onProgress) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open("PATCH", url);
      var h = headers({"Upload-Offset": String(offset), "Content-Type": "application/offset+octet-stream"});
      Object.keys(h).forEach(function (k) { xhr.setRequestHeader(k, h[k]); });
      xhr.upload.onprogress = function (e) { onProgress(offset + e.loaded); };
      xhr.onload = function () { resolve(xhr); };
      xhr.onerror = xhr.onabort = xhr.ontimeout = function () { reject(new Error("network")); };
      xhr.send(blob);
    });
  }
  async function serverOffset(url) {
    var r = await fetch(url, {method: "HEAD", headers: headers(), cache: "no-store"});
    if (!r.ok) throw new Error(await detail(r));
    return parseInt(r.headers.get("Upload-Offset"), 10);
  }

  function row(file) {
    var li = document.createElement("li");
    li.className = "upload";
    li.dataset.key = file.name;
    var name = document.createElement("code"); name.textContent = file.name;
    var bar = document.createElement("progress"); bar.max = file.size || 1; bar.value = 0;
    bar.setAttribute("aria-label", file.name);
    var state = document.createElement("span"); state.className = "upload-state"; state.textContent = box.dataset.msgUploading;
    var sums = document.createElement("span"); sums.className = "upload-sums";
    li.append(name, " ", bar, " ", state, " ", sums);
    list.appendChild(li);
    return {li: li, bar: bar, state: state, sums: sums};
  }

  async function send(file) {
    var none = document.getElementById("no-files");
    if (none) none.hidden = true;
    var ui = row(file);
    try {
      var created = await fetch("/api/uploads/", {method: "POST", headers: headers({
        "Upload-Length": String(file.size), "Upload-Metadata": "record " + b64(recid) + ",filename " + b64(file.name)})});
      if (created.status !== 201) throw new Error(await detail(created));
      var url = created.headers.get("Location");
      var offset = 0, failures = 0;
      while (offset < file.size) {
        try {
          var xhr = await patch(url, offset, file.slice(offset, offset + CHUNK), function (n) { ui.bar.value = n; });
          if (xhr.status === 204) { offset = parseInt(xhr.getResponseHeader("Upload-Offset"), 10); failures = 0; ui.state.textContent = box.dataset.msgUploading; continue; }
          if (xhr.status === 409 || xhr.status === 460 || xhr.status >= 500) throw new Error("retry");  // stale offset, damaged chunk, server trouble
          var problem = {}; try { problem = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
          throw Object.assign(new Error(problem.detail || xhr.statusText), {final: true});
        } catch (err) {
          if (err.final || ++failures > RETRIES) throw err;
          ui.state.textContent = box.dataset.msgRetrying;
          await sleep(WAITS[Math.min(failures - 1, WAITS.length - 1)]);
          try { offset = await serverOffset(url); ui.bar.value = offset; } catch (e) { /* still offline: wait again */ }
        }
      }
      var entry = await fetch("/api/records/" + recid + "/draft/files/" + encodeURIComponent(file.name), {headers: {Accept: "application/json"}});
      var body = await entry.json();
      ui.bar.value = ui.bar.max;
      ui.state.textContent = box.dataset.msgDone;
      ui.li.dataset.status = body.status;
      var sha = document.createElement("code"); sha.className = "sha256"; sha.textContent = "sha256:" + (body.checksums.sha256 || "");
      var adler = document.createElement("code"); adler.className = "adler32"; adler.textContent = body.checksums.adler32 || "";
      var del = document.createElement("button"); del.type = "button"; del.textContent = box.dataset.msgDelete; del.dataset.deleteKey = file.name;
      ui.sums.append(sha, " ", adler, " ", del);
      if (body.status === "completed") addFileRow(body);
    } catch (err) {
      ui.state.textContent = box.dataset.msgFailed + " " + err.message;
      ui.li.dataset.status = "failed";
    }
  }

  // ------------------------------------------------------------------------------------------- the file table
  var table = document.getElementById("draft-files");
  var rowTemplate = document.getElementById("draft-file-row");
  var units = (box.dataset.units || "B kB MB GB TB PB").split(" ");
  function size(bytes) {  // as the server's `filesize` filter writes it: SI units, one decimal above bytes
    var value = bytes, unit = 0;
    while (value >= 1000 && unit < units.length - 1) { value /= 1000; unit++; }
    var digits = unit ? 1 : 0;
    var text = new Intl.NumberFormat(document.documentElement.lang || undefined, {minimumFractionDigits: digits, maximumFractionDigits: digits}).format(value);
    return text + "\u00a0" + units[unit];
  }
  function rowOf(key) {
    return Array.prototype.find.call(table.tBodies[0].rows, function (tr) { return tr.dataset.key === key; });
  }
  // the committed file's row, built from the API's JSON entry; a file sent again under the same name replaces it
  function addFileRow(entry) {
    var tr = rowTemplate.content.firstElementChild.cloneNode(true);
    tr.dataset.key = entry.key;
    tr.querySelector('[data-cell="key"]').textContent = entry.key;
    tr.querySelector('[data-cell="size"]').textContent = size(entry.size || 0);
    tr.querySelector('[data-cell="sha256"]').textContent = "sha256:" + (entry.checksums.sha256 || "");
    tr.querySelector('[data-cell="adler32"]').textContent = entry.checksums.adler32 || "";
    var rowForm = tr.querySelector("form");
    rowForm.action = rowForm.dataset.action.replace(/KEY\/delete$/, encodeURIComponent(entry.key) + "/delete");
    var button = rowForm.querySelector("button");
    button.setAttribute("aria-label", fill(button.dataset.label, {key: entry.key}));
    var old = rowOf(entry.key);
    if (old) old.replaceWith(tr); else table.tBodies[0].appendChild(tr);
    table.hidden = false;
    var none = document.getElementById("no-files");
    if (none) none.hidden = true;
  }
  function removeFile(key) {
    var tr = rowOf(key);
    if (tr) tr.remove();
    list.querySelectorAll("li").forEach(function (li) { if (li.dataset.key === key) li.remove(); });
    if (!table.tBodies[0].rows.length) {
      table.hidden = true;
      var none = document.getElementById("no-files");
      if (none) none.hidden = false;
    }
  }
  async function deleteFile(key) {
    var r = await fetch("/api/records/" + recid + "/draft/files/" + encodeURIComponent(key),
                        {method: "DELETE", headers: {"X-CSRFToken": box.dataset.csrf}});
    if (r.ok) removeFile(key);
    return r.ok;
  }
  // the table's Delete forms post and reload the page without this; with it, the API deletes and the row goes
  table.addEventListener("submit", async function (event) {
    var tr = event.target.closest("tr[data-key]");
    if (!tr) return;
    event.preventDefault();
    if (!(await deleteFile(tr.dataset.key))) event.target.submit();  // refused: the form's answer says why
  });

  async function sendAll(files) {
    for (var i = 0; i < files.length; i++) await send(files[i]);  // one at a time: the bandwidth goes to one file
  }

  var uploadForm = box.querySelector("[data-drop-zone]");
  var input = document.getElementById("file-input");
  uploadForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var files = Array.prototype.slice.call(input.files);
    input.value = "";
    sendAll(files);
  });
  input.addEventListener("change", function () {
    var files = Array.prototype.slice.call(input.files);
    input.value = "";
    sendAll(files);
  });
  ["dragenter", "dragover"].forEach(function (name) {
    uploadForm.addEventListener(name, function (event) { event.preventDefault(); uploadForm.classList.add("dragging"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    uploadForm.addEventListener(name, function () { uploadForm.classList.remove("dragging"); });
  });
  uploadForm.addEventListener("drop", function (event) {
    event.preventDefault();
    sendAll(Array.prototype.slice.call(event.dataTransfer.files));
  });
  list.addEventListener("click", async function (event) {
    var button = event.target.closest("[data-delete-key]");
    if (!button) return;
    await deleteFile(button.dataset.deleteKey);
  });
})();
