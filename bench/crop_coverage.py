"""How often the training crop misses the sounding object, counted from the synthetic scene plans.

The synthetic frames are 4:3 and their objects sit anywhere across the width (cluttered videos put
up to four objects side by side), while the demo configs crop `image_size` pixels out of a frame
resized to `resize_short_side` (48 of 75 x 56): part of the width is never seen. A positive pair
whose crop does not contain the sounding object teaches nothing, and one that shows a silent
distractor instead teaches the wrong object. This counts both, without rendering a pixel: for
`--videos` scene plans (`data_tools.synthetic.scenes.plan_scene`) it draws `--times` random
moments and crop positions (uniform, as training does; `--centre` for evaluation's centre crop)
and tests whether the sounding object's centre falls inside the crop.

  .venv/bin/python bench/crop_coverage.py --clutter 1 --resize_short_side 56 --image_size 48
  .venv/bin/python bench/crop_coverage.py --clutter 1 --resize_short_side 48 --image_size 48 --centre
"""

from __future__ import annotations

import argparse

import numpy as np

# The generator's frame size (`data_tools.synthetic.videos.generate_videos` defaults).
WIDTH, HEIGHT = 160, 120


def miss_rates(clutter: float, resize_short_side: int, image_size: int, videos: int, times: int,
               centre: bool, world: str, seed: int) -> tuple:
    """-> (share of positives whose crop misses the sounding object's centre, share that also shows
    a silent visible object instead); frame coordinates are in frame heights, as the planner's."""
    from data_tools.synthetic.scenes import plan_scene

    aspect = WIDTH / HEIGHT
    crop = image_size / resize_short_side  # the square crop's side in frame heights (height is the short side)
    rng = np.random.default_rng(seed)
    missed = wrong = total = 0
    for index in range(videos):
        scene = plan_scene(0, index, WIDTH, HEIGHT, 10.0, clutter, world)
        sounding = [o for o in scene.objects if o.sounding and o.onscreen]
        silent = [o for o in scene.objects if o.onscreen and not o.sounding]
        for _ in range(times):
            t = np.array([rng.uniform(0.0, scene.num_frames / scene.fps)])
            u = np.array([0.5, 0.5]) if centre else rng.uniform(size=2)
            x0, y0 = u[0] * (aspect - crop), u[1] * (1.0 - crop)

            def inside(obj) -> bool:
                pose = obj.motion.pose(t)
                return x0 <= pose.cx[0] <= x0 + crop and y0 <= pose.cy[0] <= y0 + crop

            total += 1
            if not any(inside(o) for o in sounding):
                missed += 1
                wrong += any(inside(o) for o in silent)
    return missed / total, wrong / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clutter", type=float, default=1.0)
    parser.add_argument("--resize_short_side", type=int, default=56)
    parser.add_argument("--image_size", type=int, default=48)
    parser.add_argument("--videos", type=int, default=480)
    parser.add_argument("--times", type=int, default=8, help="random moments (and crops) per video")
    parser.add_argument("--centre", action="store_true", help="evaluation's centre crop instead of random crops")
    parser.add_argument("--world", default="basic")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.image_size > args.resize_short_side:
        raise SystemExit(f"bench/crop_coverage.py: --image_size={args.image_size} is larger than "
                         f"--resize_short_side={args.resize_short_side}; use at most the short side")
    missed, wrong = miss_rates(args.clutter, args.resize_short_side, args.image_size, args.videos, args.times,
                               args.centre, args.world, args.seed)
    print(f"clutter {args.clutter:g}, {'centre' if args.centre else 'random'} {args.image_size}-px crop of a frame "
          f"resized to short side {args.resize_short_side}: sounding object outside the crop in "
          f"{100 * missed:.1f} % of positives, a silent object shown instead in {100 * wrong:.1f} %")


if __name__ == "__main__":
    main()
