"""Running AVOL-Net's localizer over frames: cell logit maps and AVC probabilities, batched.

Frames of different sizes go to the localizer in separate batches (a batch needs one size);
consecutive frames of one dataset nearly always share a size, so batches stay full.
"""

from __future__ import annotations

from typing import Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from l3net.localization.frame_inputs import FrameItem, input_size, model_image


def _flush(localizer, images: List[np.ndarray], audio: List[np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    logits, probs = localizer({"image": np.stack(images), "audio": np.stack(audio)}, training=False)
    return np.asarray(logits, dtype=np.float64), np.asarray(probs, dtype=np.float64)[:, 1]


def run_localizer(localizer, items: Iterable[FrameItem], *, short_side: int, cell: int, batch_size: int,
                  audio_override: Optional[Sequence[np.ndarray]] = None
                  ) -> Iterator[Tuple[FrameItem, np.ndarray, float]]:
    """Yields (item, cell logits [h, w], AVC probability p) for every item, in order.

    audio_override: optional audio per item (same order) used instead of the item's own audio,
    e.g. another video's audio for a mismatched check.
    """
    pending: List[FrameItem] = []
    images: List[np.ndarray] = []
    audio: List[np.ndarray] = []
    size = None

    def drain() -> Iterator[Tuple[FrameItem, np.ndarray, float]]:
        logits, probs = _flush(localizer, images, audio)
        for k, item in enumerate(pending):
            yield item, logits[k], float(probs[k])
        pending.clear()
        images.clear()
        audio.clear()

    for n, item in enumerate(items):
        item_size = input_size(item.frame.shape[:2], short_side, cell)
        if pending and (item_size != size or len(pending) == batch_size):
            yield from drain()
        size = item_size
        pending.append(item)
        images.append(model_image(item.frame, item_size))
        audio.append(item.audio if audio_override is None else audio_override[n])
    if pending:
        yield from drain()
