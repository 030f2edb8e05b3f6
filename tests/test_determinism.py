"""Determinism (issue 16): two CPU training runs with the same seed, data and machine give identical
weights with `l3net_train --deterministic`.

The two runs go in separate processes at the same time (op determinism is a process-wide switch
that cannot be turned off again, and running them concurrently also shows that thread scheduling
under load does not change the result).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import record_fixtures as rf

RATE = 8000
TINY_FLAGS = ["--image_size=32", "--resize_short_side=36", "--vision_widths=8,16", "--audio_widths=8,16",
              "--frontend=mel32", "--batchnorm_momentum=0.8", f"--sample_rate={RATE}", "--audio_seconds=0.5",
              "--batch_size=16", "--learning_rate=1e-3", "--eval_pairs=16", "--example_shuffle_buffer=64",
              "--video_shuffle_buffer=16", "--log_every_steps=5", "--eval_every_steps=10", "--augment=true",
              "--seed=3"]


@pytest.mark.slow
def test_two_deterministic_runs_give_identical_weights(tmp_path):
    data_dir = str(tmp_path / "data")
    videos = [rf.fake_video(i, split="train" if i < 12 else "val", num_frames=12, fps=8.0, sample_rate=RATE,
                            audio_seconds=1.5) for i in range(16)]
    rf.write_dataset(data_dir, videos, sample_rate=RATE, fps=8.0, short_side=40, shards_per_split=3)
    runs = []
    for name in ("a", "b"):
        args = [os.path.join(os.path.dirname(sys.executable), "l3net_train"), f"--data_dir={data_dir}",
                f"--model_dir={tmp_path / name}", *TINY_FLAGS, "--train_steps=20", "--deterministic"]
        runs.append(subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for run in runs:
        out, err = run.communicate(timeout=600)
        assert run.returncode == 0, err[-2000:]
        assert "stopped by steps at step 20" in out
    readers = [tf.train.load_checkpoint(tf.train.latest_checkpoint(str(tmp_path / name / "checkpoints")))
               for name in ("a", "b")]
    names = sorted(readers[0].get_variable_to_shape_map())
    assert names == sorted(readers[1].get_variable_to_shape_map())
    assert any(n.startswith("model/") for n in names) and any(n.startswith("optimizer/") for n in names)
    different = [n for n in names if not np.array_equal(readers[0].get_tensor(n), readers[1].get_tensor(n))]
    assert not different, different
    histories = [[row.split(",")[:4] for row in open(tmp_path / name / "history.csv").read().splitlines()]
                 for name in ("a", "b")]
    assert histories[0] == histories[1]  # losses, accuracies and the validation of step 10 and 20 too
    assert "--deterministic" in open(tmp_path / "a" / "flags.txt").read()
