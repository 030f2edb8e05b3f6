"""What each hostile input of issue 16 item 6 does to the embedding tools: behaviour, time, peak memory.

Every case runs in a fresh interpreter, so its peak RSS is its own (VmHWM from /proc: ru_maxrss
would carry this script's peak over fork and exec). The model is the tests' tiny L3-Net (8 kHz,
0.5 s windows; random weights: speed and memory do not depend on them); hop 0.1 s as OpenL3's
default. The files are crafted by tests/hostile_media.py. The "baseline" line of each case is a
fresh interpreter that imports the embedding API and loads the model, doing nothing else.

  .venv/bin/python bench/hostile_inputs.py            # ~2 min on 2 CPU cores
  .venv/bin/python bench/hostile_inputs.py --cases three_hours --hop 0.1

Linux only (/proc/self/status).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, os.pardir, "tests"))

import hostile_media as hm  # noqa: E402

RATE = 8000

# Each case: what the child runs on the prepared file(s) `p` (a dict), with `model` and `hop`.
CASES = {
    "baseline": "pass",
    "nan_samples": "api.process_audio_file(p['nan'], output_dir=out, model=model, hop_size=hop)",
    "one_sample": "api.process_audio_file(p['one'], output_dir=out, model=model, hop_size=hop)",
    "zero_frames": "api.process_audio_file(p['zero'], output_dir=out, model=model, hop_size=hop)",
    "eight_channels": "api.process_audio_file(p['eight'], output_dir=out, model=model, hop_size=hop)",
    "khz_192": "api.process_audio_file(p['k192'], output_dir=out, model=model, hop_size=hop)",
    "three_hours": "api.process_audio_file(p['long'], output_dir=out, model=model, hop_size=hop)",
    "lying_extension": "api.process_audio_file(p['lying'], output_dir=out, model=model, hop_size=hop)",
    "one_pixel": "api.process_image_file(p['pixel'], output_dir=out, model=model)",
    "image_20k": "api.process_image_file(p['huge'], output_dir=out, model=model)",
    "image_48mpx": "api.process_image_file(p['large'], output_dir=out, model=model)",
    "dir_1000": "cli",
}

CHILD = """
import json, os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
def peak():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
p, model_dir, hop, out, code = json.loads(sys.argv[1])
from l3net.embed import api
from l3net.embed.embedder import get_embedder
model = get_embedder(model_dir)
start_peak, start = peak(), time.monotonic()
result = "ok"
if code == "cli":  # l3net_embed in this process, so that its peak is measured
    import contextlib, io
    from l3net.embed import cli
    sys.argv = ["l3net_embed", "audio", p["dir"], "--model", model_dir, "--output_dir", out, "--hop", str(hop)]
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            cli.run()
            status = 0
        except SystemExit as e:
            status = e.code
    failed = [line for line in stderr.getvalue().splitlines() if line.startswith("l3net_embed: failed: ")]
    result = f"exit {status}: {stdout.getvalue().strip()}; {len(failed)} failure lines"
else:
    try:
        exec(code)
    except Exception as e:
        result = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
print(json.dumps({"result": result, "seconds": time.monotonic() - start, "start_mb": start_peak, "peak_mb": peak()}))
"""


def write_model_dir(path: str) -> str:
    sys.path.insert(0, os.path.join(HERE, os.pardir, "tests"))
    import conftest

    return conftest._write_tiny_model_dir(path)


def prepare(tmp: str, hours: float) -> dict:
    p = {}
    nan = hm.burst(44100, 1.0)
    nan[4410] = np.nan
    p["nan"] = hm.float_wav(os.path.join(tmp, "nan.wav"), nan, 44100)
    p["one"] = hm.float_wav(os.path.join(tmp, "one.wav"), np.array([0.5], np.float32), 48000)
    p["zero"] = hm.float_wav(os.path.join(tmp, "zero.wav"), np.zeros(0, np.float32), RATE)
    p["eight"] = hm.float_wav(os.path.join(tmp, "eight.wav"), np.stack([hm.burst(44100, 10.0)] * 8, 1), 44100)
    p["k192"] = hm.float_wav(os.path.join(tmp, "k192.wav"), hm.burst(192000, 10.0), 192000)
    p["long"] = hm.long_flac(os.path.join(tmp, "long.flac"), int(hours * 3600))
    flac = hm.long_flac(os.path.join(tmp, "minute.flac"), 60)
    p["lying"] = shutil.copy(flac, os.path.join(tmp, "minute_really_flac.wav"))
    p["pixel"] = hm.png(os.path.join(tmp, "pixel.png"), 1, 1, rgb=(10, 200, 30))
    p["huge"] = hm.png(os.path.join(tmp, "huge.png"), 20000, 20000)
    p["large"] = hm.png(os.path.join(tmp, "large.png"), 8000, 6000)
    folder = os.path.join(tmp, "dir")
    os.makedirs(folder)
    for k in range(990):
        hm.good_wav(os.path.join(folder, f"g{k:03d}.wav"), k)
    hm.bad_files(folder)
    p["dir"] = folder
    return p


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--hop", type=float, default=0.1)
    parser.add_argument("--hours", type=float, default=3.0, help="length of the long file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="l3net_bench_hostile_") as tmp:
        t0 = time.monotonic()
        model_dir = write_model_dir(os.path.join(tmp, "model"))
        files = prepare(tmp, args.hours)
        print(f"fixtures written in {time.monotonic() - t0:.1f} s; hop {args.hop} s; tiny model at {RATE} Hz")
        print(f"{'case':<16} {'seconds':>8} {'peak MB':>8} {'+MB':>6}  result")
        for case in args.cases:
            out = os.path.join(tmp, "out", case)
            spec = json.dumps([files, model_dir, args.hop, out, CASES[case]])
            proc = subprocess.run([sys.executable, "-c", CHILD, spec], capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"{case:<16} {'-':>8} {'-':>8} {'-':>6}  CRASH: exit {proc.returncode} "
                      f"{(proc.stderr.strip().splitlines() or [''])[-1][:150]}")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"{case:<16} {r['seconds']:8.2f} {r['peak_mb']:8.0f} {r['peak_mb'] - r['start_mb']:6.0f}  "
                  f"{r['result'][:160]}")


if __name__ == "__main__":
    main()
