"""The AVC sampling rules, as graph code: which frame, which 1 s window, which negative partner.

Audio-visual correspondence (L3-Net, ICCV 2017): a positive pairs a frame of video A with a 1 s
audio window of A that overlaps the frame in time; a negative pairs a frame of A with a window of
a *different* video B; half of each. Every window starts on its video's frame grid (multiples of
1/fps): Objects that Sound (ECCV 2018) found that negatives off the grid let the network detect
misalignment artefacts instead of learning correspondence, so positives and negatives must not
differ in how their windows are cut.

Two steps, so a record (MBs: every frame of the video) is parsed once and then dropped:
  `draw_from_video`: one record -> P (frame, overlapping grid window) draws, a few hundred KB.
  `pair_window`:     K videos' draws -> K * P pairs. Pair (v, p) keeps frame p of video v; a
                     positive takes v's own window p, a negative takes window p of a partner
                     drawn uniformly among the videos of the window whose *id* differs from v's
                     (checked, so repeats of a video in a window are never paired as negatives).
Randomness is stateless, seeded by (seed, index of the video or window in the stream).
"""

from __future__ import annotations

from typing import Dict

import tensorflow as tf

from l3net.data import schema

_PARSE_KEYS = ("video_id", "labels", "fps", "frames", "sample_rate", "audio")


