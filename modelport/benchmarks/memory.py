"""How much memory one inference call takes, so a benchmark never runs a batch the machine cannot hold.

A full-size 3D-UNet takes 1.35 GB per 128^3 patch in eager PyTorch; the default Offline batch of 32 would need
43 GB, and the bench was OOM-killed at the machine's 24 GB while warming up batch 16 (docs/decisions.md,
"Zoo: 3D-UNet memory"). The backend's warm-up measures each call's peak growth of the process's resident memory
and stops at the first batch whose predicted growth exceeds ``MEMORY_FRACTION`` of the memory available then.

Linux only: the peak is ``VmHWM`` of ``/proc/self/status`` after resetting it through ``/proc/self/clear_refs``.
Elsewhere (or where the reset is refused) nothing is measured and no batch is capped. Host memory only: a CUDA
device's memory is not seen.
"""

from __future__ import annotations

from pathlib import Path

#: the share of the available memory a warm-up call may grow the process by. onnxruntime's arena keeps every
#: block a call took and its memory pattern adds a second block of a shape's size on the shape's second call, so
#: a shape can end up holding twice its first call's growth; the rest is for the loaded sample library, LoadGen
#: and the other processes of a shared machine. At 0.5 a full-size 3D-UNet's eager warm-up ran batch 8 and the
#: bench peaked at 11 GB of 24 (docs/decisions.md, "Zoo: 3D-UNet memory")
MEMORY_FRACTION = 0.3

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
_MEMINFO = Path("/proc/meminfo")
_CGROUP = Path("/sys/fs/cgroup")


def _status_bytes(key: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def rss_bytes() -> int | None:
    """The process's resident memory now, or None where it cannot be read."""
    return _status_bytes("VmRSS")


def reset_peak() -> bool:
    """Reset the process's peak resident memory to its current value; False where that is not possible."""
    try:
        _CLEAR_REFS.write_text("5")  # 5: reset the peak RSS (proc(5), Linux 4.0+)
    except OSError:
        return False
    return True


def peak_bytes() -> int | None:
    """The process's peak resident memory since the last ``reset_peak``."""
    return _status_bytes("VmHWM")


def available_bytes() -> int | None:
    """Memory the process can still take: the kernel's MemAvailable, lowered to the cgroup's limit minus its
    usage where a cgroup (v2) limit is set; None where neither can be read."""
    avail = None
    try:
        for line in _MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        avail = None
    try:
        limit = (_CGROUP / "memory.max").read_text().strip()
        if limit != "max":
            room = int(limit) - int((_CGROUP / "memory.current").read_text().strip())
            avail = room if avail is None else min(avail, room)
    except (OSError, ValueError):
        pass
    return avail


class GrowthProbe:
    """``with GrowthProbe() as probe: call()``; then ``probe.growth``: how far the process's resident memory
    rose above its level before the block at the block's peak (bytes), or None where it cannot be measured.
    The reads happen outside the block, so a timer inside it measures the call alone."""

    def __init__(self) -> None:
        self.growth: int | None = None
        self._before: int | None = None

    def __enter__(self) -> GrowthProbe:
        self._before = rss_bytes()
        if self._before is not None and not reset_peak():
            self._before = None
        return self

    def __exit__(self, *exc: object) -> None:
        peak = peak_bytes() if self._before is not None else None
        self.growth = None if peak is None or self._before is None else max(0, peak - self._before)


def predicted_growth(batch: int, measured: dict[int, int]) -> int | None:
    """The growth a call of ``batch`` samples should take, scaled from the measured batches (bytes per sample,
    the largest of them: a fixed part of the measured growth only makes the prediction safer)."""
    per_sample = [growth / b for b, growth in measured.items() if b > 0]
    return int(batch * max(per_sample)) if per_sample else None


def fits(batch: int, measured: dict[int, int], available: int | None,
         fraction: float = MEMORY_FRACTION) -> tuple[bool, str]:
    """Whether a call of ``batch`` samples may run, and why not in words (empty when it may or when nothing was
    measured)."""
    need = predicted_growth(batch, measured)
    if need is None or available is None or need <= fraction * available:
        return True, ""
    per = need / batch
    return False, (f"a batch of {batch} would take about {need / 1e9:.1f} GB ({per / 1e9:.2f} GB per sample "
                   f"measured), more than {fraction:.0%} of the {available / 1e9:.1f} GB available")
