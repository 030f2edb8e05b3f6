"""The package as users get it: shipped configs, one version, a wheel that works, quiet commands.

The slow test builds the wheel from a copy of the sources, installs it (without dependencies)
into a fresh virtual environment that borrows this environment's installed dependencies through
a .pth file (so TensorFlow is not downloaded again), and runs the installed commands from a
folder that is not the checkout: `l3net_train --helpfull`, a shipped config by name and by the
README's path, and `l3net_demo`'s first stages on a tiny size.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import warnings
import zipfile

import pytest

from l3net import shipped_configs, tensorflow_output

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
CONFIGS = sorted(name[:-6] for name in os.listdir(os.path.join(ROOT, "configs")) if name.endswith(".flags"))


def _quiet_env() -> dict:
    """The environment of a user's shell: conftest's TF_CPP_MIN_LOG_LEVEL and l3net's own variables removed."""
    return {k: v for k, v in os.environ.items()
            if k not in ("TF_CPP_MIN_LOG_LEVEL", tensorflow_output.VERBOSITY_ENV, "CUDA_VISIBLE_DEVICES")}


# --- shipped configs ----------------------------------------------------------------------------------

def test_every_config_is_shipped_and_found_by_name(tmp_path, monkeypatch, capsys):
    assert {"paper_l3", "paper_avenet", "demo_cpu"} <= set(CONFIGS)
    assert shipped_configs.config_names() == CONFIGS
    for name in CONFIGS:
        path = shipped_configs.config_path(name)
        assert os.path.samefile(path, os.path.join(ROOT, "configs", f"{name}.flags"))
        assert shipped_configs.config_path(f"{name}.flags") == path
    with pytest.raises(shipped_configs.ConfigError, match=r"no shipped config .*\(shipped: demo_cpu"):
        shipped_configs.config_path("paper_l4")
    with pytest.raises(shipped_configs.ConfigError):
        shipped_configs.config_path("../configs/paper_l3")
    # A flagfile path that exists is taken as it is; the README's configs/X.flags works from anywhere.
    own = tmp_path / "configs" / "paper_l3.flags"
    own.parent.mkdir()
    own.write_text("--batch_size=1\n")
    monkeypatch.chdir(tmp_path)
    assert shipped_configs.resolve_flagfile("configs/paper_l3.flags", "tool") == "configs/paper_l3.flags"
    os.remove(own)
    assert shipped_configs.resolve_flagfile("configs/paper_l3.flags", "tool") == shipped_configs.config_path("paper_l3")
    assert "tool: note: configs/paper_l3.flags is not here; using the shipped" in capsys.readouterr().err
    assert shipped_configs.resolve_flagfile("demo_cpu", "tool") == shipped_configs.config_path("demo_cpu")
    with pytest.raises(shipped_configs.ConfigError, match="mine.flags: no such flagfile"):
        shipped_configs.resolve_flagfile("elsewhere/mine.flags")


def test_configs_expand_in_place_also_inside_flagfiles(tmp_path):
    mine = tmp_path / "mine.flags"
    mine.write_text("# a user's flagfile on top of a shipped config\n--config=demo_cpu\n--batch_size=3\n")
    args = shipped_configs.expand_configs(["l3net_train", f"--flagfile={mine}", "--seed=5"], "l3net_train")
    assert args[0] == "l3net_train" and not any(a.startswith(("--config", "--flagfile")) for a in args)
    assert args.index("--batch_size=32") < args.index("--batch_size=3") < args.index("--seed=5")
    assert "--image_size=48" in args  # from configs/demo_cpu.flags
    spaced = shipped_configs.expand_configs(["t", "--config", "paper_l3", "--batch_size=2"], "t")
    assert spaced[-1] == "--batch_size=2" and "--image_size=224" in spaced
    with pytest.raises(shipped_configs.ConfigError, match="--config=nope"):
        shipped_configs.expand_configs(["t", "--config=nope"], "t")


