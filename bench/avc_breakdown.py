"""Held-out AVC accuracy of a model on synthetic video, split by what the generator put in each pair.

Why: on cluttered video (`--clutter 1`: silent distractors, a second sounding object, off-screen
sounds) held-out AVC sits under its target, and the single number does not say whether the
clutter itself makes pairs ambiguous or the network has simply not learnt the objects. The scene
plans (`data_tools.synthetic.scenes.plan_scene`) say, for every test pair, how many silent
objects the frame shows, whether the audio holds an off-screen sound, and whether a negative's
audio comes from a class visible in the frame (a look-alike: a single frame cannot tell a silent
bell from a ringing one). It also prints a class-matching reference: the accuracy of a rule that
calls a pair a match iff a class heard in the audio's video is visible in the frame's video (what
perfect object recognition without motion or scene cues would score).

  .venv/bin/python bench/avc_breakdown.py --model_dir M --data_dir D --clutter 1 --world rich --generator_seed 0

D must be converted from `l3net_data synthetic` videos (vid_<index>, through the labels.csv manifest that
D's dataset.json names) of that seed, clutter and world; pairs are l3net_eval avc's (`--split`,
`--pairs_per_video`, seed 0).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Callable, Dict, List

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The generator's frame size (`data_tools.synthetic.videos` defaults); the plan's class draws do not depend on it.
WIDTH, HEIGHT, MAX_SECONDS = 160, 120, 10.0


def pair_rows(model_dir: str, data_dir: str, split: str, checkpoint: str, pairs_per_video: int,
              generator_seed: int, clutter: float, world: str) -> List[Dict[str, object]]:
    """One dict per evaluation pair: is_positive, correct, p_match and the plan's facts about it."""
    from data_tools.manifest import read_manifest
    from data_tools.synthetic.scenes import plan_scene
    from l3net.data import avc_dataset, schema
    from l3net.data.config import DataConfig
    from l3net.evaluation.avc import _predict_fn  # l3net_eval avc's own forward pass
    from l3net.model_dir import ModelDir

    # Video ids are hashes of the manifest's path cells; the file name vid_<index> gives the plan.
    manifest = schema.read_dataset_info(data_dir).extra.get("manifest")
    if not manifest or not os.path.isfile(manifest):
        raise SystemExit(f"bench/avc_breakdown.py: {data_dir}/dataset.json names no readable manifest ({manifest!r})")
    index_of = {}
    for source in read_manifest(manifest):
        found = re.search(r"vid_(\d+)", os.path.basename(source.source_path))
        if found:
            index_of[source.video_id] = int(found.group(1))
    directory = ModelDir(model_dir)
    model, cfg, _ = directory.load_model(checkpoint)
    data_cfg = DataConfig.for_model(cfg, batch_size=64, pairs_per_video=pairs_per_video, augment=False,
                                    resize_short_side=directory.resize_short_side(cfg))
    dataset = avc_dataset(data_dir, split, data_cfg, training=False, seed=0, with_metadata=True)
    predict = _predict_fn(model)
    plans: Dict[str, object] = {}

    def plan(video_id: bytes):
        key = video_id.decode("utf-8")
        if key not in plans:
            if key not in index_of:
                raise SystemExit(f"bench/avc_breakdown.py: video {key} is not a synthetic vid_<index> of {manifest}")
            plans[key] = plan_scene(generator_seed, index_of[key], WIDTH, HEIGHT, MAX_SECONDS, clutter, world)
        return plans[key]

    rows = []
    for features, labels in dataset:
        p_match = predict(features["image"], features["audio"]).numpy()[:, 1]
        for frame_id, audio_id, label, p in zip(features["frame_video_id"].numpy(),
                                                features["audio_video_id"].numpy(), labels.numpy(), p_match):
            frame, audio = plan(frame_id), plan(audio_id)
            visible = {o.cls.name for o in frame.objects if o.onscreen}
            heard = {o.cls.name for o in audio.objects if o.sounding}
            positive = int(label) == 1
            rows.append({
                "positive": positive, "correct": (p > 0.5) == positive, "p_match": float(p),
                "silent_objects": sum(1 for o in frame.objects if o.onscreen and not o.sounding),
                "two_sounding": sum(1 for o in frame.objects if o.onscreen and o.sounding) > 1,
                "offscreen_sound": any(not o.onscreen for o in audio.objects),
                "look_alike": bool(visible & heard), "same_texture": frame.texture == audio.texture})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", required=True)
    parser.add_argument("--data_dir", required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--checkpoint", default="best")
    parser.add_argument("--pairs_per_video", type=int, default=8)
    parser.add_argument("--generator_seed", type=int, default=0, help="the videos' `l3net_data synthetic --seed`")
    parser.add_argument("--clutter", type=float, default=1.0)
    parser.add_argument("--world", default="rich")
    args = parser.parse_args()
    rows = pair_rows(args.model_dir, args.data_dir, args.split, args.checkpoint, args.pairs_per_video,
                     args.generator_seed, args.clutter, args.world)

    def show(name: str, keep: Callable[[dict], bool]) -> None:
        subset = [r for r in rows if keep(r)]
        if subset:
            print(f"  {name:<52s} {len(subset):5d} pairs  accuracy {np.mean([r['correct'] for r in subset]):.3f}  "
                  f"mean p(match) {np.mean([r['p_match'] for r in subset]):.3f}")

    print(f"{args.model_dir} ({args.checkpoint}) on {args.split} of {args.data_dir}: {len(rows)} pairs, accuracy "
          f"{np.mean([r['correct'] for r in rows]):.3f}")
    show("positives", lambda r: r["positive"])
    show("positives without clutter (one object, no off-screen sound)",
         lambda r: r["positive"] and not r["silent_objects"] and not r["two_sounding"] and not r["offscreen_sound"])
    for k in (1, 2):
        show(f"positives with {k} silent object(s) in the frame",
             lambda r, k=k: r["positive"] and r["silent_objects"] == k)
    show("positives with two sounding objects", lambda r: r["positive"] and r["two_sounding"])
    show("positives with an off-screen sound", lambda r: r["positive"] and r["offscreen_sound"])
    show("negatives", lambda r: not r["positive"])
    show("negatives whose audio class is visible (look-alikes)", lambda r: not r["positive"] and r["look_alike"])
    show("negatives with no audio class visible", lambda r: not r["positive"] and not r["look_alike"])
    show("negatives with the frame's background sound", lambda r: not r["positive"] and r["same_texture"])
    reference = np.mean([r["positive"] or not r["look_alike"] for r in rows])
    print(f"  class-matching reference (match iff a heard class is visible): accuracy {reference:.3f}")


if __name__ == "__main__":
    main()
