"""Model configuration: everything that decides a model's architecture and its input contract.

The defaults are the papers' (L3-Net, ICCV 2017; AVE-Net, ECCV 2018): 224x224x3 images, 1 s of
48 kHz audio through a linear log-spectrogram (257 bins x 199 frames), VGG towers of widths
64-128-256-512. Small CPU configs only change numbers here, never code paths.

The config is saved as JSON in every model directory, so a checkpoint can always be rebuilt into
the exact model that wrote it (evaluation, export, probes read it back with `from_json`).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict, Tuple

from l3net.models.frontend_geometry import frontend_geometry

MODEL_NAMES = ("l3net", "avenet", "avolnet")
# How a sequence model (num_frames > 1 or a clip longer than one window) summarises its steps:
# a recurrent layer, or temporal pooling (the control without order or motion).
SEQUENCE_LAYERS = ("gru", "lstm", "max", "mean")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Architecture and input contract of an AVC model.

    Inputs the built Keras model takes (see `l3net.models.build_model`):
      image: float32 [batch, image_size, image_size, 3], RGB in [0, 1].
      audio: float32 [batch, round(sample_rate * audio_seconds)], mono waveform in [-1, 1].
    Output: float32 [batch, 2] softmax; column 1 = "frame and audio correspond".

    Sequence models (the L3 notes' open question, `l3net.models.sequence_avc`; L3-Net only):
    `num_frames` > 1 and/or `clip_seconds` > `audio_seconds`. Then the AVC model takes
      image: float32 [batch, num_frames, image_size, image_size, 3], frames spread evenly over the clip.
      audio: float32 [batch, clip_samples], cut into clip_seconds / audio_seconds windows.
    `audio_seconds` stays the audio tower's window, so the towers (embedding, probes, retrieval,
    export) are exactly those of a single-frame model of the same size.
    """

    model: str = "l3net"
    image_size: int = 224
    vision_widths: Tuple[int, ...] = (64, 128, 256, 512)
    audio_widths: Tuple[int, ...] = (64, 128, 256, 512)
    # Audio front end: 'linear' (paper), 'mel<N>' e.g. 'mel128'/'mel256' (OpenL3), 'learned'.
    frontend: str = "linear"
    sample_rate: int = 48000
    audio_seconds: float = 1.0
    # Width of the fusion fc layer (L3-Net) and of the embedding layers (AVE-Net; AVOL-Net's per-cell
    # and audio embeddings).
    fusion_width: int = 128
    embedding_width: int = 128
    # Momentum of BatchNorm's moving statistics (Keras default 0.99). Short runs (CPU demo,
    # tests) use ~0.9 so inference-mode statistics have caught up by the end of training.
    batchnorm_momentum: float = 0.99
    # BatchNorm between the first head fc and its ReLU (L3-Net's fusion_fc1, AVE-Net's
    # {image,audio}_fc1); the paper has none. The head's inputs are max-pooled ReLU maps (all
    # >= 0, mean ~1), so an Adam step at a demo-size learning rate moves a unit's pre-activation
    # the same way on every example and many units die (half of L3-Net's fusion units by
    # step 1,000 in a demo_cpu run on 960 videos); BN keeps each unit centred on the batch, as
    # the towers' conv units are.
    head_batchnorm: bool = False
    # Sequence models: frames per AVC example, audio clip length (0 = audio_seconds, one window)
    # and the layer over the steps of each modality (SEQUENCE_LAYERS).
    num_frames: int = 1
    clip_seconds: float = 0.0
    sequence_layer: str = "gru"

    @property
    def num_audio_samples(self) -> int:
        """Samples of one audio-tower window (audio_seconds)."""
        return int(round(self.sample_rate * self.audio_seconds))

    @property
    def clip_samples(self) -> int:
        """Samples of the audio an AVC example holds: one window, or a sequence model's clip."""
        if self.clip_seconds <= 0:
            return self.num_audio_samples
        return int(round(self.sample_rate * self.clip_seconds))

    @property
    def clip_windows(self) -> int:
        """Audio-tower windows in a clip (1 unless a sequence model's clip is longer)."""
        return self.clip_samples // self.num_audio_samples

    @property
    def is_sequence(self) -> bool:
        """True when the AVC model sees several frames or several audio windows per example."""
        return self.num_frames > 1 or self.clip_windows > 1

    def validate(self) -> "ModelConfig":
        """Raises ValueError naming the offending field; returns self for chaining."""
        if self.model not in MODEL_NAMES:
            raise ValueError(f"model={self.model!r}: must be one of {', '.join(MODEL_NAMES)}")
        if self.image_size < 16 or self.image_size % (2 ** len(self.vision_widths)) != 0:
            raise ValueError(
                f"image_size={self.image_size}: must be >= 16 and a multiple of 2**len(vision_widths)")
        if not self.vision_widths or not self.audio_widths or min(self.vision_widths + self.audio_widths) < 1:
            raise ValueError("vision_widths/audio_widths: need at least one positive width per tower")
        if self.sample_rate < 4000:
            raise ValueError(f"sample_rate={self.sample_rate}: must be >= 4000 Hz")
        if not 0.1 <= self.audio_seconds <= 10:
            raise ValueError(f"audio_seconds={self.audio_seconds}: must be in [0.1, 10]")
        if self.fusion_width < 1 or self.embedding_width < 1:
            raise ValueError(f"fusion_width={self.fusion_width}, embedding_width={self.embedding_width}: "
                             "must be >= 1")
        # The spectrogram must survive the audio tower's len(widths) - 1 halvings.
        geometry = frontend_geometry(self.frontend, self.sample_rate, self.num_audio_samples)
        halvings = 2 ** (len(self.audio_widths) - 1)
        if min(geometry.num_bins, geometry.num_frames) < halvings:
            raise ValueError(
                f"audio_widths={','.join(map(str, self.audio_widths))}: {len(self.audio_widths)} blocks need a "
                f"spectrogram of at least {halvings}x{halvings}, frontend={self.frontend} gives "
                f"{geometry.num_bins}x{geometry.num_frames}; use fewer blocks or more bins")
        if not 0.0 <= self.batchnorm_momentum < 1.0:
            raise ValueError(f"batchnorm_momentum={self.batchnorm_momentum}: must be in [0, 1)")
        if self.head_batchnorm and self.model == "avolnet":
            raise ValueError("head_batchnorm: only for l3net and avenet (AVOL-Net's head is per-cell 1x1 convs)")
        self._validate_sequence()
        return self

    def _validate_sequence(self) -> None:
        if not 1 <= self.num_frames <= 64:
            raise ValueError(f"num_frames={self.num_frames}: must be in [1, 64]")
        if self.clip_seconds < 0 or self.clip_seconds > 60:
            raise ValueError(f"clip_seconds={self.clip_seconds}: must be 0 (= audio_seconds) or in (0, 60]")
        if self.clip_samples % self.num_audio_samples != 0:
            raise ValueError(f"clip_seconds={self.clip_seconds}: must be a whole number of audio_seconds "
                             f"({self.audio_seconds} s windows go through the audio tower)")
        if self.sequence_layer not in SEQUENCE_LAYERS:
            raise ValueError(f"sequence_layer={self.sequence_layer!r}: must be one of {', '.join(SEQUENCE_LAYERS)}")
        if self.is_sequence and self.model != "l3net":
            raise ValueError(f"num_frames={self.num_frames}, clip_seconds={self.clip_seconds}: sequence models "
                             f"are built for model=l3net only, not {self.model}")

    def to_dict(self) -> Dict[str, Any]:
        d = dataclasses.asdict(self)
        d["vision_widths"] = list(self.vision_widths)
        d["audio_widths"] = list(self.audio_widths)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        for k in ("vision_widths", "audio_widths"):
            if k in kw:
                kw[k] = tuple(int(w) for w in kw[k])
        return cls(**kw).validate()

    @classmethod
    def from_json(cls, text: str) -> "ModelConfig":
        return cls.from_dict(json.loads(text))
