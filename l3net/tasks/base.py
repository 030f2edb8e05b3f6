"""What the training loop trains: a task = network + inputs + loss + metric + validation.

In the spirit of tensorflow/models `official/` tasks: `l3net.train.trainer` owns everything that
is the same for every task (strategy, optimizer, checkpoints and resume, best checkpoint, lr
schedule, weight decay, logging, TensorBoard, progress bar, history and curves); a `Task` owns
what differs. A `TaskSpec` is a task's registration: it turns settings (the resolved flags, a
plain mapping) and the dataset's description into a `TaskSetup` before any TensorFlow work, so
`l3net_train` has one run set-up path for every task and never branches on the task's name.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, Callable, Dict, List, Mapping, Tuple

import keras
import tensorflow as tf

from l3net.data.config import DataConfig


@dataclasses.dataclass
class ValidationResult:
    """A validation run: loss, the task's metric (higher is better) and a one-line description."""

    loss: float
    metric: float
    description: str


class Task(abc.ABC):
    """Interface the trainer drives.

    Attributes every task sets:
      name:           the registered task name ('avc', 'envelope'; also the TensorBoard tag prefix).
      metric_name:    the task's score, higher is better: a history.csv column, a TensorBoard tag,
                      and what the best checkpoint is chosen by ('accuracy', 'correlation').
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
        """The network (called inside the strategy scope; random weights).

        May be called twice in a run: weight averaging (`--ema_decay`) builds a second copy after
        the trained network. State a task keeps per network must follow the network passed to
        `compute`, `initialize` and `validate`, not the last one built.
        """

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


class SettingsError(ValueError):
    """A setting that cannot be used; the message starts with `--<flag>` and says what to do."""


@dataclasses.dataclass
class TaskSetup:
    """A run of a task, checked and configured, before the network is built.

    config:       the network's config (ModelConfig, EnvelopeConfig): saved in the model dir as
                  the task's config file; `to_json`, `to_dict` and `==` are used.
    data_config:  the input pipeline's settings (saved in run_config.json under 'data').
    description:  one line `l3net_train` prints when the run starts.
    warnings:     lines printed to stderr (e.g. no validation split).
    make_task:    (train config, model dir) -> the Task the trainer drives.
    """

    config: Any
    data_config: DataConfig
    description: str
    warnings: List[str]
    make_task: Callable[[Any, str], Task]


class TaskSpec(abc.ABC):
    """A task's registration (see `l3net.tasks.get_task_spec`)."""

    name: str

    @abc.abstractmethod
    def setup(self, settings: Mapping[str, Any], info: Any) -> TaskSetup:
        """The run's configs from `settings` (flag name -> value) and the dataset's `DatasetInfo`.

        Raises SettingsError (a bad or inconsistent setting, a dataset the task cannot train on).
        """


def parse_widths(name: str, values: Any) -> Tuple[int, ...]:
    """A list of layer widths from a flag value (list of strings or ints); SettingsError names the flag."""
    try:
        widths = tuple(int(v) for v in values)
    except (TypeError, ValueError):
        raise SettingsError(f"--{name}={','.join(map(str, values or []))}: expected comma-separated integers") from None
    if not widths or min(widths) < 1:
        raise SettingsError(f"--{name}: expected at least one positive integer")
    return widths
