/* Audio players of the analysis panel (classifier/recording_analysis.html): one recording plays at a time,
   and the slowed player shows where it is in true time (its own clock runs ten times slower). Listens on
   the document, so players swapped in by htmx later need no setting up; safe to load more than once. */
(function () {
  "use strict";
  if (window.batsitePlayer) { return; }
  window.batsitePlayer = true;

  function players() {
    return document.querySelectorAll("audio[data-player]");
  }

  // Media events do not bubble; listening in the capture phase sees them all.
  document.addEventListener("play", function (event) {
    if (!event.target.matches || !event.target.matches("audio[data-player]")) { return; }
    players().forEach(function (other) {
      if (other !== event.target && !other.paused) { other.pause(); }
    });
  }, true);

  document.addEventListener("timeupdate", function (event) {
    var audio = event.target;
    if (!audio.matches || !audio.matches("audio[data-player]")) { return; }
    var slowdown = parseFloat(audio.dataset.slowdown || "1");
    var output = audio.parentElement && audio.parentElement.querySelector("[data-player-position]");
    if (!output || !(slowdown > 1)) { return; }
    var trueMs = (audio.currentTime / slowdown) * 1000;
    output.textContent = trueMs.toFixed(0) + " ms " + (output.dataset.label || "");
  }, true);
})();
