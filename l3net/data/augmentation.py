"""Per-example decoding and augmentation of AVC pairs: JPEG frame -> image, int16 bytes -> audio.

Why these live apart from the sampler: they run *after* the example shuffle, on compact inputs
(one JPEG string, one int16 window), so the shuffle buffer holds ~120 KB per pair instead of a
decoded 224x224 float image. Everything here is graph code (no Python per example); the random
parameters are drawn before the shuffle by stateless ops (`draw_params`), so a pipeline is
reproducible under a seed.

Augmentation is the L3-Net paper's: resize so the short side is `resize_short_side`, random crop
`image_size`, random horizontal flip, brightness and saturation jitter; audio gain +-10 %, one
gain for the whole clip. The paper gives no jitter magnitudes; we use the Inception/slim ones
(brightness +-32/255, saturation x[0.5, 1.5]).

Beyond the paper (`Strength`, all off by default): a random hue rotation, a wider random gain
(+-`gain_db`), a random first-order spectral tilt of the audio and a random speed perturbation
of it (`pitch_shift`, in semitones: pitch and tempo move together, as in speech recognition's
speed perturbation). They exist because on a few hundred videos the network otherwise memorises
which *video* a frame and a sound come from (object and background colour, loudness, pitch,
timbre are fixed within a video and random across videos), instead of which *kind* of thing
makes which sound: measured on 240 synthetic videos, train-split AVC 0.98 (positives 1.00)
against val 0.67 (positives 0.41) at the end of the demo recipe. Changing those per-video cues
from pair to pair makes them useless for memorising.

Cost tricks (the pipeline must stay well above the model's speed on few CPU cores):
  * when the stored frame already has the target short side, `decode_and_crop_jpeg` decodes
    only the crop window (no resize at all);
  * otherwise JPEG DCT scaling (`ratio`) does most of a large downscale for free, and
    `crop_and_resize` resamples only the `image_size`^2 output pixels instead of the whole frame;
  * brightness + saturation + [0, 255] -> [0, 1] scaling are one affine colour transform, applied
    as a single [pixels, 3] x [3, 3] matmul (cheaper than an HSV round trip).
"""

from __future__ import annotations

import math
from typing import Dict, Optional, Tuple

import tensorflow as tf

from l3net.data.config import Strength

BRIGHTNESS_DELTA = 32.0 / 255.0
SATURATION_RANGE = (0.5, 1.5)
GAIN_RANGE = (0.9, 1.1)
# ITU-R BT.601 luma weights: the grey image that saturation blends towards.
_LUMA = (0.299, 0.587, 0.114)
# RGB -> YIQ (rows); a hue rotation turns the (I, Q) chroma plane and keeps luma Y.
_YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))


PAPER = Strength()


def jpeg_decode_ratio(stored_short_side: int, resize_short_side: int) -> int:
    """Largest JPEG DCT downscale (1, 2, 4 or 8) that keeps the short side >= the target.

    E.g. frames stored at short side 256 feeding a 73-pixel demo model decode at ratio 2 (128 px),
    a quarter of the pixels, before the final resample.
    """
    ratio = 1
    while ratio < 8 and stored_short_side // (ratio * 2) >= resize_short_side:
        ratio *= 2
    return ratio


def crop_offset(extent: tf.Tensor, size: int, fraction: tf.Tensor) -> tf.Tensor:
    """Top/left offset of a `size` window inside `extent`; fraction 0.5 = centre, U[0,1) = random."""
    room = tf.maximum(extent - size, 0)
    offset = tf.cast(tf.floor(fraction * tf.cast(room + 1, tf.float32)), tf.int32)
    return tf.minimum(offset, room)


def sample_span(source: tf.Tensor, resized: tf.Tensor, offset: tf.Tensor, size: int) -> Tuple[tf.Tensor, tf.Tensor]:
    """First and last sample positions of a crop, normalised for `tf.image.crop_and_resize`.

    Output pixel i of a crop at `offset` in a frame resized from `source` to `resized` pixels is
    resized pixel offset + i, whose centre lies at (offset + i + 0.5) * source / resized - 0.5 in
    the source (the half-pixel-centre convention of `tf.image.resize`). crop_and_resize samples
    linearly between the box edges, measured in units of (source - 1). The edges are clamped
    into the frame (only matters when upscaling, by under half a source pixel).
    """
    source_f = tf.cast(source, tf.float32)
    step = source_f / tf.cast(resized, tf.float32)
    offset_f = tf.cast(offset, tf.float32)
    first = tf.maximum((offset_f + 0.5) * step - 0.5, 0.0)
    last = tf.minimum((offset_f + size - 0.5) * step - 0.5, source_f - 1.0)
    denom = tf.maximum(source_f - 1.0, 1.0)
    return first / denom, last / denom


