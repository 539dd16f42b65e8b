/* Keyboard shortcuts and prefetching of the review screen (templates/classifier/review_item.html).

   Every element of #review-item with data-key="x" is what key x does: buttons and links are clicked, call
   type checkboxes toggled, [data-play] buttons play or pause their player, [data-focus-target] moves the
   focus. The species input turns what was typed into a checked species (Enter), removes the last one
   (Backspace on an empty input) and saves the correction (Enter on an empty input, or Ctrl+Enter anywhere).
   The next item's fragment is fetched in advance, so "next" swaps it in at once; its spectrogram is
   requested by the page itself (a hidden image), so the server draws and caches it while this one is
   reviewed. Listens on the document, so items swapped in by htmx need no setting up. */
(function () {
  "use strict";
  if (window.batsiteReview) { return; }
  window.batsiteReview = true;

  var PREFETCH_MAX_AGE_MS = 60000;
  var prefetched = {};
  var busy = false;

  function item() { return document.getElementById("review-item"); }

  function byKey(key) {
    var root = item();
    return root ? root.querySelector('[data-key="' + key + '"]') : null;
  }

  function typing(el) {
    if (!el || !el.tagName) { return false; }
    if (el.tagName === "INPUT") { return el.type !== "checkbox" && el.type !== "radio" && el.type !== "submit"; }
    return el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable;
  }

  function options() {
    return Array.prototype.slice.call(document.querySelectorAll("#review-vocabulary option"));
  }

  // The option a reviewer meant: its id, code or name exactly, else the only option containing the text.
  function vocabularyMatch(text) {
    var wanted = text.trim().toLowerCase();
    if (!wanted) { return null; }
    var all = options();
    var exact = all.filter(function (o) {
      return o.value.toLowerCase() === wanted || (o.dataset.code || "").toLowerCase() === wanted ||
        (o.dataset.name || "").toLowerCase() === wanted;
    });
    if (exact.length) { return exact[0]; }
    var partial = all.filter(function (o) {
      return (o.value + " " + (o.getAttribute("label") || "")).toLowerCase().indexOf(wanted) !== -1;
    });
    return partial.length === 1 ? partial[0] : null;
  }

  function addSpecies(option) {
    var chips = item().querySelector("[data-chips]");
    var boxes = chips.querySelectorAll('input[name="species"]');
    for (var i = 0; i < boxes.length; i++) {
      if (boxes[i].value === option.value) { boxes[i].checked = true; return; }
    }
    var label = document.createElement("label");
    label.className = "review-chip";
    var box = document.createElement("input");
    box.type = "checkbox";
    box.name = "species";
    box.value = option.value;
    box.checked = true;
    label.appendChild(box);
    label.appendChild(document.createTextNode(" " + (option.dataset.name || option.value)));
    chips.appendChild(label);
  }

  function removeLastSpecies() {
    var checked = item().querySelectorAll('[data-chips] input[name="species"]:checked');
    if (checked.length) { checked[checked.length - 1].checked = false; }
  }

  function blurItem() {
    var root = item();
    var active = document.activeElement;
    if (root && active && active !== document.body && root.contains(active)) { active.blur(); }
  }

  // htmx wires swapped-in content only when the swap settles (some ms later): a key pressed right after the
  // next item appears would otherwise click a plain form and reload the whole page. Wiring twice is harmless.
  function wired(element) {
    if (window.htmx && htmx.process) { htmx.process(element.form || item() || element); }
    return element;
  }

  function saveCorrection() {
    var button = byKey("enter-correct");
    if (button && !busy) { wired(button).click(); }
  }

  function togglePlay(selector) {
    var audio = document.querySelector(selector);
    if (!audio) { return; }
    if (audio.paused) { audio.play(); } else { audio.pause(); }
  }

  function prefetchNext() {
    var root = item();
    var url = root && root.dataset.nextUrl;
    if (!url || prefetched[url]) { return; }
    fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) { if (html) { prefetched[url] = { html: html, at: Date.now() }; } })
      .catch(function () { /* the link still works without it */ });
  }

  // "Next" with the fragment already here: swap it in without waiting for the server.
  function swapPrefetched(link) {
    var url = link.getAttribute("href");
    var hit = prefetched[url];
    delete prefetched[url];
    if (!hit || Date.now() - hit.at > PREFETCH_MAX_AGE_MS || !window.htmx || !htmx.swap) { return false; }
    blurItem();
    htmx.swap(item(), hit.html, { swapStyle: "outerHTML" });
    htmx.process(item());
    history.pushState({}, "", url);
    prefetchNext();
    return true;
  }

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (!item()) { return; }
    if (target.matches && target.matches("[data-species-input]")) {
      if (event.key === "Enter" && !event.ctrlKey && !event.metaKey) {
        event.preventDefault();
        if (!target.value.trim()) { saveCorrection(); return; }
        var option = vocabularyMatch(target.value);
        if (option) {
          addSpecies(option);
          target.value = "";
          target.removeAttribute("aria-invalid");
        } else {
          target.setAttribute("aria-invalid", "true");
        }
        return;
      }
      if (event.key === "Backspace" && !target.value) { event.preventDefault(); removeLastSpecies(); return; }
    }
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter") { event.preventDefault(); saveCorrection(); return; }
    if (event.key === "Escape" && typing(target)) { target.blur(); return; }
    if (typing(target) || event.ctrlKey || event.metaKey || event.altKey || busy) { return; }

    var key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    if (key === "ArrowRight") { key = "j"; }
    if (key === "ArrowLeft") { key = "k"; }
    if (key === "?") {
      var help = item().querySelector(".review-shortcuts");
      if (help) { help.open = !help.open; }
      return;
    }
    var focusTarget = item().querySelector('[data-focus-key="' + key + '"]');
    if (focusTarget) { event.preventDefault(); focusTarget.focus(); return; }
    var element = byKey(key);
    if (!element) { return; }
    event.preventDefault();
    if (element.dataset.play) { togglePlay(element.dataset.play); return; }
    if (element.dataset.focusTarget) {
      var field = document.querySelector(element.dataset.focusTarget);
      if (field) { field.focus(); }
      return;
    }
    if (element.type === "checkbox") { element.checked = !element.checked; return; }
    if (key === "j" && swapPrefetched(element)) { return; }
    wired(element).click();
  });

  // One decision at a time: keys wait while a request of the review screen is on its way.
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (item() && item().contains(event.target)) { busy = true; }
  });
  document.addEventListener("htmx:afterRequest", function () { busy = false; });
  // A refused decision (422) comes back as the same item with the reason: show it. Whatever comes in,
  // the focus leaves the old item first: htmx would otherwise put it back into the new item's field of the
  // same id, and the next shortcut would be typed into the species field.
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.xhr && event.detail.xhr.status === 422) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
    blurItem();
  });
  document.addEventListener("htmx:afterSettle", prefetchNext);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", prefetchNext);
  } else {
    prefetchNext();
  }
})();
