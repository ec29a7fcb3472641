"""A sweep as jobs (zoo.sweep): small picklable jobs, run here or in processes of their own."""

import json
import pickle
import textwrap
from pathlib import Path

import pytest

from conftest import TINY_REGISTRY
from zoo.errors import ZooError
from zoo.executors import Processes
from zoo.sweep import Done, Epoch, Failed, Source, Started, plan_of, plan_sweep, run_sweep

pytestmark = pytest.mark.slow
PLUGINS = Path(__file__).resolve().parent / "plugins"


def test_a_sweep_is_a_list_of_small_picklable_jobs(project):
    source = Source.from_registry(project / "registry.toml", {"protocol.folds": 2, "protocol.seeds": 2})
    jobs = plan_sweep(source)
    assert len(jobs) == 2 * 2 * 2  # folds x models x seeds
    assert (
        jobs[0].label == "baseline_cnn (fold 1/2, seed 0)"
        and jobs[-1].label == "efficientnet_b0 (fold 2/2, seed 1)"
    )
    assert pickle.loads(pickle.dumps(jobs)) == jobs and max(len(pickle.dumps(j)) for j in jobs) < 1000
    assert len({plan_of(job).run_id for job in jobs}) == 8


def test_jobs_in_two_processes_write_the_planned_run_folders(project, zoo_cli):
    code, out, err = zoo_cli(
        "run", "baseline_cnn", "--epochs", "1", "--set", "protocol.folds=2", "--jobs", "2"
    )
    assert code == 0, err
    folder = project / "experiments" / "synthetic" / "baseline_cnn"
    source = Source.from_registry(project / "registry.toml", {"protocol.epochs": 1, "protocol.folds": 2})
    planned = {plan_of(job).run_id for job in plan_sweep(source, ["baseline_cnn"])}
    assert {p.parent.name for p in folder.glob("*/metrics.json")} == planned
    assert "| 1 | baseline_cnn (2 runs) |" in (project / "leaderboard" / "synthetic.md").read_text()
    code, out, _ = zoo_cli("run", "baseline_cnn", "--epochs", "1", "--set", "protocol.folds=2", "--jobs", "2")
    assert code == 0 and out.count("already finished with this exact config") == 2


def test_a_job_whose_worker_dies_is_recorded_as_failed_and_the_others_finish(project, zoo_cli):
    text = textwrap.dedent(TINY_REGISTRY).replace('[models.efficientnet_b0]\npretrained = "auto"\n', "")
    text += f'[models.killer]\n[plugins]\nmodules = ["{PLUGINS / "failing_models.py"}"]\n'
    (project / "registry.toml").write_text(text)
    code, out, err = zoo_cli("run", "--all", "--epochs", "1", "--jobs", "2")
    assert code == 1
    assert "killer: its worker process died (killed, or out of memory)" in err.replace("\n", " ") or (
        "its worker process died" in err
    )
    failed = json.loads(
        next((project / "experiments" / "synthetic" / "killer").glob("*/failed.json")).read_text()
    )
    assert "worker process died" in failed["error"]
    assert next((project / "experiments" / "synthetic" / "baseline_cnn").glob("*/metrics.json")).is_file()
    board = (project / "leaderboard" / "synthetic.md").read_text()
    assert "| 1 | baseline_cnn |" in board and "## Failed (not ranked)" in board


def test_run_sweep_without_the_cli(project):
    source = Source.from_registry(project / "registry.toml", {"protocol.epochs": 1})
    events = []
    outcomes = run_sweep(plan_sweep(source, ["baseline_cnn"]), events.append)
    assert len(outcomes) == 1 and outcomes[0].metrics["model"] == "baseline_cnn" and not outcomes[0].error
    assert isinstance(events[0], Started) and isinstance(events[-1], Done)
    assert sum(isinstance(e, Epoch) for e in events) == 1


def test_jobs_share_the_gpus_they_are_given_and_no_more_run_at_once_than_the_gpus_hold(project, monkeypatch):
    """Two GPUs (as CUDA_VISIBLE_DEVICES names them) at half a GPU per job: four jobs at once, two on each.
    This machine has no GPU: the jobs run on the CPU, but the executor's bookkeeping is the real one."""
    monkeypatch.setattr("zoo.executors.processes.visible_gpus", lambda: ["3", "5"])
    source = Source.from_registry(project / "registry.toml", {"protocol.epochs": 1, "protocol.seeds": 6})
    events = []
    outcomes = run_sweep(plan_sweep(source, ["baseline_cnn"]), events.append, Processes(8, gpus_per_job=0.5))
    assert len(outcomes) == 6 and not any(o.error for o in outcomes)
    running, most = {}, {"3": 0, "5": 0}
    for event in events:  # the driver sees each job's start before its end
        if isinstance(event, Started):
            running[event.job] = event.gpus
        elif isinstance(event, (Done, Failed)):
            running.pop(event.job)
        for gpu in most:
            most[gpu] = max(most[gpu], sum(g == gpu for g in running.values()))
    starts = [e.gpus for e in events if isinstance(e, Started)]
    assert sorted(set(starts)) == ["3", "5"] and max(most.values()) <= 2
    with pytest.raises(ZooError, match="--gpus-per-job 2"):
        Processes(2, gpus_per_job=2)


