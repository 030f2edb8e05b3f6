"""uint8 images of any size -> the model's image input, exactly as evaluation prepares frames.

Training and `l3net_eval` (l3net.data.augmentation.decode_frame without augmentation) resize a
frame so its short side is `resize_short_side` (`ModelDir.resize_short_side`: recorded in the
model dir's run_config.json, default round(image_size * 256 / 224)), take the centre
`image_size` crop with bilinear sampling at half-pixel centres, and scale [0, 255] to [0, 1].
This module reuses that code on decoded pixels, so an exported model or the Python API sees
what the trained model saw at evaluation.
"""

from __future__ import annotations

import tensorflow as tf

from l3net.data import augmentation


def prepare_images(images: tf.Tensor, image_size: int, resize_short_side: int) -> tf.Tensor:
    """uint8 (or float in [0, 255]) [B, H, W, 3] -> float32 [B, image_size, image_size, 3] in [0, 1]."""
    images = tf.cast(images, tf.float32)
    hw = tf.shape(images)[1:3]
    scale = resize_short_side / tf.cast(tf.reduce_min(hw), tf.float32)
    resized = tf.maximum(tf.cast(tf.round(tf.cast(hw, tf.float32) * scale), tf.int32), image_size)
    centre = tf.constant(0.5)
    y1, y2 = augmentation.sample_span(hw[0], resized[0], augmentation.crop_offset(resized[0], image_size, centre),
                                      image_size)
    x1, x2 = augmentation.sample_span(hw[1], resized[1], augmentation.crop_offset(resized[1], image_size, centre),
                                      image_size)
    count = tf.shape(images)[0]
    boxes = tf.tile(tf.stack([y1, x1, y2, x2])[None], [count, 1])
    out = tf.image.crop_and_resize(images, boxes, tf.range(count), [image_size, image_size], method="bilinear")
    return augmentation.finish_image(out)
