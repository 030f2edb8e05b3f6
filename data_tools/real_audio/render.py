"""The external renderers: `fluidsynth` (SoundFont synthesis of a MIDI file) and `espeak-ng` (speech).

Both are Debian packages (`sudo apt-get install fluidsynth fluid-soundfont-gm espeak-ng`, or
`make real-audio-deps`); nothing here is a Python dependency. `missing_tools()` says which of
them (and the General MIDI SoundFont) this machine lacks, so a caller can skip the real-audio
stage instead of failing; the render functions raise MissingToolError (one line: what is
missing and the install command) when called without them.

fluidsynth runs as `fluidsynth -ni -q -F out.raw -T raw -O float -E little -r 44100 <sf2> <mid>`
(checked with FluidSynth 2.3): no shell, no MIDI input, fast (non-realtime) render of the file to
raw little-endian float32 stereo, so no dither is applied and the output is bit-exact for a given
input. Reverb and chorus are left on at fixed settings (the SoundFont's instruments are made to
be heard in a room). espeak-ng writes 16-bit mono WAV at its own rate (22,050 Hz), resampled here
with a fixed polyphase filter.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
import wave
from typing import Dict, List, Optional, Sequence, Set, Tuple

import numpy as np
from scipy import signal

SAMPLE_RATE = 44100
INSTALL_HINT = "sudo apt-get install fluidsynth fluid-soundfont-gm espeak-ng (or: make real-audio-deps)"
SOUNDFONT_DIRS = ("/usr/share/sounds/sf2", "/usr/share/soundfonts", "/usr/local/share/sounds/sf2")
SOUNDFONT_NAMES = ("FluidR3_GM.sf2", "default-GM.sf2")
# Fixed synthesis settings: the defaults of FluidSynth 2.x, spelled out so that another version's
# defaults cannot change the sound.
FLUIDSYNTH_SETTINGS = (
    "synth.gain=0.2", "synth.polyphony=256", "synth.midi-bank-select=gs",
    "synth.reverb.active=1", "synth.reverb.room-size=0.2", "synth.reverb.damp=0.0",
    "synth.reverb.width=0.5", "synth.reverb.level=0.9",
    "synth.chorus.active=1", "synth.chorus.nr=3", "synth.chorus.level=2.0", "synth.chorus.speed=0.3",
    "synth.chorus.depth=8.0", "synth.cpu-cores=1",
)
_TIMEOUT_S = 600


class MissingToolError(OSError):
    """A renderer or the SoundFont is not installed; the message says what and how to install it."""


class RenderError(OSError):
    """A renderer ran but failed; the message holds its command and the end of its stderr."""


def find_soundfont(soundfont: Optional[str] = None) -> Optional[str]:
    """`soundfont` if it is a file, else the first General MIDI SoundFont of SOUNDFONT_DIRS; None if none."""
    if soundfont:
        return os.path.abspath(soundfont) if os.path.isfile(soundfont) else None
    for directory in SOUNDFONT_DIRS:
        for name in SOUNDFONT_NAMES:
            path = os.path.join(directory, name)
            if os.path.isfile(path):
                return os.path.realpath(path)
    return None


def missing_tools(soundfont: Optional[str] = None) -> List[str]:
    """What this machine lacks to render the real-audio set, in words: a subset of
    ["fluidsynth", "a General MIDI SoundFont (...)" (or "SoundFont <path>" for a `soundfont` that
    is not a file), "espeak-ng"]; [] when everything is there. Runs nothing (PATH lookups only)."""
    missing = []
    if shutil.which("fluidsynth") is None:
        missing.append("fluidsynth")
    if find_soundfont(soundfont) is None:
        missing.append(f"SoundFont {soundfont}" if soundfont else
                       f"a General MIDI SoundFont ({SOUNDFONT_NAMES[0]} in {SOUNDFONT_DIRS[0]}/ from the package "
                       "fluid-soundfont-gm, or --soundfont)")
    if shutil.which("espeak-ng") is None:
        missing.append("espeak-ng")
    return missing


def require_tools(soundfont: Optional[str] = None) -> str:
    """The SoundFont path; raises MissingToolError naming everything missing and the install command."""
    missing = missing_tools(soundfont)
    if missing:
        if soundfont and missing == [f"SoundFont {soundfont}"]:
            raise MissingToolError(f"--soundfont {soundfont}: no such file (give a General MIDI .sf2, "
                                   f"or install fluid-soundfont-gm and omit the flag)")
        raise MissingToolError(f"real-audio set needs {', '.join(missing)}: install with {INSTALL_HINT}")
    return find_soundfont(soundfont)


def _run(command: Sequence[str]) -> subprocess.CompletedProcess:
    try:
        result = subprocess.run(list(command), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, timeout=_TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise MissingToolError(f"{command[0]}: not installed; install with {INSTALL_HINT}") from None
    except subprocess.TimeoutExpired:
        raise RenderError(f"{' '.join(command)}: no result after {_TIMEOUT_S} s") from None
    if result.returncode != 0:
        tail = result.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise RenderError(f"{' '.join(command)}: exit status {result.returncode}: {' | '.join(tail)}")
    return result


def tool_versions() -> Dict[str, str]:
    """First line of `fluidsynth --version` and `espeak-ng --version` (recorded with the set)."""
    versions = {}
    for tool in ("fluidsynth", "espeak-ng"):
        out = _run([tool, "--version"]).stdout.decode("utf-8", "replace").strip().splitlines()
        versions[tool] = out[0].strip() if out else "unknown"
    return versions


def render_midi(midi: bytes, soundfont: str, seconds: float) -> np.ndarray:
    """Renders an SMF with fluidsynth: mono float32 [round(seconds * 44100)] (the channel mean),
    zero-padded or cut to that length (fluidsynth adds a little silence after the last event)."""
    with tempfile.TemporaryDirectory(prefix="l3net_fluidsynth_") as tmp:
        mid, raw = os.path.join(tmp, "in.mid"), os.path.join(tmp, "out.raw")
        with open(mid, "wb") as f:
            f.write(midi)
        command = ["fluidsynth", "-n", "-i", "-q", "-F", raw, "-T", "raw", "-O", "float", "-E", "little",
                   "-r", str(SAMPLE_RATE)]
        for setting in FLUIDSYNTH_SETTINGS:
            command += ["-o", setting]
        _run(command + [soundfont, mid])
        if not os.path.isfile(raw):
            raise RenderError(f"{' '.join(command)}: wrote no audio")
        stereo = np.fromfile(raw, dtype="<f4")
    stereo = stereo[:stereo.size - stereo.size % 2].reshape(-1, 2)
    length = int(round(seconds * SAMPLE_RATE))
    out = np.zeros(length, np.float32)
    take = min(length, stereo.shape[0])
    out[:take] = stereo[:take].mean(axis=1)
    return out


def espeak_voices() -> Tuple[Set[str], Set[str]]:
    """(languages, variants) espeak-ng knows, from `espeak-ng --voices` and `--voices=variant`
    (espeak-ng falls back to its default voice, silently, for a name it does not know)."""
    languages = {line.split()[1] for line in _listing("--voices")}
    variants = {token[3:] for line in _listing("--voices=variant") for token in line.split() if token.startswith("!v/")}
    return languages, variants


def _listing(option: str) -> List[str]:
    lines = _run(["espeak-ng", option]).stdout.decode("utf-8", "replace").splitlines()
    return [line for line in lines[1:] if len(line.split()) >= 2]


def speak(text: str, voice: str, words_per_minute: int, pitch: int) -> np.ndarray:
    """espeak-ng speech of `text` with `voice` ("en-gb+f3": language + variant), mono float32 at 44.1 kHz."""
    with tempfile.TemporaryDirectory(prefix="l3net_espeak_") as tmp:
        path = os.path.join(tmp, "speech.wav")
        command = ["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-p", str(pitch), "-w", path, text]
        _run(command)
        try:
            with wave.open(path, "rb") as w:
                rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
                frames = w.readframes(w.getnframes())
        except (OSError, EOFError, wave.Error) as e:
            raise RenderError(f"{' '.join(command)}: unreadable output ({e})") from None
    if width != 2 or rate < 1:
        raise RenderError(f"{' '.join(command)}: expected 16-bit PCM, got {8 * width}-bit at {rate} Hz")
    audio = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
    audio = audio.reshape(-1, channels).mean(axis=1)
    if rate == SAMPLE_RATE:
        return audio
    g = math.gcd(rate, SAMPLE_RATE)
    return signal.resample_poly(audio, SAMPLE_RATE // g, rate // g).astype(np.float32)
