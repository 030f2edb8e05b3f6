"""Dead units in an AVC model's first head layer, checkpoint by checkpoint.

Why: L3-Net's fusion fc sees max-pooled ReLU maps (all >= 0, mean ~1); under Adam at the demo's
learning rate many of its ReLU units stop firing on every example early in training, which
leaves fewer paths for the gradient into the towers. This prints, for each checkpoint, the
share of first-head units that are zero on every pair of a validation batch (dead), the share
of (pair, unit) activations that are positive, and the batch's AVC accuracy, so a recipe change
(`--head_batchnorm`) can be checked against that mechanism, not only against final accuracy.

  .venv/bin/python bench/head_units.py --model_dir=M --data_dir=D [--checkpoints=500,1000,latest]

Only the newest three checkpoints and the best one are kept by `l3net_train`: run it while a
training runs, or on those.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from l3net.tensorflow_output import quiet_tensorflow  # noqa: E402

HEADS = {"l3net": ("fusion_fc1",), "avenet": ("image_fc1", "audio_fc1")}


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", required=True)
    parser.add_argument("--data_dir", required=True)
    parser.add_argument("--checkpoints", default="latest", help="comma-separated best|latest|<step>")
    parser.add_argument("--pairs", type=int, default=256, help="validation pairs in the batch")
    args = parser.parse_args(argv)
    quiet_tensorflow()
    import keras

    from l3net.data.avc_pipeline import avc_dataset
    from l3net.data.config import DataConfig
    from l3net.model_dir import ModelDir, ModelDirError, parse_checkpoint_choice
    from l3net.models.avc_models import dense_relu_layers

    model_dir = ModelDir(args.model_dir)
    try:
        cfg = model_dir.model_config()
    except ModelDirError as e:
        parser.error(str(e))
    if cfg.model not in HEADS:
        parser.error(f"--model_dir: {cfg.model} has no fc head to inspect (l3net, avenet)")
    data_cfg = DataConfig.for_model(cfg, batch_size=args.pairs, pairs_per_video=4, augment=False,
                                    resize_short_side=model_dir.resize_short_side(cfg))
    features, labels = next(iter(avc_dataset(args.data_dir, "val", data_cfg, training=False)))
    labels = np.asarray(labels)
    labels = labels.argmax(axis=1) if labels.ndim == 2 else labels
    print(f"{'checkpoint':>10s} {'head':>10s} {'units':>5s} {'dead':>6s} {'active':>7s} {'AVC':>6s}")
    for choice in args.checkpoints.split(","):
        model, _, step = model_dir.load_model(parse_checkpoint_choice(choice))
        accuracy = float(np.mean(model(features, training=False).numpy().argmax(axis=1) == labels))
        for head in HEADS[cfg.model]:
            layers = dense_relu_layers(model, head)
            probe = keras.Model(model.inputs, layers[-1].output)
            h = probe(features, training=False).numpy()
            print(f"{step:>10d} {head:>10s} {h.shape[1]:>5d} {np.mean(h.max(axis=0) <= 0):>6.2f} "
                  f"{np.mean(h > 0):>7.3f} {accuracy:>6.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
