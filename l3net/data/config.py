"""Input-pipeline configuration: how AVC pairs are sampled and augmented.

Kept apart from `ModelConfig` because the same model can be fed differently (paper vs demo
shuffling, eval pairs), but the two must agree on the input contract: `image_size`,
`sample_rate` and `audio_seconds` are taken from the model config by `DataConfig.for_model`.
"""

from __future__ import annotations

import dataclasses
import math

from l3net.models.config import ModelConfig


@dataclasses.dataclass(frozen=True)
class Strength:
    """Augmentation beyond the paper's (all 0 = the paper's augmentation exactly).

    hue_jitter:    max hue rotation, as a fraction of a full turn (0.5 = any hue).
    gain_db:       random gain U(-gain_db, +gain_db) dB instead of the paper's +-10 %.
    spectral_tilt: y[n] = x[n] - a x[n-1] with a ~ U(-t, t): a random first-order treble/bass tilt.
    pitch_shift:   speed perturbation by U(-p, +p) semitones: the window is read 2^(s/12) times as
                   fast (pitch and tempo move together), so a sound's pitch is no fixed cue.
    """

    hue_jitter: float = 0.0
    gain_db: float = 0.0
    spectral_tilt: float = 0.0
    pitch_shift: float = 0.0

    @property
    def max_speed(self) -> float:
        """Largest read-speed factor a pitch shift draws (1.0 when off)."""
        return 2.0 ** (self.pitch_shift / 12.0)


def speed_margin(num_samples: int, max_speed: float) -> int:
    """Extra input samples that reading `num_samples` outputs at up to `max_speed` x needs.

    Output n reads input position n * speed and its right neighbour (linear interpolation).
    """
    return max(0, math.ceil((num_samples - 1) * (max_speed - 1.0))) + 2


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Sampling and augmentation settings of `l3net.data.avc_dataset`.

    image_size:        side of the square crop fed to the model (paper: 224).
    resize_short_side: frames are resized so their short side is this before cropping (paper: 256).
    sample_rate:       Hz; must equal the converted dataset's rate (dataset.json).
    audio_seconds:     length of the audio window (paper: 1 s).
    batch_size:        global batch size (paper: 256 = 16 GPUs x 16).
    pairs_per_video:   AVC pairs drawn from each decoded video record before shuffling, to amortise
                       parsing a record over several examples.
    video_shuffle_buffer:   videos mixed before sampling.
    example_shuffle_buffer: sampled pairs mixed before batching (large: a public Objects-that-Sound
                       reproduction's shortcut came
                       from poor shuffling).
    augment:           paper augmentation (random resized crop, flip, brightness, saturation,
                       +-10 % gain); off for evaluation.
    hue_jitter, gain_db, spectral_tilt, pitch_shift: augmentation beyond the paper's (`augmentation.Strength`;
                       0 = off): against memorising which video a pair comes from on small sets.
    label_disjoint_negatives: training negatives only pair videos sharing no label (labelled
                       data such as AudioSet; `pair_sampling.pair_window`). Evaluation pairs
                       never change.
    num_frames, clip_seconds: sequence models (`ModelConfig`): N frames spread over a clip of
                       clip_seconds (0 = audio_seconds) per pair; images are then
                       [N, image_size, image_size, 3] and audio the whole clip.
    """

    image_size: int = 224
    resize_short_side: int = 256
    sample_rate: int = 48000
    audio_seconds: float = 1.0
    batch_size: int = 256
    pairs_per_video: int = 4
    video_shuffle_buffer: int = 1024
    example_shuffle_buffer: int = 4096
    augment: bool = True
    hue_jitter: float = 0.0
    gain_db: float = 0.0
    spectral_tilt: float = 0.0
    pitch_shift: float = 0.0
    label_disjoint_negatives: bool = False
    num_frames: int = 1
    clip_seconds: float = 0.0

    @property
    def strength(self) -> Strength:
        return Strength(hue_jitter=self.hue_jitter, gain_db=self.gain_db, spectral_tilt=self.spectral_tilt,
                        pitch_shift=self.pitch_shift)

    @property
    def num_audio_samples(self) -> int:
        """Samples of one audio-tower window (retrieval items, probes)."""
        return int(round(self.sample_rate * self.audio_seconds))

    @property
    def avc_seconds(self) -> float:
        """Seconds of audio in one AVC pair: the window, or a sequence model's clip."""
        return self.clip_seconds if self.clip_seconds > 0 else self.audio_seconds

    @property
    def avc_samples(self) -> int:
        return int(round(self.sample_rate * self.avc_seconds))

    def read_samples(self, training: bool) -> int:
        """Samples cut per AVC pair: `avc_samples`, plus the margin a faster read needs when
        training with a pitch shift (the window starts where it would without one)."""
        if not (training and self.augment and self.pitch_shift > 0):
            return self.avc_samples
        return self.avc_samples + speed_margin(self.avc_samples, self.strength.max_speed)

    @property
    def is_sequence(self) -> bool:
        """Pairs for a sequence model: several frames per pair, or a clip of several windows."""
        return self.num_frames > 1 or self.avc_samples > self.num_audio_samples

    @classmethod
    def for_model(cls, model: ModelConfig, **overrides) -> "DataConfig":
        """A data config whose input contract matches `model`."""
        resize = overrides.pop("resize_short_side", None)
        if resize is None:
            resize = int(round(model.image_size * 256 / 224))
        return cls(image_size=model.image_size, resize_short_side=resize,
                   sample_rate=model.sample_rate, audio_seconds=model.audio_seconds,
                   num_frames=model.num_frames, clip_seconds=model.clip_seconds, **overrides)
