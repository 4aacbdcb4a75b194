// The kitchen's list of orders keeps itself current: it asks every few seconds whether a new order
// came in and then reloads, with a chime if the kitchen turned it on (browsers let a page make a
// sound only after someone clicked it, hence the button).
(function () {
  "use strict";
  var CHIME_KEY = "soniq-kitchen-chime", CHIMED_KEY = "soniq-kitchen-chimed";

  function chime() {
    var AudioContext = window.AudioContext || window.webkitAudioContext;
    if (AudioContext) {
      var audio = new AudioContext(), now = audio.currentTime;
      [880, 1320].forEach(function (frequency, index) {
        var tone = audio.createOscillator(), gain = audio.createGain();
        tone.frequency.value = frequency;
        gain.gain.setValueAtTime(0.0001, now + index * 0.25);
        gain.gain.exponentialRampToValueAtTime(0.3, now + index * 0.25 + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, now + index * 0.25 + 0.22);
        tone.connect(gain).connect(audio.destination);
        tone.start(now + index * 0.25);
        tone.stop(now + index * 0.25 + 0.25);
      });
    }
    // Counted, so a test (or a curious owner in the console) can see that it chimed.
    sessionStorage.setItem(CHIMED_KEY, String(Number(sessionStorage.getItem(CHIMED_KEY) || 0) + 1));
  }

  document.addEventListener("DOMContentLoaded", function () {
    var toggle = document.getElementById("soniq-chime");
    if (!toggle) { return; }
    var latest = Number(toggle.dataset.latest), interval = Number(toggle.dataset.interval) || 15000;

    function show() {
      var on = localStorage.getItem(CHIME_KEY) === "on";
      toggle.textContent = "Chime on new orders: " + (on ? "on" : "off");
      toggle.setAttribute("aria-pressed", on ? "true" : "false");
      toggle.classList.toggle("on", on);
    }
    toggle.addEventListener("click", function () {
      localStorage.setItem(CHIME_KEY, localStorage.getItem(CHIME_KEY) === "on" ? "off" : "on");
      show();
    });
    show();

    setInterval(function () {
      fetch(toggle.dataset.latestUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (body) {
          if (!body || body.latest <= latest) { return; }
          latest = body.latest;
          if (localStorage.getItem(CHIME_KEY) === "on") { chime(); }
          setTimeout(function () { window.location.reload(); }, 600);
        })
        .catch(function () { /* offline for a moment: the next poll tries again */ });
    }, interval);
  });
})();
