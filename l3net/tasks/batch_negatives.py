"""The AVC loss over all pairs of a batch (`--batch_negatives`), positives and negatives 50/50.

Pairs of a batch of B sampled pairs (frame i, audio i, label i):
  positive: (i, i) with label 1 - frame and audio of one video, overlapping in time;
  negative: (i, j) whose frame and audio come from different videos - B*(B-1) of them at most,
            including the sampled negatives (i, i) with label 0;
  ignored:  (i, j), i != j, of the same video: they may or may not overlap in time.
The loss is 0.5 * mean cross-entropy over positives + 0.5 * mean over negatives: the paper's
50/50 balance between the two classes, with many more negatives per step (see
`l3net.models.pairwise_avc` for why they cost almost nothing).

False-negative discount (`discount` = gamma > 0). Most cross pairs of a batch are true
negatives, but those whose frame and audio show the same *kind* of thing (a violin frame,
another violin's sound) are semantic matches labelled "no". With B(B-1) cross pairs per step
they dominate the negative term, and the only way to tell them apart is to memorise each
training video's own colours and sounds: on 180 training videos, train-split AVC rose to 0.98
while val fell from 0.80 to 0.66 (positives 0.41), and the same recipe without cross pairs
did not fall. With a discount, a cross pair's term is weighted by stop_gradient(1 - p)^gamma,
p its predicted correspondence: pairs the network already finds matching stop pushing it to
memorise, pairs it finds clearly different keep their full weight. The sampled negatives (the
paper's own, label 0 on the diagonal) always keep weight 1, so "everything matches" is never
cheap, and the negative term is a weighted mean, so its share of the loss stays one half.

Label-disjoint cross pairs (`--batch_negatives --label_disjoint_negatives`, labelled data only).
With labels the same-kind cross pairs need no guess: a cross pair whose frame's video and audio's
video share a label is left out of the negative term (`pair_sampling.same_label` of both sides'
`label_keys`), as the sampled negatives of `--label_disjoint_negatives` never pair such videos: the many
negatives per step that make batch negatives learn fast, without the ones only memorising could
reject. Measured once on cluttered video (README "Negatives that share a label") it lowered
validation loss early but did not beat plain batch negatives (held-out AVC 0.713 vs 0.728).
"""

from __future__ import annotations

from typing import Optional

import tensorflow as tf

# Probability floor inside the logs: a saturated softmax must not give inf / nan losses.
PROB_EPS = 1e-7


def video_keys(video_ids: tf.Tensor) -> tf.Tensor:
    """string video ids [B] -> int64 keys [B] (equal ids, equal keys), so no strings reach a GPU."""
    return tf.strings.to_hash_bucket_fast(video_ids, 2 ** 62)


def all_pairs_loss(pair_probs: tf.Tensor, labels: tf.Tensor, frame_keys: tf.Tensor,
                   audio_keys: tf.Tensor, discount: float = 0.0,
                   shared_label: Optional[tf.Tensor] = None) -> tf.Tensor:
    """Scalar loss from probabilities [B, B, 2] of (frame i, audio j), labels [B], keys [B].

    discount: the false-negative discount's gamma (0 = every negative weighs 1).
    shared_label: bool [B, B] (`l3net.data.pair_sampling.same_label`): pairs left out of the negative term (None: none).
    """
    p = tf.clip_by_value(tf.cast(pair_probs[..., 1], tf.float32), PROB_EPS, 1.0 - PROB_EPS)
    positive = tf.linalg.diag(tf.cast(tf.equal(labels, 1), tf.float32))
    differs = tf.not_equal(frame_keys[:, None], audio_keys[None, :])
    if shared_label is not None:
        differs &= tf.logical_not(shared_label)
    negative = tf.cast(differs, tf.float32)
    if discount > 0:
        cross = 1.0 - tf.eye(tf.shape(p)[0])
        weight = cross * tf.pow(tf.stop_gradient(1.0 - p), discount) + (1.0 - cross)
        negative = negative * weight
    pos_loss = tf.math.divide_no_nan(tf.reduce_sum(-tf.math.log(p) * positive), tf.reduce_sum(positive))
    neg_loss = tf.math.divide_no_nan(tf.reduce_sum(-tf.math.log(1.0 - p) * negative), tf.reduce_sum(negative))
    return 0.5 * (pos_loss + neg_loss)