@pytest.mark.parametrize(
    "args, message",
    [
        (("--executor", "ray", "--jobs", "2"), "--jobs is not an option of the ray executor"),
        (("--address", "auto"), "--address is not an option of the local executor"),
        (("--executor", "slurm"), "Unknown executor 'slurm'"),
        (("--jobs", "0"), "--jobs 0: give 1 or more"),
    ],
)
def test_executor_options_that_do_not_fit_are_errors_before_any_work(project, zoo_cli, args, message):
    code, out, err = zoo_cli("run", "--all", *args)
    assert code != 0 and message in err and not (project / "experiments").exists()


def test_an_executor_from_a_local_plugin_module_runs_the_jobs(project, zoo_cli):
    """`register_executors` in a module named in registry.toml: `zoo run --executor NAME` uses it, with its
    options checked as a model's params are; zoo/ is not touched."""
    with (project / "registry.toml").open("a") as f:
        f.write(f'\n[plugins]\nmodules = ["{PLUGINS / "inline_executor.py"}"]\n')
    code, out, err = zoo_cli("run", "baseline_cnn", "--epochs", "1", "--executor", "inline")
    assert code == 0, err
    assert (project / "jobs.log").read_text() == "baseline_cnn\n"
    assert len(list((project / "experiments").glob("*/baseline_cnn/*/metrics.json"))) == 1
    code, _, err = zoo_cli("run", "baseline_cnn", "--executor", "inline", "--jobs", "2")
    assert code == 2 and "--jobs is not an option of the inline executor (its options: --log)" in err
    from zoo.registry import load_registry

    registry = load_registry([PLUGINS / "inline_executor.py"])  # as `zoo plugins` lists them
    assert {"inline", "local", "ray"} <= set(registry.executors)
    assert registry.plugin_of("executor", "inline") == "inline_executor"


def test_an_output_from_a_local_plugin_module_is_in_every_run_folder(project, zoo_cli):
    """`register_outputs`: one module adds a file to every run folder, recorded in its manifest."""
    with (project / "registry.toml").open("a") as f:
        f.write(f'\n[plugins]\nmodules = ["{PLUGINS / "extra_output.py"}"]\n')
    code, _, err = zoo_cli("run", "baseline_cnn", "--epochs", "1", "--seeds", "2")
    assert code == 0, err
    runs = sorted((project / "experiments").glob("*/baseline_cnn/*/metrics.json"))
    assert len(runs) == 2
    for metrics_file in runs:
        metrics = json.loads(metrics_file.read_text())
        hello = (metrics_file.parent / "hello.txt").read_text()
        assert hello == f"baseline_cnn {metrics['accuracy']:.4f}\n" and metrics["files"]["hello.txt"] == len(
            hello
        )


def test_workers_are_forked_only_without_a_gpu_and_with_one_thread_each():
    from zoo.executors.processes import start_method

    assert start_method(gpus=False, threads=1) == "fork"  # --jobs N on N cores: starts at once
    assert start_method(gpus=False, threads=4) == "spawn"  # OpenMP teams hang in a forked child
    assert start_method(gpus=True, threads=1) == "spawn"  # CUDA cannot be used after fork


def test_jobs_on_no_more_cores_than_jobs_say_why_they_will_not_help():
    """--jobs N on N cores or fewer, without GPUs: each run trains on a share of the cores one run alone would
    use all of, so the zoo says that training will take about as long (measured 0.94-1.27x on 2 cores)."""
    from zoo.executors.processes import cpu_advice

    said = cpu_advice(jobs=2, cores=2, gpus=False)
    assert said.startswith("--jobs 2 on 2 CPU cores: the runs split the cores that one run at a time uses")
    assert "about as long in all" in said and "more cores than jobs, or with GPUs" in said
    assert cpu_advice(jobs=2, cores=1, gpus=False).startswith("--jobs 2 on 1 CPU core: ")
    assert cpu_advice(jobs=2, cores=16, gpus=False) is None  # 8 threads each: the jobs overlap
    assert cpu_advice(jobs=4, cores=2, gpus=True) is None  # each on a GPU
    assert cpu_advice(jobs=1, cores=1, gpus=False) is None
