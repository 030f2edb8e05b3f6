"""Videos/s of `l3net_data convert` with the local process pool and with Apache Beam's DirectRunner.

Both convert the same synthetic videos (`l3net_data synthetic`, 5 s, 160x120, the demo's world)
with the same options and the same number of worker processes, into fresh output directories;
the time is the whole command as a user runs it (planning, decoding, writing, dataset.json).
DirectRunner (multi-process mode) is Beam's local test runner: its number shows the pipeline's
overhead on one machine, not what Dataflow or Flink reach on many.

    .venv/bin/python bench/convert_speed.py [--videos 200 --workers 2 --work_dir build/convert_speed]

Prints one line per converter and the machine's load (uptime) before and after.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time

BIN = os.path.dirname(sys.executable)


def _run(args) -> float:
    started = time.monotonic()
    subprocess.run([os.path.join(BIN, "l3net_data"), *args], check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def _load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--work_dir", default="build/convert_speed")
    args = parser.parse_args()
    videos = os.path.join(args.work_dir, f"videos_{args.videos}")
    if not os.path.isfile(os.path.join(videos, "labels.csv")):
        _run(["synthetic", "--output_dir", videos, "--num_videos", str(args.videos), "--seed", "0",
              "--clutter", "0", "--max_seconds", "5", "--workers", str(args.workers)])
    manifest = os.path.join(videos, "labels.csv")
    common = ["convert", "--manifest", manifest, "--workers", str(args.workers)]
    print(f"load before: {_load()}")
    for name, extra in [("local pool", []), ("Beam DirectRunner", ["--runner", "DirectRunner"])]:
        out = os.path.join(args.work_dir, "out_" + name.split()[0].lower())
        shutil.rmtree(out, ignore_errors=True)
        seconds = _run([*common, "--output_dir", out, *extra])
        print(f"{name}, {args.workers} workers: {args.videos} videos in {seconds:.1f} s = "
              f"{args.videos / seconds:.2f} videos/s")
    print(f"load after: {_load()}")


if __name__ == "__main__":
    main()
