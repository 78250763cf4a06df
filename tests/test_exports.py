"""The curated public API: sorted, complete, cheap to import."""

from __future__ import annotations

import subprocess
import sys

import aichaos


def test_all_is_sorted_and_resolves() -> None:
    assert aichaos.__all__ == sorted(aichaos.__all__)
    for name in aichaos.__all__:
        assert getattr(aichaos, name) is not None, name


def test_public_names_have_docstrings() -> None:
    for name in aichaos.__all__:
        obj = getattr(aichaos, name)
        if isinstance(obj, type):
            assert obj.__doc__, f"{name} has no docstring"


def test_import_is_fast_and_side_effect_free() -> None:
    code = (
        "import sys, time; t = time.perf_counter(); import aichaos; "
        "d = time.perf_counter() - t; "
        "heavy = [m for m in ('pydantic', 'httpx', 'rich', 'numpy', 'pandas', 'yaml') "
        "if m in sys.modules]; print(d, ','.join(heavy))"
    )
    best = min(
        float(subprocess.check_output([sys.executable, "-c", code], text=True).split()[0])
        for _ in range(3)
    )
    out = subprocess.check_output([sys.executable, "-c", code], text=True).split()
    assert best < 0.150, f"import aichaos took {best * 1e3:.0f} ms"
    assert len(out) == 1, f"import aichaos loaded heavy modules: {out[1:]}"
