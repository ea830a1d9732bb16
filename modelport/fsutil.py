"""Filesystem helpers: atomic writes, hashing, writable-directory checks."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from modelport.errors import InputError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def ensure_writable_dir(path: str | os.PathLike[str], what: str = "output directory",
                        hint: str = "choose another --out") -> Path:
    """Create ``path`` if needed and prove we can write into it, before any long work starts."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".modelport-probe-", dir=p)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise InputError(f"{what} {str(p)!r} is not writable: {e.strerror or e}", hint) from None
    return p


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it over ``final`` only if the block succeeds.

    An interrupted or failed write never leaves a half-written file under the final name.
    """
    final = Path(final)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600; the finished file gets the permissions a plain open() would have given it
        if tmp_path.exists():
            os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


@contextlib.contextmanager
def claim(final: Path) -> Iterator[None]:
    """Hold ``final`` for this process: a second writer fails at once (exit 2) instead of racing us.

    The claim is a lock file beside ``final`` holding our pid; one left by a killed process is taken over.
    """
    lock = final.parent / f".{final.name}.modelport-lock"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            try:
                owner = int(lock.read_text().strip() or "0")
            except (OSError, ValueError):
                owner = 0
            if owner and owner != os.getpid() and _pid_alive(owner):
                raise InputError(f"{str(final)!r} is being written by another modelport run (pid {owner})",
                                 "choose another --out, or wait for that run") from None
            with contextlib.suppress(OSError):
                lock.unlink()
        except OSError as e:
            raise InputError(f"cannot claim {str(final)!r}: {e.strerror or e}", "choose another --out") from None
    else:
        raise InputError(f"cannot claim {str(final)!r}: its lock {str(lock)!r} keeps reappearing",
                         "choose another --out")
    try:
        os.write(fd, str(os.getpid()).encode())
    finally:
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            lock.unlink()


def check_new_dir(final: Path) -> None:
    """``final`` may be created by us: absent, or an empty directory; never a symlink or anything else."""
    if final.is_symlink():
        raise InputError(f"output directory {str(final)!r} is a symbolic link",
                         "give the real path it points to, or another --out")
    if final.exists() and not final.is_dir():
        raise InputError(f"output directory {str(final)!r} is an existing file, not a directory",
                         "choose another --out")
    if final.exists() and any(final.iterdir()):
        raise InputError(f"output directory {str(final)!r} already exists and is not empty",
                         "choose another --out or remove it")


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike[str], claimed: bool = False) -> Iterator[Path]:
    """Like ``atomic_path`` for a directory of files that must appear together (e.g. .onnx + external data).

    ``final`` is claimed on entry and must be absent or an empty directory; the finished directory is
    renamed onto it, which the OS refuses if anything appeared there meanwhile. Nothing this block did not
    create is ever deleted. ``claimed``: the caller already holds ``claim(final)``.
    """
    final = Path(final)
    check_new_dir(final)
    with contextlib.nullcontext() if claimed else claim(final):
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
        try:
            yield tmp
            os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp creates 0700
            try:
                os.rename(tmp, final)  # onto an empty directory or nothing; never over files
            except OSError as e:
                raise InputError(f"output directory {str(final)!r} changed during the run ({e.strerror or e}); "
                                 "nothing was written there", "choose another --out") from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def strict_json(obj: Any) -> Any:
    """``obj`` with every NaN or infinite float as None: ``json.dumps`` would write the tokens NaN/Infinity,
    which Python reads back but strict parsers (JavaScript's JSON.parse, jq) refuse."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    return obj


def json_text(obj: Any) -> str:
    """The JSON every file and ``--json`` output of modelport is written as: indented, strict."""
    return json.dumps(strict_json(obj), indent=2, default=str, allow_nan=False) + "\n"


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json_text(obj))
