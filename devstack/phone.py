"""A SIP phone on loopback: Debian's baresip, playing a WAV as its microphone and recording what it hears.

Why baresip (`baresip-core`) and not SIPp or a Python SIP stack: it is a real user agent — it answers
a REFER by calling the target and reports back with NOTIFY, as a carrier or a desk phone does — it
records the decoded audio it receives (`sndfile`), it is scripted over `ctrl_tcp` (dial, hang up), and
its SIP trace (`-s`) shows every message it got, and it presses keys (RFC 2833 DTMF, `press`). SIPp plays RTP
from a pcap but cannot record, and the
Python SIP bindings on PyPI are third-party builds of pjsip.

One `SipPhone` is one baresip process with one account; it can place a call (`dial`) or take them
(`answer="auto"`, as a staff phone does), or turn them down (`answer="busy"`, or `"ignore"` to let
them ring out).
"""
from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from devstack.audio import read_wav, silence, write_wav
from devstack.livekit import free_port, free_port_both, free_udp_range

BARESIP_MODULES = Path("/usr/lib/baresip/modules")


class PhoneMissing(RuntimeError):
    pass


def baresip_binary() -> str:
    binary = shutil.which("baresip")
    if not binary:
        raise PhoneMissing("baresip is not installed: install Debian's baresip-core (the SIP phone of the local line)")
    return binary


@dataclass
class SipMessage:
    """One SIP message the phone received, from its trace: the first line and the headers."""

    first_line: str
    headers: dict[str, str]
    at: float  # time.monotonic() when the phone printed it

    @property
    def method(self) -> str:
        return self.first_line.split(" ", 1)[0]

    @property
    def status(self) -> int | None:
        match = re.match(r"SIP/2\.0 (\d{3})", self.first_line)
        return int(match.group(1)) if match else None


def free_sip_port() -> int:
    """A port for baresip's SIP: free for UDP and TCP, and the next one free for TCP, where baresip
    opens its SIP/TLS transport (an ephemeral port's neighbour is often a live TCP connection's on a
    busy machine, and baresip then exits: "SIP/TLS transport failed: Address already in use")."""
    for _ in range(100):
        port = free_port_both()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
                return port
            except OSError:
                continue
    raise RuntimeError("no port pair free for baresip's SIP on loopback")