def test_transfer_and_bf16_configs_are_the_demo_recipe_with_a_wider_audio_tower():
    # README "Features that transfer" describes transfer_cpu as exactly this; a change to one of the
    # two files alone would make that (and its measured numbers) wrong.
    def resolved(name):
        args = shipped_configs.expand_configs(["t", f"--config={name}"], "t")[1:]
        return dict(a.split("=", 1) for a in args)

    demo, transfer = resolved("demo_cpu"), resolved("transfer_cpu")
    assert demo.keys() == transfer.keys()
    changed = {k: (demo[k], transfer[k]) for k in demo if demo[k] != transfer[k]}
    assert changed == {"--audio_widths": ("8,16,32,64", "16,32,64,128"), "--train_steps": ("100000", "7000"),
                       "--time_budget_minutes": ("15.5", "0")}
    # demo_cpu_bf16 (what l3net_demo trains on CPUs with bfloat16 instructions): the wide tower in bfloat16.
    bf16 = resolved("demo_cpu_bf16")
    assert set(bf16) - set(demo) == {"--mixed_precision"} and bf16["--mixed_precision"] == "true"
    assert {k: v for k, v in bf16.items() if k in demo and demo[k] != v} == {"--audio_widths": "16,32,64,128"}
    # demo_cpu_bf16_clutter (l3net_demo --clutter > 0 there): the same as AVE-Net with the batch's negatives.
    clutter = resolved("demo_cpu_bf16_clutter")
    assert {k: v for k, v in clutter.items() if bf16.get(k) != v} == {"--batch_negatives": "true", "--model": "avenet"}


def test_setup_ships_configs_and_has_one_version_source():
    with open(os.path.join(ROOT, "setup.py"), encoding="utf-8") as f:
        setup_text = f.read()
    assert '"l3net.configs": "configs"' in setup_text and '"l3net.configs": ["*.flags"]' in setup_text
    assert not re.search(r"version=\"", setup_text)  # read from l3net/__init__.py
    with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as f:
        pyproject = f.read()
    assert "[build-system]" in pyproject and 'build-backend = "setuptools.build_meta"' in pyproject
    with open(os.path.join(ROOT, "LICENSE"), encoding="utf-8") as f:
        assert "Apache License" in f.read(300)
    with open(os.path.join(ROOT, "MANIFEST.in"), encoding="utf-8") as f:
        assert "configs *.flags" in f.read()


# --- quiet by default ---------------------------------------------------------------------------------

def test_what_counts_as_tensorflow_noise():
    banner = ("I0000 00:00:1795859514.804421    5813 port.cc:153] oneDNN custom operations are on. You may see "
              "slightly different numerical results")
    cuinit = "E0000 00:00:1795859519.875871    5813 cuda_platform.cc:52] failed call to cuInit: INTERNAL"
    notice = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    assert tensorflow_output.is_tensorflow_noise(banner, 1) and tensorflow_output.is_tensorflow_noise(notice, 3)
    assert tensorflow_output.is_tensorflow_noise(cuinit, 3) and not tensorflow_output.is_tensorflow_noise(cuinit, 2)
    assert not tensorflow_output.is_tensorflow_noise(banner, 0)
    assert not tensorflow_output.is_tensorflow_noise("Traceback (most recent call last):", 3)
    assert not tensorflow_output.is_tensorflow_noise("F0000 00:00:1.2  1 x.cc:1] fatal", 3)


