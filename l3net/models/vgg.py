"""The one VGG block builder shared by the vision and the audio tower (L3-Net, Fig. 2).

Block k of a tower named `prefix`:
  {prefix}_conv{k}_1 / {prefix}_conv{k}_2: conv 3x3 'same' (no bias: BN follows) -> BN -> ReLU
      (BN = Keras' batch norm with TensorFlow's fused kernel in training: batch_norm.py);
      the layer named exactly '{prefix}_conv{k}_j' is the ReLU, i.e. the block's activation
      (the conv and BN layers are '{prefix}_conv{k}_j_conv' and '{prefix}_conv{k}_j_bn').
  {prefix}_pool{k}: 2x2 max-pool, stride 2, no padding (odd sizes round down: 257 -> 128),
      or, for the tower's last block, a max-pool over all spatial positions -> [B, width].
"""

from __future__ import annotations

from typing import Sequence

import keras

from l3net.models.batch_norm import FusedBatchNormalization

CONV_KERNEL = 3
POOL_SIZE = 2


def conv_layer_name(prefix: str, block: int, conv: int) -> str:
    """Name of a conv unit's activation, e.g. ('audio', 4, 2) -> 'audio_conv4_2'."""
    return f"{prefix}_conv{block}_{conv}"


def vgg_block(x: keras.KerasTensor, width: int, prefix: str, block: int,
              global_pool: bool, bn_momentum: float = 0.99) -> keras.KerasTensor:
    """Two conv3x3-BN-ReLU units of `width` filters, then a pool.

    x: [B, H, W, C] -> [B, H // 2, W // 2, width], or [B, width] when `global_pool`.
    """
    for conv in (1, 2):
        name = conv_layer_name(prefix, block, conv)
        x = keras.layers.Conv2D(width, CONV_KERNEL, padding="same", use_bias=False,
                                kernel_initializer="he_normal", name=f"{name}_conv")(x)
        x = FusedBatchNormalization(momentum=bn_momentum, name=f"{name}_bn")(x)
        x = keras.layers.ReLU(name=name)(x)
    if global_pool:
        return keras.layers.GlobalMaxPooling2D(name=f"{prefix}_pool{block}")(x)
    return keras.layers.MaxPooling2D(POOL_SIZE, strides=POOL_SIZE, padding="valid",
                                     name=f"{prefix}_pool{block}")(x)


def vgg_trunk(x: keras.KerasTensor, widths: Sequence[int], prefix: str,
              bn_momentum: float = 0.99) -> keras.KerasTensor:
    """len(widths) VGG blocks, the last one pooled over all positions: [B, H, W, C] -> [B, widths[-1]]."""
    for block, width in enumerate(widths, start=1):
        x = vgg_block(x, int(width), prefix, block, global_pool=block == len(widths), bn_momentum=bn_momentum)
    return x
