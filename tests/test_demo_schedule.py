"""The demo's deadline: the training budget it hands l3net_train, and the flagfile's own budget."""

import json
import os

import pytest

from l3net import demo, demo_schedule
from l3net.shipped_configs import ConfigError, config_path


def test_training_gets_what_the_deadline_leaves_at_most_the_flagfile_budget():
    after = ["evaluate", "probe", "retrieval", "real_audio"]
    reserve = demo_schedule.TRAIN_OVERHEAD_SECONDS + sum(demo_schedule.AFTER_TRAINING_SECONDS.values())
    # 18.5 min deadline, 73 s spent before training (a slow machine's generation and conversion).
    expected = int((18.5 * 60 - 73 - reserve) / 60 * 10) / 10
    assert demo_schedule.training_minutes(18.5, 73.0, after, 15.5) == expected < 15.5
    assert demo_schedule.training_minutes(30.0, 73.0, after, 15.5) == 15.5          # the flagfile's is smaller
    assert demo_schedule.training_minutes(0.0, 73.0, after, 15.5) == 15.5           # no deadline
    assert demo_schedule.training_minutes(0.0, 73.0, after, None) is None
    assert demo_schedule.training_minutes(0.0, 73.0, after, 0.0) is None            # 0 = no limit
    assert demo_schedule.training_minutes(18.5, 73.0, after, 0.0) == expected       # a step-bounded flagfile
    fewer = demo_schedule.training_minutes(18.5, 73.0, ["evaluate"], 60.0)
    assert fewer == int((18.5 * 60 - 73 - demo_schedule.TRAIN_OVERHEAD_SECONDS - 20.0) / 60 * 10) / 10
    assert demo_schedule.training_minutes(5.0, 600.0, after, 15.5) == demo_schedule.MIN_TRAIN_MINUTES


def test_flagfile_budget_follows_included_configs(tmp_path):
    assert demo_schedule.flagfile_time_budget(config_path("demo_cpu")) == 15.5
    own = tmp_path / "mine.flags"
    own.write_text("--config=demo_cpu\n--time_budget_minutes=4\n")
    assert demo_schedule.flagfile_time_budget(str(own)) == 4.0
    steps_only = tmp_path / "steps.flags"
    steps_only.write_text("--train_steps=10\n")
    assert demo_schedule.flagfile_time_budget(str(steps_only)) is None
    bad = tmp_path / "bad.flags"
    bad.write_text("--time_budget_minutes=soon\n")
    with pytest.raises(ConfigError, match="--time_budget_minutes=soon: not a number"):
        demo_schedule.flagfile_time_budget(str(bad))


class _FakeStages:
    """Stands in for the demo's subprocesses: records argv, writes what each stage leaves behind,
    and advances a fake clock by the stage's duration."""

    def __init__(self, seconds, accuracy=0.9):
        self.seconds, self.now, self.argv, self.accuracy = seconds, 0.0, {}, accuracy

    def clock(self):
        return self.now

    def run(self, stage, argv, timings):
        self.argv[stage] = argv
        self.now += self.seconds.get(stage, 1.0)
        timings[stage] = self.seconds.get(stage, 1.0)
        value = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in argv if a.startswith("--") and "=" in a}
        if stage == "generate":
            out = argv[argv.index("--output_dir") + 1]
            os.makedirs(out)
            open(os.path.join(out, "labels.csv"), "w").close()
        if stage == "train":
            os.makedirs(value["--model_dir"])
        if stage == "evaluate":
            with open(value["--output_json"], "w") as f:
                json.dump({"accuracy": self.accuracy, "num_pairs": 8}, f)


# 180 s spent on generation and conversion; 20 s of l3net_train start-up and 20 s of evaluation
# kept: 18.5 min leaves (1110 - 220) / 60 = 14.8 min, 10 min leaves 6.3, 25 min more than the
# flagfile's 15.5 (no override), 0 = no deadline (no override).
@pytest.mark.parametrize("deadline, expected", [("18.5", ["--time_budget_minutes=14.8"]),
                                                ("10", ["--time_budget_minutes=6.3"]), ("25", []), ("0", [])])
def test_demo_passes_the_deadline_budget_to_training(run_cli, tmp_path, monkeypatch, capsys, deadline, expected):
    assert demo_schedule.TRAIN_OVERHEAD_SECONDS == demo_schedule.AFTER_TRAINING_SECONDS["evaluate"] == 20.0
    fake = _FakeStages({"generate": 100.0, "convert": 80.0})
    monkeypatch.setattr(demo, "_run", fake.run)
    monkeypatch.setattr(demo.time, "monotonic", fake.clock)
    code = run_cli(demo, ["l3net_demo", f"--workdir={tmp_path}", f"--deadline_minutes={deadline}", "--noprobe",
                          "--noretrieval", "--noreal_audio"], "l3net_demo")
    assert code == 0
    assert [a for a in fake.argv["train"] if a.startswith("--time_budget_minutes")] == expected
    shown = expected[0].split("=")[1] if expected else "15.5"
    assert f"training time budget: {shown} min" in capsys.readouterr().out


def test_demo_refuses_a_negative_deadline(run_cli, tmp_path, capsys):
    assert run_cli(demo, ["l3net_demo", "--deadline_minutes=-1", f"--workdir={tmp_path / 'w'}"], "l3net_demo") == 2
    assert capsys.readouterr().err.strip() == ("l3net_demo: error: --deadline_minutes=-1: must be >= 0 "
                                               "(0 = no deadline)")
    assert not (tmp_path / "w").exists()


