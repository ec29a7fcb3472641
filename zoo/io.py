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
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        why = f"{exc.msg} at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else "not text"
        raise ZooError(f"{path} is damaged ({why}): delete it, or rerun the command that wrote it.") from None


def sweep_temporaries(folder: Path) -> list[Path]:
    """Remove the temporaries a killed write_atomic left in `folder`. Call it under the lock that
    every writer to `folder` holds, so that no live write loses its file."""
    gone = []
    for tmp in Path(folder).glob(f".*{TMP_SUFFIX}"):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
            gone.append(tmp)
    return gone


LOCK_MODE = 0o666  # a lock file holds nothing: every user who may write the project may take it


@contextmanager
def locked(path: Path, waiting: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the file lock `path` (made with its folder) for the block; other zoo processes wait.

    `waiting()` is called once when another process holds it, before waiting. The lock is the OS's
    (flock): a killed holder releases it at once. Lock files are made writable by everyone (LOCK_MODE), and
    one that another user made without that (an older zoo) is locked read-only, which flock allows.
    """
    import fcntl

    path = Path(path)
    fd = _open_lock(path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting:
                waiting()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _open_lock(path: Path) -> int:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, LOCK_MODE)
    except PermissionError:
        try:
            return os.open(path, os.O_RDONLY)  # another user's lock file
        except OSError:
            raise ZooError(
                f"Cannot create the lock file {path} (permission denied): every user who runs zoo in this "
                f"project needs write access to {path.parent} (e.g. a shared group: chmod -R g+rwX)."
            ) from None
    if os.fstat(fd).st_uid == os.geteuid():
        os.fchmod(fd, LOCK_MODE)  # past the umask
    return fd


def check_writable(folder: Path, what: str, fix: str) -> None:
    """Whether the zoo can write in `folder` (or make it): a ZooError in one line when not, saying what the
    folder is for and `fix` (what to do). Makes nothing."""
    folder = Path(folder).absolute()
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        reason = f"{existing} is a file, not a folder"
    elif not os.access(existing, os.W_OK | os.X_OK):
        reason = f"permission denied in {existing}" if existing != folder else "permission denied"
    else:
        return
    raise ZooError(f"Cannot write the {what} folder {folder} ({reason}): {fix}.")