def decode_frame(jpeg: tf.Tensor, crop_fraction: tf.Tensor, flip: tf.Tensor, *, image_size: int,
                 resize_short_side: int, ratio: int) -> tf.Tensor:
    """JPEG -> [image_size, image_size, 3] float32 in [0, 255]: resize short side, crop, flip.

    Args:
      jpeg: scalar string, one stored frame.
      crop_fraction: float32 [2], where the crop sits in (y, x): 0.5 = centre crop, U[0,1) = random.
      flip: bool scalar, mirror left-right.
      image_size: side of the output crop.
      resize_short_side: the frame is (virtually) resized so its short side is this, then cropped.
      ratio: JPEG DCT downscale for the decode (see `jpeg_decode_ratio`); static.
    """
    shape = tf.io.extract_jpeg_shape(jpeg, output_type=tf.int32)

    def crop_in_place() -> tf.Tensor:
        # Stored short side == target: the crop window of the stored frame is the answer.
        oy = crop_offset(shape[0], image_size, crop_fraction[0])
        ox = crop_offset(shape[1], image_size, crop_fraction[1])
        image = tf.io.decode_and_crop_jpeg(jpeg, tf.stack([oy, ox, image_size, image_size]), channels=3)
        image = tf.cond(flip, lambda: tf.reverse(image, axis=[1]), lambda: image)
        return tf.cast(image, tf.float32)

    def resample() -> tf.Tensor:
        image = tf.io.decode_jpeg(jpeg, channels=3, ratio=ratio)
        hw = tf.shape(image)[:2]
        scale = resize_short_side / tf.cast(tf.reduce_min(hw), tf.float32)
        resized = tf.maximum(tf.cast(tf.round(tf.cast(hw, tf.float32) * scale), tf.int32), image_size)
        y1, y2 = sample_span(hw[0], resized[0], crop_offset(resized[0], image_size, crop_fraction[0]),
                             image_size)
        x1, x2 = sample_span(hw[1], resized[1], crop_offset(resized[1], image_size, crop_fraction[1]),
                             image_size)
        # crop_and_resize mirrors the crop when x1 > x2: the flip costs nothing here.
        x1, x2 = tf.where(flip, x2, x1), tf.where(flip, x1, x2)
        out = tf.image.crop_and_resize(image[None], tf.stack([y1, x1, y2, x2])[None], [0],
                                       [image_size, image_size], method="bilinear")
        return out[0]

    if ratio != 1:
        return resample()
    return tf.cond(tf.reduce_min(shape[:2]) == resize_short_side, crop_in_place, resample)


def draw_params(seed: tf.Tensor, count: tf.Tensor, strength: Strength = PAPER) -> Dict[str, tf.Tensor]:
    """Random augmentation parameters of `count` pairs, drawn in one vectorised op.

    Drawn where pairs are formed (a window at a time), not per example after the shuffle: per
    example, every small op costs as much as a whole vector op.

    Args:
      seed: int64 [2], stateless seed.
      count: number of pairs M.
      strength: augmentation beyond the paper's (default: none).

    Returns:
      crop (float32 [M, 2], U[0,1) crop position in (y, x)), flip (bool [M]), colour (float32
      [M, 3, 3], hue, saturation and [0, 255] -> [0, 1] scaling, see `colour_matrix`), brightness
      (float32 [M], added after it), gain (float32 [M]), tilt (float32 [M], 0 unless
      strength.spectral_tilt), speed (float32 [M], 2^(U(-p, p) / 12) for p = strength.pitch_shift;
      1 when it is 0). Each option draws from its own stream, so turning one on leaves the
      others' draws as they were.
    """
    u = tf.random.stateless_uniform(tf.stack([count, 6]), seed=seed)
    brightness = (2.0 * u[:, 3] - 1.0) * BRIGHTNESS_DELTA
    lo, hi = SATURATION_RANGE
    saturation = lo + (hi - lo) * u[:, 4]
    if strength.gain_db > 0:
        gain = tf.pow(10.0, (2.0 * u[:, 5] - 1.0) * strength.gain_db / 20.0)
    else:
        gain_lo, gain_hi = GAIN_RANGE
        gain = gain_lo + (gain_hi - gain_lo) * u[:, 5]
    params = {"crop": u[:, 0:2], "flip": u[:, 2] < 0.5, "brightness": brightness, "gain": gain,
              "speed": tf.ones_like(gain)}
    if strength.pitch_shift > 0:
        v = tf.random.stateless_uniform(tf.reshape(count, [1]), seed=tf.random.experimental.stateless_fold_in(seed, 11))
        params["speed"] = tf.pow(2.0, (2.0 * v - 1.0) * strength.pitch_shift / 12.0)
    if strength.hue_jitter <= 0 and strength.spectral_tilt <= 0:
        # The paper's augmentation draws exactly what it drew before these options existed.
        return {**params, "colour": colour_matrix(saturation), "tilt": tf.zeros_like(gain)}
    extra = tf.random.stateless_uniform(tf.stack([count, 2]), seed=tf.random.experimental.stateless_fold_in(seed, 7))
    hue = (2.0 * extra[:, 0] - 1.0) * strength.hue_jitter * 2.0 * math.pi
    tilt = (2.0 * extra[:, 1] - 1.0) * strength.spectral_tilt
    return {**params, "colour": colour_matrix(saturation, hue), "tilt": tilt}


