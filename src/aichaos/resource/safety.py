"""Safety floors: memory and disk faults refuse to take the machine below them.

The default keeps 10 % of memory and of the disk free. A fault that would cross the
floor raises :class:`~aichaos.errors.SafetyError` before it touches anything.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from aichaos.errors import SafetyError, ValidationError

__all__ = ["DEFAULT_FLOOR_FRACTION", "check_disk_floor", "check_memory_floor", "memory_status"]

#: share of memory / disk that stays free unless a fault says otherwise
DEFAULT_FLOOR_FRACTION = 0.10

_MIB = 1024 * 1024


def memory_status() -> tuple[int, int]:
    """(total, available) bytes of memory on this machine."""
    import psutil

    vm = psutil.virtual_memory()
    return int(vm.total), int(vm.available)


def _check_floor(
    action: str,
    size_bytes: int,
    total: int,
    left: int,
    floor_fraction: float,
    left_word: str,
    where: str = "",
) -> int:
    """Refuse ``action`` of ``size_bytes`` if it leaves less than ``floor_fraction`` of
    ``total`` (``left`` is what is left now); return the floor in bytes."""
    floor = int(total * floor_fraction)
    if left - size_bytes < floor:
        raise SafetyError(
            f"{action} of {size_bytes / _MIB:.0f} MiB{where} would leave "
            f"{(left - size_bytes) / _MIB:.0f} MiB {left_word}, below the floor of "
            f"{floor / _MIB:.0f} MiB ({floor_fraction:.0%} of {total / _MIB:.0f} MiB); "
            "lower size_mb or floor_fraction"
        )
    return floor


def check_memory_floor(size_bytes: int, floor_fraction: float) -> int:
    """Refuse ``size_bytes`` of ballast if it leaves less than the floor; return the floor."""
    total, available = memory_status()
    return _check_floor(
        "memory pressure", size_bytes, total, available, floor_fraction, "available"
    )


def disk_usage(directory: Path) -> tuple[int, int]:
    """(total, free) bytes of the filesystem holding ``directory``."""
    if not directory.is_dir():
        raise ValidationError(f"directory must be an existing directory, got {str(directory)!r}")
    usage = shutil.disk_usage(directory)
    return usage.total, usage.free


def check_disk_floor(directory: Path, size_bytes: int, floor_fraction: float) -> int:
    """Refuse writing ``size_bytes`` in ``directory`` if it leaves less than the floor."""
    total, free = disk_usage(directory)
    where = f" in {directory}"
    return _check_floor("disk fill", size_bytes, total, free, floor_fraction, "free", where)
