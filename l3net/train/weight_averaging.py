"""An exponential moving average of the weights (`--ema_decay`): what validation and the tools use.

Why: on cluttered or small datasets the validation accuracy of the raw weights jumps by several
points from one evaluation to the next (the batch's noise, the high learning rate of a 15-minute
schedule), and picking the best of ~20 noisy validations picks a lucky draw: held-out accuracy
then lands 3-7 points under it. Averaging the weights over the last few hundred steps (Polyak
averaging, as TF's `tf.train.ExponentialMovingAverage` and the `tensorflow/models` EMA optimizer
do) smooths that noise out of the weights themselves. Measured once on cluttered video it did
not raise held-out accuracy (README, Configs, "Weight averaging"), so it is off by default.

How it is kept: a second copy of the network (`averaged`, built from the same config) holds the
averages. After every optimizer step each trainable variable `a` of it moves towards the live
one `w`: a <- a - (1 - d_t) (a - w), with d_t = min(decay, (1 + t) / (10 + t)) at step t (TF's
`num_updates` rule, so the first steps are not dominated by the random initial weights).
Batch-norm statistics are themselves running averages of the live network's activations; they
are copied from it (after the multi-worker sync) before every validation and save, not averaged
again.

Where it goes: the trainer's checkpoints store the averaged copy under the key `model`, the key
every tool restores (`ModelDir.restore`), the live network under `live_model` (only resuming
needs it) and the decay under `ema_decay`. So the best and latest checkpoints, validation,
evaluation, export and embedding all see the averaged weights without knowing about them.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import keras
import tensorflow as tf

# Checkpoint keys of a run that averages: the live (non-averaged) network, and the decay (a marker
# by which a resume tells such checkpoints apart: the live network's variables are stored once,
# under the optimizer's slots, so its own key lists no variable of its own).
LIVE_MODEL_KEY = "live_model"
DECAY_KEY = "ema_decay"


class WeightAverage:
    """Keeps `averaged`'s trainable variables an exponential moving average of `model`'s.

    Both networks must be built from the same config (same variables in the same order). Create
    it, and call `update` only, inside the strategy scope / compiled step the model trains in.
    """

    def __init__(self, model: keras.Model, averaged: keras.Model, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema_decay={decay}: must be in (0, 1)")
        self.model, self.averaged, self.decay = model, averaged, float(decay)
        self._trainable = _pairs(averaged.trainable_variables, model.trainable_variables)
        self._statistics = _pairs(averaged.non_trainable_variables, model.non_trainable_variables)
        self._decay_var = tf.Variable(self.decay, dtype=tf.float32, trainable=False, name="ema_decay")

    def decay_at(self, step: tf.Tensor) -> tf.Tensor:
        """d_t = min(decay, (1 + t) / (10 + t)) for the update made after step `step` (float32 scalar)."""
        t = tf.cast(step, tf.float32)
        return tf.minimum(tf.constant(self.decay, tf.float32), (1.0 + t) / (10.0 + t))

    def update(self, step: tf.Tensor) -> tf.Operation:
        """Moves every averaged trainable variable towards the live one (call after each optimizer step)."""
        rate = 1.0 - self.decay_at(step)
        updates = [a.assign_sub(tf.cast(rate, a.dtype) * (a - tf.cast(w, a.dtype))) for a, w in self._trainable]
        return tf.group(*updates)

    def copy_statistics(self) -> None:
        """Copies the live network's batch-norm statistics (and any other non-trainable state)."""
        for a, w in self._statistics:
            a.assign(w)

    def checkpoint_entries(self) -> dict:
        """What a training checkpoint holds besides `model` (the averaged copy): the live network, the decay."""
        return {LIVE_MODEL_KEY: self.model, DECAY_KEY: self._decay_var}

    def reset(self) -> None:
        """Makes the average equal to the live network (a fresh run, after its initialisation)."""
        for a, w in self._trainable + self._statistics:
            a.assign(w)


def _pairs(averaged: List[tf.Variable], live: List[tf.Variable]) -> List[Tuple[tf.Variable, tf.Variable]]:
    if len(averaged) != len(live) or any(a.shape != w.shape for a, w in zip(averaged, live)):
        raise ValueError("the averaged network's variables do not match the trained network's (built from "
                         "another config?)")
    return list(zip(averaged, live))


def resume_mismatch(checkpoint_path: str, ema_decay: float) -> Optional[str]:
    """Why a run with `ema_decay` cannot resume from `checkpoint_path`, or None if it can.

    A checkpoint written with averaging holds `live_model`; one written without does not. Resuming
    across the switch would either start the average from nothing mid-run or drop it, so it is
    refused with the flag to use instead.
    """
    try:
        averaged = any(name.startswith(DECAY_KEY + "/") for name, _ in tf.train.list_variables(checkpoint_path))
    except (tf.errors.OpError, ValueError):
        return None  # Unreadable: the trainer's restore reports it (and falls back to an older one).
    if averaged and not ema_decay:
        return (f"{checkpoint_path} was written with weight averaging (--ema_decay > 0); resume with the "
                "--ema_decay it was trained with, or use a new --model_dir")
    if ema_decay and not averaged:
        return (f"{checkpoint_path} was written without weight averaging; resume with --ema_decay=0, or use a "
                "new --model_dir")
    return None
