"""EnvelopeConfig: the envelope network's architecture and where its vision tower comes from.

Saved as `envelope_config.json` in an envelope model directory (an AVC directory holds
`model_config.json` instead), so evaluation rebuilds the exact network before restoring its
checkpoint. The vision tower's own architecture is the `vision` ModelConfig of the L3-Net or
AVE-Net it was initialised from (`init_from`), or of the flags when init_from is 'random'.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict, Tuple

from l3net.models.config import ModelConfig

CONFIG_NAME = "envelope_config.json"
RANDOM_INIT = "random"


@dataclasses.dataclass(frozen=True)
class EnvelopeConfig:
    """Envelope network: vision tower features per frame -> LSTM x2 -> fc x3 -> sigmoid per frame.

    vision:          ModelConfig of the AVC model whose vision tower is used (image size, widths).
    init_from:       model dir the tower's weights were loaded from, or 'random'.
    finetune_vision: train the tower too (False: frozen, BatchNorm in inference mode).
    feature_grid:    the tower's last conv activation [H', W', C] is max-pooled to a
                     grid x grid x C map and flattened (the sound-from-video experiment: 7 x 7 x 512); global pooling
                     would drop where the object is, which is what an impact is about.
    lstm_units:      width of both LSTM layers (sound-from-video experiment: 512).
    fc_widths:       widths of the first two fc layers; the third is fc 1 + sigmoid.
    sequence_frames: frames per training clip (evaluation uses whole clips).
    sigma_at_44k:    target smoothing in samples at 44.1 kHz (sound-from-video experiment: 200).
    bidirectional:   both LSTM layers also run backwards over the clip (offline prediction may
                     look at the next frames: an impact sounds when the object stops). The original
                     experiment: False.
    frame_deltas:    the head also gets each frame's feature change since the previous frame
                     (motion, which a single frame's appearance hardly shows). Sound-from-video experiment: False.
    """

    vision: ModelConfig = ModelConfig()
    init_from: str = RANDOM_INIT
    finetune_vision: bool = False
    feature_grid: int = 7
    lstm_units: int = 512
    fc_widths: Tuple[int, ...] = (256, 64)
    sequence_frames: int = 48
    sigma_at_44k: float = 200.0
    bidirectional: bool = False
    frame_deltas: bool = False

    def validate(self) -> "EnvelopeConfig":
        """Raises ValueError starting with the offending field name; returns self."""
        self.vision.validate()
        conv_side = self.vision.image_size // 2 ** (len(self.vision.vision_widths) - 1)
        if not 1 <= self.feature_grid <= conv_side:
            raise ValueError(f"feature_grid={self.feature_grid}: must be in [1, {conv_side}] (the vision tower's "
                             f"last conv map is {conv_side}x{conv_side})")
        if self.lstm_units < 1 or len(self.fc_widths) != 2 or min(self.fc_widths) < 1:
            raise ValueError(f"lstm_units={self.lstm_units}, fc_widths={self.fc_widths}: need positive widths, "
                             "two fc widths")
        if self.sequence_frames < 2:
            raise ValueError(f"sequence_frames={self.sequence_frames}: must be >= 2")
        if not self.sigma_at_44k > 0:
            raise ValueError(f"sigma_at_44k={self.sigma_at_44k}: must be > 0")
        return self

    def to_dict(self) -> Dict[str, Any]:
        d = dataclasses.asdict(self)
        d["vision"] = self.vision.to_dict()
        d["fc_widths"] = list(self.fc_widths)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "EnvelopeConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        kw["vision"] = ModelConfig.from_dict(kw.get("vision", {}))
        if "fc_widths" in kw:
            kw["fc_widths"] = tuple(int(w) for w in kw["fc_widths"])
        return cls(**kw).validate()

    @classmethod
    def from_json(cls, text: str) -> "EnvelopeConfig":
        return cls.from_dict(json.loads(text))
