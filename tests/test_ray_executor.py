"""The ray executor (plugins/ray_executor.py) on a local Ray cluster of 2 CPUs: the same run folders and
metrics as the local executor, and a job whose worker is killed is retried (or recorded as failed) while the
others finish."""

import json
import os
import signal
import textwrap

import pytest

from conftest import TINY_REGISTRY
from zoo.evaluate.metrics import METRICS
from zoo.executors import Processes
from zoo.sweep import Source, Started, plan_sweep, run_sweep

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'audio-zoo[ray]'")
from zoo_plugins.ray_executor import RayExecutor  # noqa: E402  (after the skip: it needs nothing from Ray to import)

pytestmark = pytest.mark.slow
REGISTRY = textwrap.dedent(TINY_REGISTRY).replace(
    '[models.efficientnet_b0]\npretrained = "auto"\n', "[models.crnn]\n"
)


@pytest.fixture(scope="module")
def cluster():
    ray.init(
        num_cpus=2,
        num_gpus=0,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1"}},
    )
    yield
    ray.shutdown()


def sweep(folder, executor, emit=lambda event: None):
    folder.mkdir()
    (folder / "registry.toml").write_text(REGISTRY)
    source = Source.from_registry(folder / "registry.toml", {"protocol.folds": 2})
    return run_sweep(plan_sweep(source), emit, executor)


def scores(folder) -> dict:
    """{(model, run id): the metrics that rank and the epochs} of every finished run under `folder`."""
    names = [m.name for m in METRICS] + ["epochs", "best_epoch"]
    found = {}
    for path in (folder / "experiments").glob("*/*/*/metrics.json"):
        metrics = json.loads(path.read_text())
        found[path.parts[-3], path.parent.name] = {k: metrics.get(k) for k in names}
    return found


def test_ray_runs_the_same_run_folders_with_the_same_metrics_as_local(cluster, tmp_path):
    outcomes = sweep(tmp_path / "ray", RayExecutor())
    assert len(outcomes) == 4 and not any(o.error for o in outcomes)
    expected = sweep(tmp_path / "local", Processes(jobs=2))  # one thread per job, as each Ray task
    assert [o.run_id for o in outcomes] == [o.run_id for o in expected]
    ray_scores = scores(tmp_path / "ray")
    assert len(ray_scores) == 4 and ray_scores == scores(tmp_path / "local")


@pytest.mark.parametrize("retries", [1, 0])
def test_a_job_whose_ray_worker_is_killed_is_retried_or_recorded_and_the_others_finish(
    cluster, tmp_path, retries
):
    victim, events, killed = "crnn (fold 1/2)", [], []

    def emit(event):
        events.append(event)
        if isinstance(event, Started) and event.job == victim and not killed:
            os.kill(event.pid, signal.SIGKILL)  # the worker running it, mid-job
            killed.append(event.pid)

    outcomes = sweep(tmp_path / "p", RayExecutor(retries=retries), emit)
    assert killed
    others = [o for o in outcomes if o.job.label != victim]
    assert len(others) == 3 and all(not o.error and o.metrics for o in others)
    (job,) = [o for o in outcomes if o.job.label == victim]
    starts = [e for e in events if isinstance(e, Started) and e.job == victim]
    if retries:
        assert not job.error and job.metrics and len(starts) == 2 and starts[1].pid != killed[0]
    else:
        assert "its Ray worker died (1 tries)" in job.error and len(starts) == 1
        failed = json.loads(
            (tmp_path / "p" / "experiments" / "synthetic" / "crnn")
            .glob("*/failed.json")
            .__next__()
            .read_text()
        )
        assert "Ray worker died" in failed["error"]


def test_zoo_run_with_the_ray_executor_draws_every_jobs_progress_and_ranks_them(cluster, project, zoo_cli):
    (project / "registry.toml").write_text(REGISTRY)
    code, out, err = zoo_cli("run", "--all", "--epochs", "1", "--executor", "ray")
    assert code == 0, err
    assert "Test-split results" in out and "baseline_cnn" in out and "crnn" in out
    board = (project / "leaderboard" / "synthetic.md").read_text()
    assert "baseline_cnn" in board and "crnn" in board


@pytest.mark.skipif(
    __import__("importlib").util.find_spec("optuna") is None, reason="tuning: pip install 'audio-zoo[tune]'"
)
def test_tuned_runs_on_ray_choose_what_they_choose_on_local_processes(cluster, tmp_path):
    """Issue 19: trials run inside each job, so a tuned sweep is the same on any executor."""
    tuned = {"tuning.trials": 2, "tuning.epochs": 1, "protocol.epochs": 1}
    chosen = []
    for name, executor in (("ray", RayExecutor()), ("local", Processes(jobs=2))):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "registry.toml").write_text(REGISTRY)
        outcomes = run_sweep(
            plan_sweep(Source.from_registry(folder / "registry.toml", tuned)), executor=executor
        )
        assert len(outcomes) == 2 and not any(o.error for o in outcomes)
        configs = sorted((folder / "experiments").glob("*/*/*/config.json"))
        chosen.append([json.loads(p.read_text())["tuned"]["chosen"] for p in configs])
    assert chosen[0] == chosen[1] and len(chosen[0]) == 2