def colour_matrix(saturation: tf.Tensor, hue: Optional[tf.Tensor] = None) -> tf.Tensor:
    """[M] saturation factors (and hue angles, radians) -> [M, 3, 3] maps of [0, 255] RGB rows to [0, 1].

    x @ matrix = (saturation * x' + (1 - saturation) * luma(x')) / 255 with x' = x rotated by `hue`
    about the grey axis in YIQ space (luma kept): saturation blends each pixel with its grey value
    (1 = unchanged, 0 = grey, > 1 = more colourful).
    """
    luma = tf.constant(_LUMA, tf.float32)
    grey = tf.tile(luma[:, None], [1, 3])  # column c of x @ grey = luma(x)
    s = saturation[:, None, None]
    matrix = (s * tf.eye(3) + (1.0 - s) * grey) / 255.0
    if hue is None:
        return matrix
    yiq = tf.constant(_YIQ, tf.float32)
    cos, sin = tf.cos(hue), tf.sin(hue)
    zero, one = tf.zeros_like(hue), tf.ones_like(hue)
    rotate = tf.reshape(tf.stack([one, zero, zero, zero, cos, -sin, zero, sin, cos], axis=1), [-1, 3, 3])
    # Column-vector map A = YIQ^-1 R YIQ; rows of pixels are multiplied by its transpose.
    hue_map = tf.linalg.matrix_transpose(tf.linalg.inv(yiq)[None] @ rotate @ yiq[None])
    return hue_map @ matrix


def speed_read(audio: tf.Tensor, speed: tf.Tensor, num_samples: int) -> tf.Tensor:
    """float32 [L] -> [num_samples]: output n = audio at position n * speed, linearly interpolated.

    Speed r > 1 raises the pitch by 12 log2(r) semitones and plays r * num_samples input samples;
    r < 1 lowers it and plays fewer. No anti-alias filter: at the few semitones this is meant for
    (r <= 1.19 for 3 semitones) only content above 0.84 x Nyquist folds back. Positions past the
    input's end (L too short for r) read its last sample.
    """
    position = tf.range(num_samples, dtype=tf.float32) * speed
    left = tf.floor(position)
    frac = position - left
    last = tf.shape(audio)[0] - 1
    i = tf.minimum(tf.cast(left, tf.int32), last)
    j = tf.minimum(i + 1, last)
    return tf.gather(audio, i) * (1.0 - frac) + tf.gather(audio, j) * frac


def finish_image(image: tf.Tensor, colour: Optional[tf.Tensor] = None,
                 brightness: Optional[tf.Tensor] = None) -> tf.Tensor:
    """[S, S, 3] float32 in [0, 255] -> float32 in [0, 1]; colour jitter when `colour` is given.

    colour: float32 [3, 3] from `colour_matrix`; brightness: float32 scalar added after it.
    """
    if colour is None:
        return image * (1.0 / 255.0)
    size = tf.shape(image)
    flat = tf.matmul(tf.reshape(image, [-1, 3]), colour) + brightness
    return tf.reshape(tf.clip_by_value(flat, 0.0, 1.0), size)


def decode_audio(window: tf.Tensor, num_samples: int, gain: Optional[tf.Tensor] = None,
                 tilt: Optional[tf.Tensor] = None, speed: Optional[tf.Tensor] = None,
                 margin: int = 0) -> tf.Tensor:
    """2 * (num_samples + margin) little-endian int16 bytes -> float32 [num_samples] in [-1, 1].

    gain: float32 scalar applied to the whole clip (augmentation), result clipped to [-1, 1].
    tilt: float32 scalar a of y[n] = (x[n] - a x[n-1]) / (1 + |a|): a > 0 tilts towards treble,
          a < 0 towards bass; the division keeps the peak level bounded.
    speed: float32 scalar r: the window is read r times as fast (`speed_read`), from its first
          sample; the `margin` input samples after the first num_samples (`DataConfig.read_samples`)
          let r > 1 read past the window.
    """
    audio = tf.cast(tf.ensure_shape(tf.io.decode_raw(window, tf.int16, little_endian=True), [num_samples + margin]),
                    tf.float32) * (1.0 / 32768.0)
    if speed is not None:
        audio = speed_read(audio, speed, num_samples)
    if tilt is not None:
        previous = tf.concat([audio[:1], audio[:-1]], axis=0)
        audio = (audio - tilt * previous) / (1.0 + tf.abs(tilt))
    if gain is None:
        return audio
    return tf.clip_by_value(audio * gain, -1.0, 1.0)