def test_demo_refuses_a_flagfile_whose_budget_is_not_a_number(run_cli, tmp_path, capsys):
    bad = tmp_path / "bad.flags"
    bad.write_text("--config=demo_cpu\n--time_budget_minutes=soon\n")
    work = tmp_path / "w"
    assert run_cli(demo, ["l3net_demo", f"--train_flagfile={bad}", f"--workdir={work}"], "l3net_demo") == 2
    err = capsys.readouterr().err.strip()
    assert err == f"l3net_demo: error: --train_flagfile: {bad}: --time_budget_minutes=soon: not a number of minutes"
    assert not work.exists()


@pytest.mark.parametrize("instructions, recipe", [(["avx512_bf16"], demo.RECIPE_BF16), ([], demo.RECIPE)])
def test_demo_runs_the_bfloat16_recipe_only_on_cpus_with_bfloat16_instructions(
        run_cli, tmp_path, monkeypatch, capsys, instructions, recipe):
    assert demo.RECIPE == ("demo_cpu", "basic", 480) and demo.RECIPE_BF16 == ("demo_cpu_bf16", "rich", 960)
    fake = _FakeStages({})
    monkeypatch.setattr(demo, "_run", fake.run)
    monkeypatch.setattr(demo, "bfloat16_instructions", lambda: instructions)
    code = run_cli(demo, ["l3net_demo", f"--workdir={tmp_path}", "--noprobe", "--noretrieval", "--noreal_audio"],
                   "l3net_demo")
    assert code == 0
    generate = fake.argv["generate"]
    assert generate[generate.index("--world") + 1] == recipe.world
    assert generate[generate.index("--num_videos") + 1] == str(recipe.num_videos)
    train = dict(a.split("=", 1) for a in fake.argv["train"] if a.startswith("--"))
    assert os.path.samefile(train["--flagfile"], config_path(recipe.config))
    suffix = "_rich" if recipe.world == "rich" else ""
    expected_dir = f"model_{recipe.config}_n{recipe.num_videos}_seed0_clutter0{suffix}"
    assert os.path.basename(train["--model_dir"]) == expected_dir
    out = capsys.readouterr().out
    assert f"=== recipe: {recipe.config} on {recipe.num_videos} {recipe.world}-world videos (" in out
    assert f"training config: {train['--flagfile']}" in out


def test_cluttered_video_gets_batch_negatives_on_bfloat16_cpus(run_cli, tmp_path, monkeypatch):
    assert demo.default_recipe(["avx512_bf16"], 1.0) == ("demo_cpu_bf16_clutter", "rich", 1920)
    assert demo.default_recipe(["avx512_bf16"], 0.0) == demo.RECIPE_BF16
    assert demo.default_recipe([], 1.0) == demo.RECIPE
    fake = _FakeStages({})
    monkeypatch.setattr(demo, "_run", fake.run)
    monkeypatch.setattr(demo, "bfloat16_instructions", lambda: ["avx512_bf16"])
    assert run_cli(demo, ["l3net_demo", f"--workdir={tmp_path}", "--clutter=1", "--noprobe", "--noretrieval",
                          "--noreal_audio"], "l3net_demo") == 0
    world, videos, flagfile = _generated_and_trained(fake)
    assert (world, videos) == ("rich", "1920") and os.path.samefile(flagfile, config_path("demo_cpu_bf16_clutter"))


@pytest.mark.parametrize("clutter, extra, accuracy, target, below", [
    ("0", [], 0.8, "0.85", True), ("1", [], 0.8, "0.75", False), ("1", [], 0.74, "0.75", True),
    ("1", ["--target_accuracy=0.9"], 0.8, "0.9", True)])
def test_the_summary_judges_held_out_accuracy_by_the_target_of_its_clutter(
        run_cli, tmp_path, monkeypatch, capsys, clutter, extra, accuracy, target, below):
    fake = _FakeStages({}, accuracy=accuracy)
    monkeypatch.setattr(demo, "_run", fake.run)
    monkeypatch.setattr(demo, "bfloat16_instructions", lambda: [])
    assert run_cli(demo, ["l3net_demo", f"--workdir={tmp_path}", f"--clutter={clutter}", *extra, "--noprobe",
                          "--noretrieval", "--noreal_audio"], "l3net_demo") == 0
    out = capsys.readouterr().out
    assert f"(chance 0.5, target >= {target})" in out
    assert (f"note: below the target accuracy {target}" in out) == below


def _generated_and_trained(fake):
    """(--world, --num_videos) of the fake generate stage and the training flagfile of the fake train stage."""
    generate = fake.argv["generate"]
    train = dict(a.split("=", 1) for a in fake.argv["train"] if a.startswith("--"))
    return generate[generate.index("--world") + 1], generate[generate.index("--num_videos") + 1], train["--flagfile"]


def test_given_flags_win_over_the_cpu_recipe(run_cli, tmp_path, monkeypatch):
    fake = _FakeStages({})
    monkeypatch.setattr(demo, "_run", fake.run)
    monkeypatch.setattr(demo, "bfloat16_instructions", lambda: ["amx_bf16"])
    stages = ["--noprobe", "--noretrieval", "--noreal_audio"]
    assert run_cli(demo, ["l3net_demo", f"--workdir={tmp_path / 'a'}", "--world=basic", *stages], "l3net_demo") == 0
    world, videos, flagfile = _generated_and_trained(fake)
    assert (world, videos) == ("basic", "960") and os.path.samefile(flagfile, config_path("demo_cpu_bf16"))
    # An explicit training config is the user's choice: no recipe, the flags' own defaults.
    assert run_cli(demo, ["l3net_demo", f"--workdir={tmp_path / 'b'}", "--train_flagfile=demo_cpu", *stages],
                   "l3net_demo") == 0
    world, videos, flagfile = _generated_and_trained(fake)
    assert (world, videos) == ("basic", "480") and os.path.samefile(flagfile, config_path("demo_cpu"))
