// The agent settings form's Play button: the greeting (as typed, unsaved) in the chosen voice,
// synthesised by the server through Cartesia (backoffice/voices.py) and played here.
(function () {
  "use strict";
  function ready() {
    const play = document.getElementById("soniq-voice-play");
    if (!play) return;
    const audio = document.getElementById("soniq-voice-audio");
    const statusLine = document.getElementById("soniq-voice-status");
    play.addEventListener("click", async function () {
      const typed = document.getElementById("id_voice_id_typed");
      const chosen = document.getElementById("id_voice_id");
      const voice = (typed && typed.value.trim()) || (chosen && chosen.value) || "";
      if (!voice) { statusLine.textContent = "Choose a voice first."; return; }
      const greeting = document.getElementById("id_greeting");
      const language = document.getElementById("id_language");
      const query = new URLSearchParams({voice_id: voice});
      if (greeting && greeting.value.trim()) query.set("text", greeting.value.trim());
      if (language && language.value.trim()) query.set("language", language.value.trim());
      statusLine.textContent = "Loading…";
      const response = await fetch(play.dataset.previewUrl + "?" + query.toString(), {credentials: "same-origin"});
      if (!response.ok) {
        let message = "The voice could not be played.";
        try { message = (await response.json()).error.message; } catch (error) { /* not JSON */ }
        statusLine.textContent = message;
        return;
      }
      audio.src = URL.createObjectURL(await response.blob());
      try {
        await audio.play();
        statusLine.textContent = "Playing.";
      } catch (error) {
        statusLine.textContent = "Your browser did not play the audio: " + error.message;
      }
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
