"""A real-audio probe set in the ESC-50 layout, rendered from recordings Debian packages ship.

`generate_real_audio_set` renders GM SoundFont instruments (`fluidsynth` + `fluid-soundfont-gm`)
and `espeak-ng` speech into 12 classes x 5 folds (see `instrument_set`); `missing_tools()` lists
what this machine lacks for it ([] when it can run), so a caller can skip the stage and say how
to enable it (`sudo apt-get install fluidsynth fluid-soundfont-gm espeak-ng`, `make real-audio-deps`).

Modules: `midi_file` (a Standard MIDI File writer), `phrases` (the notes, grooves and sentences a
clip plays), `render` (running fluidsynth and espeak-ng), `instrument_set` (the class plan, the
fold rule and the ESC-50 layout writer).
"""

from data_tools.real_audio.instrument_set import (CATEGORIES, DEFAULT_CLIPS_PER_CLASS, RealAudioSummary,
                                                  generate_real_audio_set)
from data_tools.real_audio.render import INSTALL_HINT, MissingToolError, RenderError, missing_tools

__all__ = ["generate_real_audio_set", "missing_tools", "MissingToolError", "RenderError", "RealAudioSummary",
           "CATEGORIES", "DEFAULT_CLIPS_PER_CLASS", "INSTALL_HINT"]
