// "Talk to your agent" (templates/admin/soniq/talk.html): join a LiveKit room the server made a token
// for, hear the agent, see the live transcript (text streams on lk.transcription) and type instead of
// talking (lk.chat). livekit-client is served from our own static files (package.json, no CDN).
(function () {
  "use strict";
  const root = document.getElementById("soniq-talk");
  const callButton = document.getElementById("soniq-talk-call");
  if (!root || !callButton) return;
  const hangupButton = document.getElementById("soniq-talk-hangup");
  const statusLine = document.getElementById("soniq-talk-status");
  const transcript = document.getElementById("soniq-talk-transcript");
  const chatForm = document.getElementById("soniq-talk-chat");
  const chatInput = document.getElementById("soniq-talk-text");
  const sendButton = document.getElementById("soniq-talk-send");
  const audioBox = document.getElementById("soniq-talk-audio");
  const csrf = root.querySelector("input[name=csrfmiddlewaretoken]").value;
  const LK = window.LivekitClient;
  let room = null;
  const segments = new Map();

  function say(text) { statusLine.textContent = text; }

  function line(who, text, segmentId) {
    let item = segmentId ? segments.get(segmentId) : null;
    if (!item) {
      item = document.createElement("li");
      item.className = "soniq-talk-" + who;
      item.dataset.who = who;
      const label = document.createElement("strong");
      label.textContent = (who === "agent" ? "Agent" : "You") + ": ";
      item.appendChild(label);
      item.appendChild(document.createElement("span"));
      transcript.appendChild(item);
      if (segmentId) segments.set(segmentId, item);
    }
    item.lastChild.textContent = text;
  }

  function connected(on) {
    callButton.disabled = on;
    hangupButton.disabled = !on;
    chatInput.disabled = !on;
    sendButton.disabled = !on;
  }

  async function call() {
    if (!LK) { say("The call library did not load: run the project's setup (npm ci)."); return; }
    callButton.disabled = true;
    say("Connecting…");
    const body = new FormData();
    body.append("draft_key", root.dataset.draftKey || "");
    let data;
    try {
      const response = await fetch(root.dataset.tokenUrl, {
        method: "POST", body: body, credentials: "same-origin", headers: {"X-CSRFToken": csrf},
      });
      data = await response.json();
      if (!response.ok) throw new Error(data.error ? data.error.message : "The call could not be started.");
    } catch (error) {
      say(error.message);
      callButton.disabled = false;
      return;
    }
    room = new LK.Room();
    room.on(LK.RoomEvent.TrackSubscribed, function (track) {
      if (track.kind === "audio") {
        const element = track.attach();
        element.dataset.testid = "agent-audio";
        audioBox.appendChild(element);
      }
    });
    room.on(LK.RoomEvent.Disconnected, function () {
      connected(false);
      audioBox.replaceChildren();
      say("Call ended. It is listed under Calls, marked test.");
      room = null;
    });
    room.registerTextStreamHandler("lk.transcription", async function (reader, participant) {
      const who = participant.identity === room.localParticipant.identity ? "caller" : "agent";
      const segmentId = (reader.info.attributes || {})["lk.segment_id"] || reader.info.id;
      let text = "";
      for await (const chunk of reader) {
        text += chunk;
        line(who, text, segmentId);
      }
    });
    try {
      await room.connect(data.url, data.token);
    } catch (error) {
      room = null;
      callButton.disabled = false;
      say("Could not reach the call server: " + error.message);
      return;
    }
    connected(true);
    say("Connected: the agent will greet you.");
    try {
      await room.localParticipant.setMicrophoneEnabled(true);
    } catch (error) {
      say("Connected without a microphone (" + error.message + "): type instead of talking.");
    }
  }

  async function hangUp() {
    if (room) await room.disconnect();
  }

  async function send(event) {
    event.preventDefault();
    const text = chatInput.value.trim();
    if (!text || !room) return;
    chatInput.value = "";
    line("caller", text, null);
    await room.localParticipant.sendText(text, {topic: "lk.chat"});
  }

  callButton.addEventListener("click", call);
  hangupButton.addEventListener("click", hangUp);
  chatForm.addEventListener("submit", send);
})();
