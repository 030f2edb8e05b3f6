"""`make hear-check`: the HEAR project's own validator on l3net.hear (not part of the test suite).

hear-validator imports PyTorch, so it runs in a separate environment (`make hear-check` builds it:
see the Makefile). Usage, in that environment:

    python tests/hear_check.py [MODEL_DIR_OR_EXPORT_DIR ...] [--workdir build/hear-check]

Without a directory, two small random-init models are written under --workdir and checked, each
as a model directory and as its `l3net_export`: one at 16 kHz (a rate HEAR offers; the CPU
demo's architecture) and one at 8 kHz (which l3net.hear feeds at 16 kHz and resamples).
Exit status 0 when every validation printed "Looks good!".
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from typing import List


def _write_models(workdir: str) -> List[str]:
    import keras

    from l3net.model_dir import ModelDir
    from l3net.models import build_model
    from l3net.models.config import ModelConfig
    from l3net.serving.export import export_model

    configs = {
        "demo16k": ModelConfig(image_size=48, vision_widths=(16, 32, 64, 128), audio_widths=(8, 16, 32, 64),
                               frontend="mel32", sample_rate=16000, batchnorm_momentum=0.9),
        "tiny8k": ModelConfig(image_size=32, vision_widths=(8, 16), audio_widths=(8, 16), frontend="mel32",
                              sample_rate=8000, audio_seconds=0.5),
    }
    dirs = []
    for name, cfg in configs.items():
        model_dir = os.path.join(workdir, name)
        export_dir = os.path.join(workdir, f"{name}_export")
        shutil.rmtree(model_dir, ignore_errors=True)
        keras.utils.set_random_seed(0)
        ModelDir(model_dir).write_for_inference(cfg, build_model(cfg.validate()), step=1)
        export_model(model_dir, export_dir)
        dirs += [model_dir, export_dir]
    return dirs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help="model or export directories (default: small random models)")
    parser.add_argument("--workdir", default=os.path.join("build", "hear-check"))
    args = parser.parse_args()
    validator = shutil.which("hear-validator", path=os.path.dirname(sys.executable)) or shutil.which("hear-validator")
    if not validator:
        print("hear_check: hear-validator is not installed here; run `make hear-check`", file=sys.stderr)
        return 2
    models = args.models or _write_models(args.workdir)
    failed = []
    for model in models:
        print(f"\n=== hear-validator l3net.hear -m {model}", flush=True)
        proc = subprocess.run([validator, "l3net.hear", "-m", model], capture_output=True, text=True)
        sys.stdout.write(proc.stdout)
        # The validator's own warnings (TensorFlow's start-up lines in its process are left out).
        sys.stdout.write("".join(line + "\n" for line in proc.stderr.splitlines() if "Warning: " in line))
        if proc.returncode != 0 or "Looks good!" not in proc.stdout:
            failed.append(model)
            sys.stdout.write(proc.stderr[-3000:])
    print(f"\nhear_check: {len(models) - len(failed)} of {len(models)} passed hear-validator"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
