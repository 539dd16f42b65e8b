// Upload on the visit page: drag-and-drop and a progress bar while the bytes go up.
//
// Without this script the form still posts and the server answers with the whole page and the same
// per-file results. With it, the files go up through XMLHttpRequest (fetch cannot report upload progress),
// and the server's fragment replaces #upload-results and #recordings in place; htmx then takes over the
// polling that the new #recordings section asks for.
(function () {
  "use strict";

  var FRAGMENT_IDS = ["upload-results", "recordings"];

  function formatMegabytes(bytes) {
    return (bytes / (1024 * 1024)).toFixed(1);
  }

  function setUp(form) {
    var input = form.querySelector('input[type="file"]');
    var zone = form.querySelector("[data-drop-zone]");
    var chosen = form.querySelector("[data-chosen]");
    var progressBox = form.querySelector("[data-progress]");
    var progress = progressBox.querySelector("progress");
    var progressText = progressBox.querySelector("[data-progress-text]");
    var button = form.querySelector("[data-upload-button]");
    var dropped = null; // files from a drop, used when the browser will not put them into the input

    function showChosen(files) {
      if (!files || files.length === 0) {
        chosen.textContent = "";
        return;
      }
      var names = Array.prototype.map.call(files, function (file) { return file.name; });
      var shown = names.length > 8 ? names.slice(0, 8).join(", ") + ", … (" + names.length + ")" : names.join(", ");
      chosen.textContent = form.dataset.msgChosen + " " + shown;
    }

    input.addEventListener("change", function () {
      dropped = null;
      showChosen(input.files);
    });

    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.add("is-dragover");
      });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove("is-dragover"); });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      var files = event.dataTransfer && event.dataTransfer.files;
      if (!files || files.length === 0) return;
      try {
        input.files = files; // modern browsers accept a FileList here
        dropped = null;
      } catch (error) {
        dropped = files;
      }
      showChosen(files);
    });

    function replaceFragments(html) {
      var doc = new DOMParser().parseFromString(html, "text/html");
      var replaced = 0;
      FRAGMENT_IDS.forEach(function (id) {
        var fresh = doc.getElementById(id);
        var current = document.getElementById(id);
        if (!fresh || !current) return;
        var adopted = document.importNode(fresh, true);
        current.replaceWith(adopted);
        if (window.htmx) window.htmx.process(adopted);
        replaced += 1;
      });
      // New recordings: the analysis progress fragment listens for this and starts polling again.
      document.body.dispatchEvent(new CustomEvent("analyses-queued", { bubbles: true }));
      return replaced > 0;
    }

    function showFailure(message) {
      var results = document.getElementById("upload-results");
      results.innerHTML = "";
      var p = document.createElement("p");
      p.className = "message message-error";
      p.setAttribute("role", "alert");
      p.textContent = message;
      results.appendChild(p);
    }

    function finish() {
      button.disabled = false;
      progressBox.hidden = true;
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var data = new FormData(form);
      if (dropped) {
        data.delete(input.name);
        Array.prototype.forEach.call(dropped, function (file) { data.append(input.name, file, file.name); });
      }

      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");

      progress.value = 0;
      progressText.textContent = form.dataset.msgSending;
      progressBox.hidden = false;
      button.disabled = true;

      xhr.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable) return;
        progress.value = Math.round((e.loaded / e.total) * 100);
        progressText.textContent = formatMegabytes(e.loaded) + " / " + formatMegabytes(e.total) + " MB";
      });
      xhr.upload.addEventListener("load", function () {
        progress.value = 100;
        progressText.textContent = form.dataset.msgProcessing;
      });
      xhr.addEventListener("load", function () {
        finish();
        // 200 and 400 both carry the per-file results; anything else (413 from a proxy, 500) does not.
        var ok = (xhr.status === 200 || xhr.status === 400) && replaceFragments(xhr.responseText);
        if (!ok) {
          showFailure(form.dataset.msgFailed + " (HTTP " + xhr.status + ")");
          return;
        }
        form.reset();
        dropped = null;
        showChosen(null);
      });
      xhr.addEventListener("error", function () {
        finish();
        showFailure(form.dataset.msgFailed);
      });
      xhr.send(data);
    });
  }

  document.querySelectorAll("form[data-upload-form]").forEach(setUp);
})();