def test_verbosity_flag_forms(monkeypatch):
    monkeypatch.delenv(tensorflow_output.VERBOSITY_ENV, raising=False)
    assert tensorflow_output.normalize_verbosity_args(["t", "-v", "--x=1"]) == ["t", "--verbosity=0", "--x=1"]
    assert tensorflow_output.normalize_verbosity_args(["t", "-v", "1"]) == ["t", "-v", "1"]
    assert tensorflow_output.normalize_verbosity_args(["t", "--", "-v"]) == ["t", "--", "-v"]
    assert tensorflow_output.requested_verbosity(["t", "a.wav"]) is None
    assert tensorflow_output.requested_verbosity(["t", "-v"]) == 0
    assert tensorflow_output.requested_verbosity(["t", "--verbosity=1"]) == 1
    assert tensorflow_output.requested_verbosity(["t", "-v", "-1"]) == -1
    assert not tensorflow_output.is_verbose(["t", "-v", "-1"])
    monkeypatch.setenv(tensorflow_output.VERBOSITY_ENV, "0")  # how l3net_demo passes -v to its stages
    assert tensorflow_output.is_verbose(["t"])


def test_python_warnings_and_tensorflow_log_are_one_line(capsys):
    tf_logger = logging.getLogger("tensorflow")
    saved = (tf_logger.level, list(tf_logger.handlers), tf_logger.propagate, warnings.showwarning)
    try:
        tensorflow_output.configure_python_logging("l3net_x", verbose=False)
        tf_logger.info("not shown")
        tf_logger.warning("There are non-GPU devices in `tf.distribute.Strategy`.\nsecond line")
        warnings.showwarning(UserWarning("careful\nmore"), UserWarning, "f.py", 1)
        assert capsys.readouterr().err.splitlines() == [
            "l3net_x: warning: There are non-GPU devices in `tf.distribute.Strategy`.",
            "l3net_x: warning: UserWarning: careful"]
    finally:
        tf_logger.setLevel(saved[0])
        tf_logger.handlers[:] = saved[1]
        tf_logger.propagate = saved[2]
        warnings.showwarning = saved[3]


@pytest.mark.slow
def test_a_command_that_loads_tensorflow_prints_only_its_own_lines(tmp_path):
    import tensorflow as tf

    argv = [os.path.join(BIN, "l3net_train"), "--config=demo_cpu", "--strategy=mirrored",
            f"--data_dir={tmp_path}/none", f"--model_dir={tmp_path}/m"]
    quiet = subprocess.run(argv, capture_output=True, text=True, env=_quiet_env(), cwd=str(tmp_path), timeout=300)
    assert quiet.returncode == 2
    lines = quiet.stderr.strip().splitlines()
    assert lines[-1].startswith("l3net_train: error: --data_dir: ")
    if not tf.config.list_physical_devices("GPU"):  # a real warning still shows, in one line
        assert lines[:-1] == ["l3net_train: warning: --strategy=mirrored asks for a GPU but TensorFlow finds none; "
                              "running on the CPU (-v 0 shows TensorFlow's reason)"]
    else:
        assert lines[:-1] == []
    verbose = subprocess.run(argv + ["-v"], capture_output=True, text=True, env=_quiet_env(), cwd=str(tmp_path),
                             timeout=300)
    assert verbose.returncode == 2
    assert any(re.match(r"^[IWE]\d{4} ", line) for line in verbose.stderr.splitlines()), verbose.stderr


# --- the wheel in a fresh environment --------------------------------------------------------------------

def _copy_sources(dest: str) -> str:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    os.makedirs(dest)
    for name in ("setup.py", "pyproject.toml", "MANIFEST.in", "README.md", "LICENSE"):
        shutil.copy(os.path.join(ROOT, name), dest)
    for name in ("l3net", "data_tools", "configs"):
        shutil.copytree(os.path.join(ROOT, name), os.path.join(dest, name), ignore=ignore)
    return dest


def _run(argv, cwd, timeout=600, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, env=_quiet_env(), timeout=timeout, **kw)