@dataclass
class SipPhone:
    number: str  # the phone's own number, e.g. "+15559990001" (its From, what the platform sees as the caller)
    audio: Path | None = None  # the WAV it plays as its microphone (8 kHz mono 16-bit for PCMU)
    answer: str = "manual"  # incoming calls: "auto" answers, "busy" refuses (486), "manual"/"ignore" lets them ring
    outbound_proxy: str | None = None  # where its calls (and the calls a REFER asks for) go: "127.0.0.1:PORT"
    sip_port: int | None = None  # where it listens (None: a free port); the platform's carrier port for a called phone
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="soniq-phone-")))

    def __post_init__(self) -> None:
        self.sip_port = self.sip_port or free_sip_port()
        self.ctrl_port = free_port()
        self.rtp_ports = free_udp_range(20)
        self.events: list[dict] = []
        self.messages: list[SipMessage] = []
        self._lock = threading.Lock()
        self.process: subprocess.Popen | None = None
        self._ctrl: socket.socket | None = None
        self.dialled_at: float | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.sip_port}"

    @property
    def recordings_dir(self) -> Path:
        return self.workdir / "recordings"

    # --- starting and stopping --------------------------------------------------------------------

    def start(self) -> SipPhone:
        self.recordings_dir.mkdir(parents=True, exist_ok=True)
        if self.audio is None:
            # A phone with nothing to say (a staff phone) still needs a microphone at the codec's rate.
            self.audio = write_wav(self.workdir / "quiet.wav", silence(600, 8000), 8000)
        source = f"aufile,{self.audio}"
        config = "\n".join([
            "poll_method epoll",
            # Loopback only: without this baresip offers its first interface's address in the SDP.
            "net_interface 127.0.0.1",
            f"sip_listen {self.address}",
            # No sound card: play into ALSA's null device; sndfile records the decoded call audio.
            "audio_player alsa,null",
            "audio_alert alsa,null",
            f"audio_source {source}",
            f"snd_path {self.recordings_dir}",
            f"module_path {BARESIP_MODULES}",
            f"rtp_ports {self.rtp_ports[0]}-{self.rtp_ports[1]}",
            "rtp_timeout 0",
            # 2-4 frames of 20 ms: a phone's jitter buffer on a clean line (baresip's default, 5-10,
            # would add up to 200 ms to every figure measured at the caller).
            "jitter_buffer_delay 2-4",
            "module g711.so",
            "module aufile.so",
            "module alsa.so",
            "module sndfile.so",
            "module_app account.so",
            "module_app menu.so",
            "module_app ctrl_tcp.so",
            f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}",
            "",
        ])
        (self.workdir / "config").write_text(config)
        params = ";regint=0;audio_codecs=PCMU"
        if self.answer == "auto":
            params += ";answermode=auto"
        if self.outbound_proxy:
            params += f';outbound="sip:{self.outbound_proxy}"'
        (self.workdir / "accounts").write_text(f"<sip:{self.number}@127.0.0.1>{params}\n")
        self._log = (self.workdir / "baresip.log").open("w")
        self.process = subprocess.Popen([baresip_binary(), "-f", str(self.workdir), "-s"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        threading.Thread(target=self._read_trace, daemon=True).start()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                self._ctrl = socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=1)
                break
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"baresip exited with {self.process.returncode}:\n{self.log()}") from None
                time.sleep(0.1)
        else:
            raise RuntimeError(f"baresip did not open its control port:\n{self.log()}")
        self._ctrl.settimeout(None)
        threading.Thread(target=self._read_ctrl, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            # SIGTERM: baresip hangs up its calls (BYE) and exits.
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._ctrl:
            self._ctrl.close()

    # --- control -----------------------------------------------------------------------------------

    def command(self, command: str, params: str = "") -> None:
        body = json.dumps({"command": command, "params": params, "token": command}).encode()
        assert self._ctrl is not None
        self._ctrl.sendall(f"{len(body)}:".encode() + body + b",")

    def dial(self, uri: str) -> None:
        self.dialled_at = time.monotonic()
        self.command("dial", uri)

    def hang_up(self) -> None:
        self.command("hangup")

    def accept(self) -> None:
        self.command("accept")

    def press(self, keys: str, *, gap: float = 0.4) -> None:
        """Press `keys` on the keypad during the call, one at a time: baresip's `sndcode` sends each
        as RFC 2833 telephone-events on the call's RTP session, as a desk phone does. One key per
        command, since baresip releases only the last key of a command."""
        for key in keys:
            self.command("sndcode", key)
            time.sleep(gap)

    # --- what happened ------------------------------------------------------------------------------

    def wait_event(self, kind: str, *, timeout: float, after: int = 0) -> dict:
        """The first ctrl_tcp event of `kind` (CALL_ESTABLISHED, CALL_CLOSED, CALL_INCOMING, …)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for event in self.events[after:]:
                    if event.get("type") == kind:
                        return event
            time.sleep(0.02)
        raise AssertionError(f"phone {self.number}: no {kind} within {timeout:.0f} s; events: "
                             f"{[e.get('type') for e in self.events]}\n{self.log()[-4000:]}")

    def received(self, method_or_status: str | int) -> list[SipMessage]:
        with self._lock:
            return [message for message in self.messages
                    if message.method == method_or_status or message.status == method_or_status]

    def wait_received(self, method_or_status: str | int, *, timeout: float) -> SipMessage:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.received(method_or_status)
            if found:
                return found[0]
            time.sleep(0.02)
        raise AssertionError(f"phone {self.number}: no {method_or_status} within {timeout:.0f} s; got "
                             f"{[m.first_line for m in self.messages]}")

    def recording(self, kind: str = "dec") -> Path:
        """What the phone heard ("dec") or sent ("enc") on its last call, as a WAV."""
        files = sorted(self.recordings_dir.glob(f"dump-*-{kind}.wav"), key=lambda path: path.stat().st_mtime)
        if not files:
            raise AssertionError(f"phone {self.number} recorded nothing in {self.recordings_dir}")
        return files[-1]

    def heard(self):
        return read_wav(self.recording("dec"))

    def log(self) -> str:
        path = self.workdir / "baresip.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # --- readers --------------------------------------------------------------------------------------

    def _read_ctrl(self) -> None:
        buffer = b""
        assert self._ctrl is not None
        while True:
            try:
                chunk = self._ctrl.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while True:
                match = re.match(rb"(\d+):", buffer)
                if not match:
                    break
                length = int(match.group(1))
                start = match.end()
                if len(buffer) < start + length + 1:
                    break
                payload = buffer[start:start + length]
                buffer = buffer[start + length + 1:]
                try:
                    message = json.loads(payload)
                except ValueError:
                    continue
                if message.get("event"):
                    message["at"] = time.monotonic()
                    with self._lock:
                        self.events.append(message)
                    if self.answer == "busy" and message.get("type") == "CALL_INCOMING":
                        self.command("hangup")  # an incoming call refused: 486 Busy Here

    def _read_trace(self) -> None:
        """baresip -s prints each SIP message it sends or receives; keep the received ones."""
        assert self.process and self.process.stdout
        # Each message is printed as "#", "UDP <from> -> <to>", the message, a blank line.
        receiving, lines = False, []
        for raw in self.process.stdout:
            line = raw.decode(errors="replace").rstrip("\r\n")
            self._log.write(line + "\n")
            self._log.flush()
            line = re.sub(r"\x1b\[[0-9;]*m", "", line)
            header = re.match(r"^(UDP|TCP|TLS) (\S+) (?:->|<-) (\S+)", line)
            if header:
                self._flush(receiving, lines)
                # "UDP remote -> local" is received, "local -> remote" sent: compare with our address.
                receiving = header.group(3).endswith(f":{self.sip_port}") or header.group(3) == self.address
                lines = []
                continue
            lines.append(line)
            if not line.strip():
                self._flush(receiving, lines)
                lines = []
        self._flush(receiving, lines)

    def _flush(self, receiving: bool, lines: list[str]) -> None:
        lines = [line for line in lines if line.strip()]
        if not receiving or not lines:
            return
        first = lines[0].strip()
        if not (first.startswith("SIP/2.0") or re.match(r"^[A-Z]+ \S+ SIP/2\.0", first)):
            return
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        with self._lock:
            self.messages.append(SipMessage(first, headers, time.monotonic()))
