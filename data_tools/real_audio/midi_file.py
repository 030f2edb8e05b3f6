"""A minimal Standard MIDI File (SMF) writer, written from the SMF 1.0 specification.

Only what the real-audio renderer needs: one track (format 0), a fixed tempo, note on/off,
program change, control change and meta events. The byte layout (SMF 1.0, MIDI Manufacturers
Association, 1996):

  header chunk  "MThd" <length=6: 4 bytes big-endian> <format: 2 bytes> <ntrks: 2 bytes>
                <division: 2 bytes; bit 15 = 0: ticks per quarter note>
  track chunk   "MTrk" <length: 4 bytes big-endian> then events, each
                <delta-time: variable-length quantity> <event bytes>
  variable-length quantity: 7 bits per byte, most significant group first, bit 7 set on every
                byte but the last (0 -> 00, 0x80 -> 81 00, 0x0FFFFFFF -> FF FF FF 7F).
  channel events: 0x80|ch key vel (note off), 0x90|ch key vel (note on), 0xB0|ch cc value
                (control change), 0xC0|ch program (program change); channels 0-15 (GM drums: 9).
  meta events:  FF 51 03 tttttt (set tempo, microseconds per quarter note), FF 2F 00 (end of
                track, required as the track's last event).

Running status is never used (every event carries its status byte), so any reader parses it.
Events at the same tick keep a fixed order: control and program changes first, then note-offs,
then note-ons (a repeated key is released before it is struck again), each group in insertion
order; so the same events always give the same bytes.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import List, Tuple

TICKS_PER_QUARTER = 480
TEMPO_US_PER_QUARTER = 480_000  # 125 quarter notes per minute: 1000 ticks per second (1 tick = 1 ms)
TICKS_PER_SECOND = TICKS_PER_QUARTER * 1_000_000 // TEMPO_US_PER_QUARTER
DRUM_CHANNEL = 9  # General MIDI percussion channel ("channel 10" counting from 1)

# Control change numbers used here (MIDI 1.0 controller list).
CC_BANK_SELECT = 0
CC_VOLUME = 7
CC_PAN = 10
CC_EXPRESSION = 11
CC_ALL_SOUND_OFF = 120
CC_RESET_ALL_CONTROLLERS = 121
CC_ALL_NOTES_OFF = 123

_ORDER_CONTROL, _ORDER_NOTE_OFF, _ORDER_NOTE_ON, _ORDER_END = 0, 1, 2, 3


def variable_length(value: int) -> bytes:
    """The SMF variable-length quantity of 0 <= value <= 0x0FFFFFFF."""
    if not 0 <= value <= 0x0FFFFFFF:
        raise ValueError(f"variable-length quantity out of range: {value}")
    groups = [value & 0x7F]
    value >>= 7
    while value:
        groups.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(groups))


def _check(name: str, value: int, high: int) -> int:
    if not 0 <= value <= high:
        raise ValueError(f"MIDI {name} must be in 0..{high}, got {value}")
    return value


@dataclasses.dataclass
class MidiTrack:
    """One track of timed events (ticks at TICKS_PER_QUARTER and the fixed tempo);
    `to_bytes()` gives the complete format-0 file."""

    _events: List[Tuple[int, int, int, bytes]] = dataclasses.field(default_factory=list)

    def _add(self, tick: int, order: int, data: bytes) -> None:
        if tick < 0:
            raise ValueError(f"event at negative tick {tick}")
        self._events.append((tick, order, len(self._events), data))

    def note(self, tick: int, duration: int, channel: int, key: int, velocity: int) -> None:
        """A note-on at `tick` and its note-off `duration` ticks later (duration >= 1)."""
        if duration < 1:
            raise ValueError(f"note duration must be >= 1 tick, got {duration}")
        _check("channel", channel, 15)
        _check("key", key, 127)
        if not 1 <= velocity <= 127:
            raise ValueError(f"note velocity must be in 1..127 (0 is a note-off), got {velocity}")
        self._add(tick, _ORDER_NOTE_ON, bytes((0x90 | channel, key, velocity)))
        self._add(tick + duration, _ORDER_NOTE_OFF, bytes((0x80 | channel, key, 64)))

    def control(self, tick: int, channel: int, controller: int, value: int) -> None:
        _check("channel", channel, 15)
        _check("controller", controller, 127)
        _check("value", value, 127)
        self._add(tick, _ORDER_CONTROL, bytes((0xB0 | channel, controller, value)))

    def program(self, tick: int, channel: int, program: int) -> None:
        _check("channel", channel, 15)
        _check("program", program, 127)
        self._add(tick, _ORDER_CONTROL, bytes((0xC0 | channel, program)))

    def end(self, tick: int) -> None:
        """Where the track ends (default: at its last event); the renderer stops there."""
        self._add(tick, _ORDER_END, b"")

    def to_bytes(self) -> bytes:
        """The SMF: header chunk, then one track chunk (tempo, the events, end of track)."""
        body = bytearray(variable_length(0) + b"\xff\x51\x03" + TEMPO_US_PER_QUARTER.to_bytes(3, "big"))
        now = 0
        for tick, order, _, data in sorted(self._events):
            if order == _ORDER_END:
                continue
            body += variable_length(tick - now) + data
            now = tick
        end = max([now] + [tick for tick, order, _, _ in self._events if order == _ORDER_END])
        body += variable_length(end - now) + b"\xff\x2f\x00"
        header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS_PER_QUARTER)
        return header + b"MTrk" + struct.pack(">I", len(body)) + bytes(body)

    def write(self, path: str) -> None:
        with open(path, "wb") as f:
            f.write(self.to_bytes())


def seconds_to_ticks(seconds: float) -> int:
    """Ticks at the fixed tempo (TICKS_PER_SECOND), rounded to the nearest tick."""
    return int(round(seconds * TICKS_PER_SECOND))
