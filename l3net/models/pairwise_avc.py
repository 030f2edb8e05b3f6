"""All-pairs AVC: every frame of a batch scored against every audio window of the batch.

Why: the towers are >95 % of an AVC step's cost and the fusion heads are tiny, so a batch of B
(frame, audio) pairs can also score the B*(B-1) cross pairs (frame i, audio j) for almost
nothing. Cross pairs whose frame and audio come from different videos are valid negatives in
exactly the paper's sense (and their audio windows sit on the same frame grid as the
positives), so a step sees many more negatives, which lets small CPU runs learn in fewer steps.
The network and its per-pair decision are unchanged: the cross pairs go through the model's own
fusion layers (L3-Net: fusion_fc1 -> avc_output; AVE-Net: Euclidean distance -> avc_output;
AVOL-Net: calibrated per-cell dot products -> max over cells -> avc_output). With
`--head_batchnorm`, L3-Net's fusion BatchNorm normalises over all B*B pairs in training, so its
moving statistics are those of the all-pairs mix (mostly negatives).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from l3net.models.avc_models import OUTPUT_LAYER, dense_relu_layers, embedding_models
from l3net.models.avolnet import CELL_LOGITS
from l3net.models.distance import SQUARED_DISTANCE_FLOOR


class PairwiseAvc:
    """Callable: (image [B, S, S, 3], audio [B, N]) -> probabilities [B, B, 2] of (frame i, audio j).

    Row i, column i is the model's ordinary output for pair i. Works for L3-Net, AVE-Net and
    AVOL-Net (ValueError otherwise); shares all weights with `model`.
    """

    def __init__(self, model: keras.Model) -> None:
        names = {layer.name for layer in model.layers}
        self.output_layer = model.get_layer(OUTPUT_LAYER)
        if CELL_LOGITS in names:
            self.kind = "avolnet"
            self.cells = model.get_layer(CELL_LOGITS)
            image, audio = model.get_layer("image").output, model.get_layer("audio").output
            self.image_model = keras.Model(image, model.get_layer("image_conv2").output)  # [B, h, w, E]
            self.audio_model = keras.Model(audio, model.get_layer("audio_embedding").output)  # [B, E]
            return
        if "image_embedding" in names:
            self.kind = "avenet"
        elif "fusion_fc1" in names:
            self.kind = "l3net"
            self.fusion_fc1 = dense_relu_layers(model, "fusion_fc1")
        else:
            raise ValueError(f"all-pairs AVC needs L3-Net, AVE-Net or AVOL-Net, not {model.name}")
        self.image_model, self.audio_model = embedding_models(model)

    def __call__(self, image: Any, audio: Any, *, training: bool) -> Any:
        v = self.image_model(image, training=training)  # [B, D] (AVOL-Net: [B, h, w, E])
        a = self.audio_model(audio, training=training)  # [B, D]
        b = ops.shape(v)[0]
        if self.kind == "avolnet":
            logits = self.cells.calibrate(ops.einsum("ihwe,je->ijhw", v, a))  # frame i's cells, audio j
            h, w = ops.shape(logits)[2], ops.shape(logits)[3]
            return ops.reshape(self.output_layer(ops.reshape(logits, (b * b, h, w))), (b, b, 2))
        if self.kind == "l3net":
            vv = ops.repeat(v[:, None, :], b, axis=1)  # [B, B, D]: frame i in row i
            aa = ops.repeat(a[None, :, :], b, axis=0)  # [B, B, D]: audio j in column j
            fused = ops.reshape(ops.concatenate([vv, aa], axis=-1), (b * b, -1))
            for layer in self.fusion_fc1:
                fused = layer(fused, training=training)
            fused = ops.reshape(fused, (b, b, -1))
        else:
            squared = ops.sum(ops.square(v[:, None, :] - a[None, :, :]), axis=-1, keepdims=True)
            fused = ops.sqrt(ops.maximum(squared, SQUARED_DISTANCE_FLOOR))  # [B, B, 1]
        return self.output_layer(fused)
