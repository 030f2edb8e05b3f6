"""What the training loop trains: a task = model + inputs + loss + metric + validation.

In the spirit of tensorflow/models `official/` tasks: `l3net.train.trainer` owns everything
that is the same for every task (strategy, optimizer, checkpoints and resume, lr schedule, weight
decay, logging, TensorBoard, progress bar, history and curves), a `Task` owns what differs.
Tasks: `AvcTask` (L3-Net / AVE-Net correspondence, `l3net.train.avc_task`) and `EnvelopeTask`
(sound envelope from frames, `l3net.envelope.envelope_task`).
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Dict, Tuple

import keras
import tensorflow as tf


@dataclasses.dataclass
class ValidationResult:
    """A validation run: loss, the task's metric and a one-line description for the log."""

    loss: float
    metric: float
    description: str


class Task(abc.ABC):
    """Interface the trainer drives.

    Attributes every task sets:
      name:           'avc' | 'envelope' (also the TensorBoard tag prefix: avc_loss, ...).
      metric_name:    the task's score, a history.csv column and TensorBoard tag
                      ('accuracy' for AVC, 'correlation' for the envelope).
      progress_key:   its short name on the progress bar ('acc', 'r').
      global_batch_size: examples per step over all replicas.
      title:          curve title prefix (the architecture's name).
    """

    name: str
    metric_name: str
    progress_key: str
    global_batch_size: int
    title: str

    @abc.abstractmethod
    def build_model(self) -> keras.Model:
        """The network (called inside the strategy scope; random weights)."""

    def initialize(self, model: keras.Model) -> None:
        """Sets starting weights of a fresh run (no checkpoint yet); default: keep random init."""

    @abc.abstractmethod
    def train_dataset(self, data_dir: str, seed: int) -> tf.data.Dataset:
        """Infinite batches of (features, labels) of the train split, `global_batch_size` each."""

    @abc.abstractmethod
    def compute(self, model: keras.Model, features: Dict[str, tf.Tensor],
                labels: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
        """Training forward pass of one replica batch: (per-example loss float32 [B], metric summed over
        the batch float32 scalar; the trainer divides it by the global batch size)."""

    @abc.abstractmethod
    def validate(self, model: keras.Model, data_dir: str, seed: int) -> ValidationResult:
        """Scores `model` on the fixed validation set; DatasetError when there is no usable val split."""

    def curve_options(self) -> Dict[str, object]:
        """Keyword arguments of `training_curves.plot_training_curves` for this task."""
        return {}
