"""The AVC loss over all pairs of a batch (`--batch_negatives`), positives and negatives 50/50.

Pairs of a batch of B sampled pairs (frame i, audio i, label i):
  positive: (i, i) with label 1 - frame and audio of one video, overlapping in time;
  negative: (i, j) whose frame and audio come from different videos - B*(B-1) of them at most,
            including the sampled negatives (i, i) with label 0;
  ignored:  (i, j), i != j, of the same video: they may or may not overlap in time.
The loss is 0.5 * mean cross-entropy over positives + 0.5 * mean over negatives: the paper's
50/50 balance between the two classes, with many more negatives per step (see
`l3net.models.pairwise_avc` for why they cost almost nothing).
"""

from __future__ import annotations

import tensorflow as tf

# Probability floor inside the logs: a saturated softmax must not give inf / nan losses.
PROB_EPS = 1e-7


def video_keys(video_ids: tf.Tensor) -> tf.Tensor:
    """string video ids [B] -> int64 keys [B] (equal ids, equal keys), so no strings reach a GPU."""
    return tf.strings.to_hash_bucket_fast(video_ids, 2 ** 62)


def all_pairs_loss(pair_probs: tf.Tensor, labels: tf.Tensor, frame_keys: tf.Tensor,
                   audio_keys: tf.Tensor) -> tf.Tensor:
    """Scalar loss from probabilities [B, B, 2] of (frame i, audio j), labels [B], keys [B]."""
    p = tf.clip_by_value(tf.cast(pair_probs[..., 1], tf.float32), PROB_EPS, 1.0 - PROB_EPS)
    positive = tf.linalg.diag(tf.cast(tf.equal(labels, 1), tf.float32))
    negative = tf.cast(tf.not_equal(frame_keys[:, None], audio_keys[None, :]), tf.float32)
    pos_loss = tf.math.divide_no_nan(tf.reduce_sum(-tf.math.log(p) * positive), tf.reduce_sum(positive))
    neg_loss = tf.math.divide_no_nan(tf.reduce_sum(-tf.math.log(1.0 - p) * negative), tf.reduce_sum(negative))
    return 0.5 * (pos_loss + neg_loss)
