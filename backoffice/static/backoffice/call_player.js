// The call page's recording player (templates/admin/soniq/call_change_form.html). A file, not an
// inline script: the admin's Content-Security-Policy allows scripts from 'self' only.
// Transcript turns and tool calls carry `data-at`: seconds into the call. The player carries
// `data-offset`: where the recording starts on the call's clock.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
  var player = document.querySelector("audio[data-testid=recording-player]");
  if (!player) return;
  var offset = parseFloat(player.dataset.offset || "0");
  var moments = Array.prototype.slice.call(document.querySelectorAll("[data-at]"));
  var turns = moments.filter(function (el) { return el.classList.contains("soniq-turn"); });

  function recordingTime(el) { return Math.max(parseFloat(el.dataset.at) - offset, 0); }

  moments.forEach(function (el) {
    el.classList.add("soniq-seekable");
    el.setAttribute("title", "Play from here");
    el.addEventListener("click", function (event) {
      if (event.target.closest("pre")) return;  // reading a tool's arguments is not a seek
      player.currentTime = recordingTime(el);
      player.play();
    });
  });

  function highlight() {
    var now = player.currentTime, current = null;
    turns.forEach(function (el) { if (recordingTime(el) <= now + 0.05) current = el; });
    turns.forEach(function (el) {
      var playing = el === current;
      el.classList.toggle("soniq-playing", playing);
      if (playing) el.setAttribute("aria-current", "true"); else el.removeAttribute("aria-current");
    });
  }
  player.addEventListener("timeupdate", highlight);
  player.addEventListener("seeked", highlight);
});
