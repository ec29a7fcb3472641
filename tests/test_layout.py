"""The core's shape (issue 20), checked rather than hoped for: modules and functions short, no import cycle
(lazy imports included), no module using another's private names, listing commands free of torch, and one
`zoo run` building settings, registry, prepared data and each fold's splits once."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted((ROOT / "zoo").rglob("*.py"))
LONGER: dict[str, int] = {}  # a module allowed past 300 lines, with the reason beside it


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


NAMES = {_name(p): p for p in MODULES}


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every import in a module, at its top or inside a function."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def test_no_module_over_300_lines_and_no_function_over_60():
    too_long = []
    for path in MODULES:
        where = path.relative_to(ROOT).as_posix()
        lines = len(path.read_text().splitlines())
        if lines > LONGER.get(where, 300):
            too_long.append(f"{where}: {lines} lines")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > 60:
                    too_long.append(f"{where}:{node.lineno} {node.name}: {length} lines")
    assert not too_long


def test_no_import_cycle_lazy_imports_included():
    graph = {}
    for name, path in NAMES.items():
        edges = set()
        for module, names in _imports(path):
            # `from zoo.runs import folder` imports the submodule zoo.runs.folder
            submodules = {f"{module}.{n}" for n in names if f"{module}.{n}" in NAMES}
            edges |= submodules or ({module} & set(NAMES))
        graph[name] = edges - {name}
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(stack[stack.index(nxt) :] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles


def test_no_module_imports_another_modules_private_names():
    private = []
    for path in [*MODULES, *sorted((ROOT / "plugins").glob("*.py"))]:
        for module, names in _imports(path):
            if module.startswith(("zoo", "zoo_plugins")):
                private += [f"{path.name}: {module}.{n}" for n in names if n.startswith("_")]
    assert not private


@pytest.mark.parametrize("command", [["--help"], ["plugins"], ["datasets"]])
def test_listing_commands_import_no_torch_numpy_or_pandas(command, tmp_path):
    """`zoo --help`, `zoo plugins`, `zoo datasets` stay fast: none of the heavy libraries is imported (as
    `python -X importtime $(which zoo) datasets` shows)."""
    code = (
        "import sys\nfrom zoo.cli import main\n"
        f"try:\n    main({command!r})\nexcept SystemExit:\n    pass\n"
        "heavy = {'torch', 'numpy', 'pandas', 'torchaudio'}\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & heavy)\n"
        "print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert "HEAVY []" in out.stdout, out.stdout[-500:] + out.stderr[-2000:]


def test_one_zoo_run_builds_settings_registry_data_and_each_folds_splits_once(project, zoo_cli, monkeypatch):
    """Two folds, one model, here: registry.toml read once, the plugins loaded once, the cache prepared once,
    each fold split once (the CLI, the planning and the jobs share one zoo.project.Project)."""
    import zoo.data.cache
    import zoo.data.splits
    import zoo.project
    import zoo.sweep

    counts = {}

    def counted(module, name):
        real = getattr(module, name)

        def call(*args, **kwargs):
            counts[name] = counts.get(name, 0) + 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, call)

    counted(zoo.sweep, "load_settings")
    counted(zoo.project, "load_registry")
    counted(zoo.data.cache, "prepare")
    counted(zoo.data.splits, "plan_splits")
    code, _, err = zoo_cli("run", "baseline_cnn", "--epochs", "1", "--set", "protocol.folds=2")
    assert code == 0, err
    assert len(list((project / "experiments").glob("*/baseline_cnn/*/metrics.json"))) == 2
    assert counts == {"load_settings": 1, "load_registry": 1, "prepare": 1, "plan_splits": 2}
