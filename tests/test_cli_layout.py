"""The commands' structure: one flag registry for all of them, tasks and evaluators by name.

Every console script's module is imported into this one process: a flag defined by two of them
would raise absl's DuplicateFlagError here. Shared flags get each command's own default.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import pytest
from absl import flags

from l3net import cli_flags
from l3net.evaluation.evaluators import EVALUATOR_NAMES, EvaluatorError, evaluate, parse_periodic
from l3net.tasks import TASK_MODULES, TASK_NAMES, get_task_spec
from l3net.tasks.base import SettingsError, TaskSpec

BIN = os.path.dirname(sys.executable)
COMMAND_MODULES = {
    "l3net_data": "data_tools.cli", "l3net_train": "l3net.train.main", "l3net_eval": "l3net.evaluation.cli",
    "l3net_demo": "l3net.demo", "l3net_probe": "l3net.evaluation.probe_cli",
    "l3net_retrieval": "l3net.evaluation.retrieval_cli", "l3net_localize": "l3net.localization.localize_cli",
    "l3net_export": "l3net.serving.cli", "l3net_embed": "l3net.embed.cli",
}


def test_every_command_module_imports_into_one_process():
    modules = {name: importlib.import_module(path) for name, path in COMMAND_MODULES.items()}
    with open(os.path.join(os.path.dirname(__file__), "..", "setup.py"), encoding="utf-8") as f:
        setup_text = f.read()
    for name, path in COMMAND_MODULES.items():
        assert f'"{name}={path}:run"' in setup_text, name  # the list above is the installed one
        assert callable(modules[name].run)


def test_shared_flags_take_each_commands_default():
    train = importlib.import_module("l3net.train.flags")
    probe = importlib.import_module("l3net.evaluation.probe_cli")
    embed = importlib.import_module("l3net.embed.cli")
    try:
        cli_flags.apply(train.SHARED)
        assert flags.FLAGS["batch_size"].default == 256 and flags.FLAGS["model"].default == "l3net"
        cli_flags.apply(probe.SHARED)
        assert flags.FLAGS["batch_size"].default == 64 and flags.FLAGS["hop"].default == 0.5
        cli_flags.apply(embed.SHARED)
        assert flags.FLAGS["batch_size"].default == 32 and flags.FLAGS["hop"].default == 0.1
        assert "Windows or images" in flags.FLAGS["batch_size"].help
    finally:
        cli_flags.apply({name: cli_flags.SharedFlag(None, "") for name in cli_flags.SHARED_FLAGS})


def test_a_command_cannot_declare_an_unshared_flag():
    with pytest.raises(KeyError, match="not shared flags: learning_rate"):
        cli_flags.uses(learning_rate=(1e-4, "x"))


def test_task_registry():
    assert TASK_NAMES == ("avc", "envelope")
    for name in TASK_MODULES:
        spec = get_task_spec(name)
        assert isinstance(spec, TaskSpec) and spec.name == name
    with pytest.raises(KeyError, match="known: avc, envelope"):
        get_task_spec("segmentation")


def test_avc_setup_checks_settings_before_building_anything():
    from types import SimpleNamespace

    train = importlib.import_module("l3net.train.flags")
    flags.FLAGS.unparse_flags()
    cli_flags.apply(train.SHARED)
    flags.FLAGS(["prog", "--data_dir=d", "--vision_widths=8,x"])
    try:
        info = SimpleNamespace(counts={"train": 5, "val": 2}, sample_rate=48000)
        with pytest.raises(SettingsError, match="--vision_widths=8,x"):
            get_task_spec("avc").setup(train.settings(), info)
        flags.FLAGS.vision_widths = ["8", "16"]
        setup = get_task_spec("avc").setup(train.settings(), info)
        assert setup.config.vision_widths == (8, 16) and setup.data_config.batch_size == 256
        assert setup.warnings == []
        info.counts = {"train": 1}
        with pytest.raises(SettingsError, match="AVC needs at least 2"):
            get_task_spec("avc").setup(train.settings(), info)
    finally:
        flags.FLAGS.unparse_flags()


def test_evaluator_registry_and_periodic_specs(tmp_path):
    assert set(EVALUATOR_NAMES) == {"avc", "esc50", "dcase2013", "retrieval", "localization", "envelope"}
    targets = parse_periodic(["retrieval", f"esc50@{tmp_path}"], str(tmp_path))
    assert [(t.name, t.data_dir) for t in targets] == [("retrieval", str(tmp_path)), ("esc50", str(tmp_path))]
    with pytest.raises(EvaluatorError, match="needs its benchmark folder"):
        parse_periodic(["esc50"], str(tmp_path))
    with pytest.raises(EvaluatorError, match="unknown evaluator 'ndcg'"):
        parse_periodic(["ndcg"], str(tmp_path))
    with pytest.raises(EvaluatorError, match="named twice"):
        parse_periodic(["avc", "avc"], str(tmp_path))
    with pytest.raises(EvaluatorError, match="unknown evaluator"):
        evaluate("nope", str(tmp_path), str(tmp_path))


def test_legacy_envelope_model_flag_is_accepted_with_a_note(tmp_path):
    run = subprocess.run([os.path.join(BIN, "l3net_train"), "--model=envelope", f"--data_dir={tmp_path}/none",
                          f"--model_dir={tmp_path}/m"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert "--model=envelope is now --task=envelope" in run.stderr
    assert "Traceback" not in run.stderr and not os.path.exists(tmp_path / "m")
    bad = subprocess.run([os.path.join(BIN, "l3net_train"), "--model=envelope", "--task=avc",
                          f"--data_dir={tmp_path}", f"--model_dir={tmp_path}/m"], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and "contradicts --task=avc" in bad.stderr


def test_a_closed_output_pipe_ends_a_command_quietly(tmp_path):
    # `l3net_eval avc ... | head -1` used to end in a BrokenPipeError traceback.
    script = tmp_path / "tool.py"
    script.write_text("import sys\nfrom l3net.command_line import run_tool\n"
                      "def main(argv):\n    for i in range(200000):\n        print(f'line {i}')\n    return 0\n"
                      "sys.argv = ['tool_x']\nrun_tool('tool_x', main, 'doc', [])\n")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"line 0\n"
    proc.stdout.close()   # the reader goes away, as `head -1` does
    stderr = proc.stderr.read().decode()
    from l3net.command_line import CLOSED_PIPE_STATUS

    assert proc.wait(timeout=60) == CLOSED_PIPE_STATUS == 141
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
