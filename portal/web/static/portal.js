// Progressive enhancement only: every link and form works without this file.
(function () {
  "use strict";
  function copy(text, button) {
    var done = function () { var old = button.textContent; button.textContent = button.dataset.copiedLabel || "Copied"; button.dataset.copied = "1";
      setTimeout(function () { button.textContent = old; }, 1500); };
    if (navigator.clipboard && window.isSecureContext) { navigator.clipboard.writeText(text).then(done, done); return; }
    var area = document.createElement("textarea"); area.value = text; document.body.appendChild(area); area.select();
    try { document.execCommand("copy"); } catch (e) { /* the text stays selectable */ }
    document.body.removeChild(area); window.lastCopied = text; done();
  }
  // On a phone the filters sit above the results: fold them so the hits are in view first.
  var facetBox = document.querySelector("[data-facet-box]");
  if (facetBox && window.matchMedia("(max-width: 48rem)").matches) facetBox.open = false;
  document.addEventListener("click", function (event) {
    var target = event.target.closest("[data-copy], [data-list-index], a.download, [data-large-close]");
    if (!target) return;
    if (target.dataset.copy !== undefined) { window.lastCopied = target.dataset.copy; copy(target.dataset.copy, target); return; }
    if (target.dataset.largeClose !== undefined) { document.getElementById("large-download").close(); return; }
    if (target.dataset.listIndex !== undefined) {
      var list = document.querySelector('[data-index-files="' + target.dataset.listIndex + '"]');
      var open = list.hidden; list.hidden = !open; target.setAttribute("aria-expanded", open ? "true" : "false");
      if (open && !list.dataset.loaded) {
        fetch("/api/records/" + target.dataset.recid + "/files?size=100&index=" + encodeURIComponent(target.dataset.listIndex))
          .then(function (r) { return r.json(); }).then(function (body) {
            body.hits.hits.forEach(function (f) { var li = document.createElement("li"); li.textContent = f.uri + " (" + f.size + " B)"; list.appendChild(li); });
            if (body.hits.total > body.hits.hits.length) { var more = document.createElement("li"); more.textContent = "… " + (body.hits.total - body.hits.hits.length) + " " + (target.dataset.moreLabel || "more in the index file"); list.appendChild(more); }
            list.dataset.loaded = "1";
          });
      }
      return;
    }
    var size = parseInt(target.dataset.size || "0", 10);
    if (size > 1e9 && typeof HTMLDialogElement === "function") {
      event.preventDefault();
      var dialog = document.getElementById("large-download");
      dialog.querySelector("[data-large-size]").textContent = (size / 1e9).toFixed(1) + " GB";
      dialog.querySelector("[data-large-root]").textContent = target.dataset.root ? "xrdcp " + target.dataset.root + " ." : "(no root:// copy)";
      dialog.querySelector("[data-large-go]").href = target.href;
      dialog.showModal();
    }
  });
  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-cite-select]")) {
      document.querySelectorAll("[data-cite]").forEach(function (el) { el.hidden = el.dataset.cite !== event.target.value; });
    }
  });
  document.addEventListener("input", function (event) {
    if (event.target.matches("[data-file-filter]")) {
      // The same glob the server applies on submit (`*`, `?`; plain words match anywhere), on the rows shown.
      var value = event.target.value.trim().toLowerCase();
      var source = value.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
      var pattern = new RegExp(/[*?]/.test(value) ? "^" + source + "$" : source);
      document.querySelectorAll("[data-filebox] tbody tr").forEach(function (row) { row.hidden = !pattern.test(row.dataset.key.toLowerCase()); });
    }
  });
})();
