"""Reading a user's ``.npz`` file: every way a file can fail to be one is one ``InputError``.

``numpy.load`` reports a corrupt archive in several ways: ``zipfile.BadZipFile`` (truncated), ``EOFError``
(empty), ``ValueError`` (not a zip: numpy then refuses to unpickle it), ``zlib.error`` (a damaged compressed
member, raised only when that member is read), ``OSError``. Every command that takes one reads it through
here: ``bench``/``run --samples`` (``benchmarks.qsl``) and ``validate --inputs`` (``validators.inputs``).
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from modelport.errors import InputError

#: what numpy raises for a file that is not a readable .npz archive
NPZ_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)
HINT = "write it with numpy.savez(path, NAME=array, ...)"


def read_npz(path: str | Path, flag: str, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """The arrays of the file (``names`` only, when given and present), read whole, pickled objects refused;
    ``flag`` names the option in messages."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{flag} {str(path)!r} does not exist")
    try:
        data = np.load(p, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):  # np.save wrote one bare array
            raise InputError(f"{flag} {str(path)!r} holds one unnamed array (.npy), not arrays keyed by input "
                             "name (.npz)", HINT)
        with data:
            wanted = data.files if names is None else [k for k in names if k in data.files]
            return {k: np.asarray(data[k]) for k in wanted}
    except NPZ_ERRORS as e:
        why = " ".join(str(e).split()) or type(e).__name__
        if isinstance(e, ValueError) and "pickle" in why:
            why = "not a zip archive of arrays (numpy would have to unpickle it, which is refused)"
        raise InputError(f"{flag} {str(path)!r} is not a readable .npz file: {why[:200]}", HINT) from None
