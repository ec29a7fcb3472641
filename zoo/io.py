"""Safe files: atomic writes with the umask's mode, stale temporaries swept, locks, writable folders."""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Callable, Iterator

from zoo.errors import ZooError

TMP_SUFFIX = ".tmp"


def _file_mode() -> int:
    """0666 less the umask: what open() would give a new file (mkstemp alone gives 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


FILE_MODE = _file_mode()


def write_atomic(path: Path, write: Callable[[IO[bytes]], Any]) -> None:
    """Call write(f) on a temporary file beside `path`, then rename it over `path`.

    A reader sees the old file or the new one, never half of one; a killed writer leaves only a
    `.NAME.*.tmp` file, which `sweep_temporaries` removes on the next run.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    write_atomic(path, lambda f: f.write(text.encode()))


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def write_csv(path: Path, frame) -> None:
    """A pandas DataFrame as CSV, without its index."""
    write_text(path, frame.to_csv(index=False, float_format="%.6g"))


def read_json(path: Path) -> dict:
    """A JSON file the zoo wrote; a damaged one is a ZooError naming it (never a traceback)."""
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise ZooError(
            f"{path} is damaged ({exc.msg} at line {exc.lineno}): delete it, "
            "or rerun the command that wrote it."
        ) from None


def sweep_temporaries(folder: Path) -> list[Path]:
    """Remove the temporaries a killed write_atomic left in `folder`. Call it under the lock that
    every writer to `folder` holds, so that no live write loses its file."""
    gone = []
    for tmp in Path(folder).glob(f".*{TMP_SUFFIX}"):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
            gone.append(tmp)
    return gone


@contextmanager
def locked(path: Path, waiting: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the file lock `path` (made with its folder) for the block; other zoo processes wait.

    `waiting()` is called once when another process holds it, before waiting. The lock is the OS's
    (flock): a killed holder releases it at once.
    """
    from filelock import FileLock, Timeout

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path, mode=FILE_MODE)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if waiting:
            waiting()
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def check_writable(folder: Path, what: str, key: str) -> None:
    """Whether the zoo can write in `folder` (or make it): a ZooError in one line when not. Makes nothing."""
    folder = Path(folder).absolute()
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        reason = f"{existing} is a file, not a folder"
    elif not os.access(existing, os.W_OK | os.X_OK):
        reason = "permission denied"
    else:
        return
    raise ZooError(
        f"Cannot write the {what} folder {folder} ({reason}): fix it, or set "
        f'[paths] {key} = "..." in registry.toml.'
    )