def draw_from_video(video_index: tf.Tensor, serialized: tf.Tensor, *, pairs: int, window: int,
                    audio_seconds: float, sample_rate: int, seed: int, alternate: bool,
                    sequence_frames: int = 0, margin: int = 0) -> Dict[str, tf.Tensor]:
    """Draws `pairs` frames of one video, each with a grid window of its audio that covers it.

    With `sequence_frames` = N >= 1 (sequence models), each draw is instead a grid window (the
    model's whole clip, `window` samples) with N frames spread evenly over it: frame i shows time
    start + (i + 1/2) * audio_seconds / N (the frame on screen then), so a positive's frames and
    sound cover the same stretch of the video. `jpeg` is then string [P, N] and `frame_time` the
    first frame's time.

    Args:
      video_index: int64 scalar, position of the video in the stream (seeds; eval labels).
      serialized: string scalar, a `tf.train.Example` in the `schema` layout.
      pairs: P, draws per video.
      window: samples per audio window (sample_rate * audio_seconds).
      audio_seconds: window length in seconds (frames covered = fps * audio_seconds).
      sample_rate: expected rate of the record's audio (checked).
      seed: pipeline seed.
      alternate: True (eval) -> draw (index * P + p) is positive iff even, so labels alternate
        across the whole stream; False (training) -> a random phase per video, still P/2 each.
      margin: samples cut after each window as well (a pitch-shifted read needs them; the audio
        then ends in `margin` zeros). Windows start where they would without it, so every
        draw is the same with and without a margin.

    Returns:
      video_index, video_id (string), labels (string, ';'-joined), has_frames (bool): scalars;
      jpeg (string [P]), frame_time (float32 [P], frame_index / fps), audio (string [P]:
      2 * (window + margin) bytes, little-endian int16; audio shorter than a window is zero-padded, as the
      converter pads short clips), audio_start (float32 [P], seconds), positive (bool [P]);
      with `sequence_frames` N, jpeg is string [P, N].
    """
    spec = {k: v for k, v in schema.feature_spec().items() if k in _PARSE_KEYS}
    parsed = tf.io.parse_single_example(serialized, spec)
    checked = tf.debugging.assert_equal(
        parsed["sample_rate"], tf.constant(sample_rate, tf.int64),
        message=f"a record's sample_rate differs from dataset.json ({sample_rate} Hz); re-convert the dataset")
    frames = parsed["frames"]
    with tf.control_dependencies([checked]):
        num_frames = tf.shape(frames, out_type=tf.int64)[0]
    video_seed = tf.stack([tf.constant(seed, tf.int64), video_index])
    u = tf.random.stateless_uniform([pairs, 2], seed=video_seed, dtype=tf.float64)

    # Time geometry in float64, so sample indices of long videos stay exact.
    fps = tf.cast(parsed["fps"], tf.float64)
    rate = tf.cast(parsed["sample_rate"], tf.float64)
    audio = parsed["audio"]
    num_samples = tf.cast(tf.strings.length(audio), tf.int64) // 2
    audio = tf.cond(num_samples < window, lambda: zero_pad_audio(audio, window), lambda: audio)
    max_start = tf.maximum(num_samples - window, 0)
    if margin:
        audio = tf.strings.join([audio, tf.constant(b"\0" * (2 * margin))])
    # Windows start at grid step k (time k / fps), 0 <= k <= k_max, and lie inside the audio.
    k_max = tf.floor(tf.cast(max_start, tf.float64) * fps / rate)
    span = fps * audio_seconds  # frames one window covers
    if sequence_frames:
        # The clip first (any grid start), then its frames.
        k = tf.minimum(tf.floor(u[:, 0] * (k_max + 1.0)), k_max)
        offsets = (tf.range(sequence_frames, dtype=tf.float64) + 0.5) * (span / sequence_frames)
        last_frame = tf.maximum(tf.cast(num_frames, tf.float64) - 1.0, 0.0)
        frame = tf.minimum(tf.floor(k[:, None] + offsets[None, :]), last_frame)  # [P, N]
    else:
        # Frame i has an overlapping window iff i < k_max + span: draw frames among those.
        choices = tf.maximum(tf.minimum(tf.cast(num_frames, tf.float64), tf.math.ceil(k_max + span)), 1.0)
        frame = tf.minimum(tf.floor(u[:, 0] * choices), choices - 1.0)
        # Grid windows [k, k + span) / fps covering time frame / fps: k in [frame - span, frame].
        k_lo = tf.maximum(tf.floor(frame - span) + 1.0, 0.0)
        k_hi = tf.minimum(frame, k_max)
        k = k_lo + tf.minimum(tf.floor(u[:, 1] * (k_hi - k_lo + 1.0)), k_hi - k_lo)
    start = tf.clip_by_value(tf.cast(tf.round(k * rate / fps), tf.int64), 0, max_start)

    slot = tf.range(pairs, dtype=tf.int64)
    if alternate:
        phase = video_index * pairs
    else:
        phase = tf.random.stateless_uniform([], seed=tf.random.experimental.stateless_fold_in(video_seed, 1),
                                            maxval=2, dtype=tf.int64)
    # A video without frames still yields [P] (empty strings; its pairs are dropped later). Only
    # the P drawn frames are copied, never the whole frame list.
    frame_index = tf.cast(frame, tf.int64)
    jpeg = tf.cond(num_frames > 0, lambda: tf.gather(frames, frame_index),
                   lambda: tf.fill(tf.shape(frame_index), ""))
    first_frame = frame[:, 0] if sequence_frames else frame
    return {
        "video_index": video_index,
        "video_id": parsed["video_id"],
        "labels": tf.strings.reduce_join(parsed["labels"], separator=";"),
        "has_frames": num_frames > 0,
        "jpeg": jpeg,
        "frame_time": tf.cast(first_frame / fps, tf.float32),
        # substr broadcasts the scalar record audio: only the windows are copied.
        "audio": tf.strings.substr(audio, start * 2,
                                   tf.fill([pairs], tf.constant(2 * (window + margin), tf.int64))),
        "audio_start": tf.cast(tf.cast(start, tf.float64) / rate, tf.float32),
        "positive": tf.equal((slot + phase) % 2, 0),
    }


def zero_pad_audio(audio: tf.Tensor, window: int) -> tf.Tensor:
    """int16 byte string -> the same bytes followed by zeros up to `window` samples."""
    missing = 2 * window - tf.strings.length(audio)
    return tf.strings.join([audio, tf.strings.substr(tf.constant(b"\0" * (2 * window)), 0, missing)])


def window_seed(seed: int, draws: Dict[str, tf.Tensor], purpose: int) -> tf.Tensor:
    """Stateless seed (int64 [2]) of one window of draws, distinct per `purpose`."""
    base = tf.stack([tf.constant(seed, tf.int64), draws["video_index"][0]])
    return tf.random.experimental.stateless_fold_in(base, 1000 + purpose)