@pytest.mark.slow
def test_wheel_installs_and_runs_outside_the_checkout(tmp_path):
    src = _copy_sources(str(tmp_path / "src"))
    (tmp_path / "dist").mkdir()
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                  str(tmp_path / "dist"), src], cwd=str(tmp_path))
    assert built.returncode == 0, built.stderr[-3000:]
    [wheel] = [os.path.join(tmp_path, "dist", n) for n in os.listdir(tmp_path / "dist") if n.endswith(".whl")]
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"l3net/configs/{name}.flags" for name in CONFIGS} <= names
    assert {"l3net/hear.py", "l3net/serving/pooled.py", "data_tools/cli.py"} <= names
    assert any(n.endswith(".dist-info/LICENSE") or "/licenses/LICENSE" in n for n in names)

    # A fresh environment; the dependencies come from this one (a .pth), l3net from the wheel.
    venv = str(tmp_path / "venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    fresh = subprocess.run([os.path.join(venv, "bin", "python"), "-c",
                            "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                           capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(fresh, "deps.pth"), "w", encoding="utf-8") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    installed = _run([sys.executable, "-m", "pip", "--python", os.path.join(venv, "bin", "python"), "install",
                      "--no-deps", "--no-index", "-q", wheel], cwd=str(tmp_path))
    assert installed.returncode == 0, installed.stderr[-3000:]
    bin_dir = os.path.join(venv, "bin")
    work = tmp_path / "elsewhere"
    work.mkdir()

    where = _run([os.path.join(bin_dir, "python"), "-c",
                  "import l3net, l3net.shipped_configs as c, l3net.demo as d; "
                  "print(l3net.__file__); print(c.config_path('paper_l3')); print(c.config_path(d.DEMO_CONFIG)); "
                  "print(c.config_path(d.DEMO_CONFIG_BF16))"],
                 cwd=str(work))
    assert where.returncode == 0, where.stderr[-3000:]
    package, paper, demo, demo_bf16 = where.stdout.split()
    for path in (package, paper, demo, demo_bf16):
        assert path.startswith(fresh) and os.path.isfile(path), path

    helpfull = _run([os.path.join(bin_dir, "l3net_train"), "--helpfull"], cwd=str(work))
    assert helpfull.returncode == 0 and "--config" in helpfull.stdout and "--learning_rate" in helpfull.stdout
    for flag in ("--config=paper_l3", "--flagfile=configs/paper_l3.flags"):
        run = _run([os.path.join(bin_dir, "l3net_train"), flag, "--strategy=default", f"--data_dir={work}/none",
                    f"--model_dir={work}/m"], cwd=str(work))
        assert run.returncode == 2 and run.stderr.strip().splitlines()[-1].startswith(
            "l3net_train: error: --data_dir: "), run.stderr  # the config parsed; the missing data is the error

    # l3net_demo from the installed package: generate, convert and train (a few steps of the shipped
    # demo_cpu config, through a flagfile that names it) on 12 videos, then evaluation, which needs
    # a test split these 12 videos do not have.
    tiny = work / "tiny.flags"
    tiny.write_text("--config=demo_cpu\n--train_steps=2\n--eval_every_steps=2\n--eval_pairs=16\n--batch_size=8\n"
                    "--log_every_steps=1\n--warmup_steps=0\n--time_budget_minutes=0\n--video_shuffle_buffer=16\n"
                    "--example_shuffle_buffer=64\n")
    demo_run = _run([os.path.join(bin_dir, "l3net_demo"), f"--workdir={work}/demo", "--num_videos=12",
                     "--workers=1", "--probe=false", "--retrieval=false", f"--train_flagfile={tiny}"],
                    cwd=str(work), timeout=900)
    out = demo_run.stdout + demo_run.stderr
    assert f"=== train: {bin_dir}/l3net_train" in out, out[-3000:]
    assert "l3net_train: stopped by steps at step 2" in out, out[-3000:]
    model_dir = work / "demo" / "model_tiny_n12_seed0_clutter0"
    resolved = (model_dir / "flags.txt").read_text()
    assert "--image_size=48" in resolved and "--train_steps=2" in resolved  # demo_cpu + the override
    noise = [line for line in out.splitlines() if re.match(r"^([IWEF]\d{4} |WARNING: All log messages)", line)]
    assert noise == [], noise