def label_keys(labels: tf.Tensor) -> tf.Tensor:
    """';'-joined label strings [B] -> int64 keys [B, L] (0 = no label; L = most labels in the batch),
    so that `same_label` can run where strings cannot (GPUs) and per-replica batches split on axis 0."""
    parts = tf.strings.split(labels, ";").to_tensor(default_value="")
    keys = tf.strings.to_hash_bucket_fast(parts, 2 ** 62 - 1) + 1
    return tf.where(tf.equal(parts, ""), tf.zeros_like(keys), keys)


def same_label(frame_label_keys: tf.Tensor, audio_label_keys: tf.Tensor) -> tf.Tensor:
    """label_keys of the frames' videos [B, L1] and of the audio's videos [B, L2] -> bool [B, B]:
    frame i's video and audio j's video have a label in common (a video without labels shares none)."""
    equal = tf.equal(frame_label_keys[:, None, :, None], audio_label_keys[None, :, None, :])
    named = tf.not_equal(frame_label_keys, 0)[:, None, :, None]
    return tf.reduce_any(equal & named, axis=[2, 3])


def shares_label(labels: tf.Tensor) -> tf.Tensor:
    """string [K] (';'-joined labels, "" = none) -> bool [K, K]: videos i and j have a label in common.

    A video without labels shares none (the option below then restricts nothing for it).
    """
    keys = label_keys(labels)
    return same_label(keys, keys)


def pair_window(draws: Dict[str, tf.Tensor], *, seed: int, with_metadata: bool,
                label_disjoint: bool = False) -> Dict[str, tf.Tensor]:
    """Turns the draws of a window of K videos into pairs, negatives partnered across videos.

    Args:
      draws: `draw_from_video` outputs batched over K videos ([K] and [K, P, ...] tensors).
      seed: pipeline seed (partner choice is seeded by it and the window's first video index).
      with_metadata: also return provenance fields.
      label_disjoint: a negative's partner must share no label with the frame's video (the L3
        notes' "semantic false negatives": another violin's sound is not a mismatch for a violin
        frame). Videos without labels are unrestricted; a negative with no such partner in the
        window is dropped, as one with no other video is.

    Returns:
      [M] tensors, M <= K * P, in (video, draw) order: jpeg, audio (strings), label (int32,
      1 = positive); with metadata also frame_video_id, audio_video_id,
      frame_time, audio_start, frame_labels, audio_labels. Dropped: draws of videos without frames
      and negatives whose window holds no video with another id.
    """
    ids = draws["video_id"]
    positive = draws["positive"]
    num_videos = tf.shape(ids, out_type=tf.int64)[0]
    pairs = tf.shape(positive, out_type=tf.int64)[1]
    differs = tf.not_equal(ids[:, None], ids[None, :])  # [K, K]
    if label_disjoint:
        differs &= tf.logical_not(shares_label(draws["labels"]))
    scores = tf.random.stateless_uniform(tf.stack([num_videos, pairs, num_videos]),
                                         seed=window_seed(seed, draws, 1))
    partner = tf.argmax(tf.where(differs[:, None, :], scores, -1.0), axis=-1)  # [K, P]
    own = tf.broadcast_to(tf.range(num_videos)[:, None], tf.shape(partner))
    source = tf.where(positive, own, partner)  # the video whose window p the pair hears
    has_partner = tf.reduce_any(differs, axis=-1)[:, None]
    valid = draws["has_frames"][:, None] & (positive | has_partner)
    source_draw = tf.stack([source, tf.broadcast_to(tf.range(pairs)[None, :], tf.shape(source))], axis=-1)
    out = {
        "jpeg": draws["jpeg"],
        "audio": tf.gather_nd(draws["audio"], source_draw),
        "label": tf.cast(positive, tf.int32),
    }
    if with_metadata:
        out.update({
            "frame_video_id": tf.gather(ids, own),
            "audio_video_id": tf.gather(ids, source),
            "frame_time": draws["frame_time"],
            "audio_start": tf.gather_nd(draws["audio_start"], source_draw),
            "frame_labels": tf.gather(draws["labels"], own),
            "audio_labels": tf.gather(draws["labels"], source),
        })
    return {name: tf.boolean_mask(value, valid) for name, value in out.items()}
