"""``data-corrupt``: what an ordinary reader of each format sees, and the exact restore."""
# ruff: noqa: ASYNC240 -- the tests play blocking readers and writers between awaits

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pytest

from aichaos.errors import ExperimentError, InjectionError, TargetError
from aichaos.experiment.loader import parse_experiment
from aichaos.faults import FAULTS, InjectionContext
from aichaos.faults.swap import sha256
from tests.data.landing_pipeline import make_batch

WRITERS = {
    "parquet": lambda df, p: df.to_parquet(p, index=False),
    "csv": lambda df, p: df.to_csv(p, index=False),
    "jsonl": lambda df, p: df.to_json(p, orient="records", lines=True),
    "feather": lambda df, p: feather.write_feather(pa.Table.from_pandas(df), p),
}
READERS = {
    "parquet": pd.read_parquet,
    "csv": pd.read_csv,
    "jsonl": lambda p: pd.read_json(p, lines=True),
    "feather": pd.read_feather,
}
FLIP_AND_HOLES = [
    {"name": "label-flip", "fraction": 0.3, "columns": ["label"], "seed": 3},
    {"name": "missing-values", "fraction": 0.1, "columns": ["x"], "seed": 4},
]


def _fault(**kw: Any) -> Any:
    return FAULTS.get("data-corrupt")(**kw)


def _land(folder: Path, fmt: str, n: int = 3, rows: int = 500) -> dict[Path, str]:
    out = {}
    for i in range(n):
        p = folder / f"batch-{i}.{fmt}"
        WRITERS[fmt](make_batch(i, rows), p)
        os.utime(p, ns=(1_700_000_000_000_000_000 + i * 10**9,) * 2)
        out[p] = sha256(p)
    return out


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl", "feather"])
async def test_a_reader_of_each_format_sees_exactly_the_reported_damage(
    tmp_path: Path, fmt: str
) -> None:
    files = _land(tmp_path, fmt)
    newest = max(files)
    clean = READERS[fmt](newest)
    mtime = newest.stat().st_mtime_ns
    injection = _fault(path=str(tmp_path), pattern=f"*.{fmt}", corruptions=FLIP_AND_HOLES)
    async with injection.injection(InjectionContext()) as inj:
        seen = READERS[fmt](newest)  # the pipeline's own reader
        assert newest.stat().st_mtime_ns == mtime  # arrival order is unchanged
        for p in files:
            assert (sha256(p) == files[p]) == (p != newest)  # only the newest is hit
        effect = inj.effect()
    flipped = int((seen["label"] != clean["label"]).sum())
    holes = int(seen["x"].isna().sum())
    (report,) = effect["files"]
    assert report["file"] == newest.name and report["format"] == (
        "arrow" if fmt == "feather" else fmt
    )
    flip, miss = report["corruptions"]
    assert flip["cells_changed"] == {"label": flipped} and 100 < flipped < 200
    assert miss["cells_changed"] == {"x": holes} and 20 < holes < 80
    assert effect["cells_changed"] == flipped + holes
    assert {p: sha256(p) for p in files} == files  # exact originals, checksummed
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in files)


async def test_files_landing_during_the_step_are_read_corrupted_then_restored(
    tmp_path: Path,
) -> None:
    files = _land(tmp_path, "parquet", n=2)
    fault = _fault(
        path=str(tmp_path),
        pattern="*.parquet",
        files="arriving",
        poll_interval_s=0.02,
        corruptions=[{"name": "label-flip", "fraction": 0.5, "columns": ["label"]}],
    )
    batch = make_batch(99, 500)
    async with fault.injection(InjectionContext()) as inj:
        staged = tmp_path / ".incoming.tmp"
        batch.to_parquet(staged, index=False)
        landed = tmp_path / "batch-9.parquet"
        os.replace(staged, landed)  # an upstream writer landing a batch atomically
        arrived = sha256(landed)
        for _ in range(100):
            await asyncio.sleep(0.02)
            if inj.effect()["files_corrupted"]:
                break
        seen = pd.read_parquet(landed)
        assert int((seen["label"] != batch["label"]).sum()) == inj.effect()["cells_changed"] > 150
        assert {p: sha256(p) for p in files} == files  # present before the step: untouched
    assert sha256(landed) == arrived
    assert pd.read_parquet(landed).equals(batch)


async def test_a_csv_still_being_written_is_left_until_it_holds_still(tmp_path: Path) -> None:
    fault = _fault(
        path=str(tmp_path),
        pattern="*.csv",
        files="arriving",
        poll_interval_s=0.05,
        corruptions=[{"name": "missing-values", "fraction": 0.5, "columns": ["x"]}],
    )
    target = tmp_path / "batch.csv"
    async with fault.injection(InjectionContext()) as inj:
        with target.open("w") as f:
            f.write("x,label\n")
            for i in range(20):  # a slow writer appending rows
                f.write(f"{i}.5,{i % 2}\n")
                f.flush()
                await asyncio.sleep(0.02)
                assert inj.effect()["files_corrupted"] == 0
        whole = target.read_bytes()
        for _ in range(50):
            await asyncio.sleep(0.02)
            if inj.effect()["files_corrupted"]:
                break
        assert pd.read_csv(target)["x"].isna().sum() == inj.effect()["cells_changed"] > 0
        assert len(pd.read_csv(target)) == 20  # the whole file, not the first rows
    assert target.read_bytes() == whole


async def test_the_same_seed_gives_the_same_damage(tmp_path: Path) -> None:
    seen = []
    for run in range(2):
        folder = tmp_path / str(run)
        folder.mkdir()
        _land(folder, "parquet", n=1)
        fault = _fault(path=str(folder / "batch-0.parquet"), corruptions=FLIP_AND_HOLES)
        async with fault.injection(InjectionContext()):
            seen.append(pd.read_parquet(folder / "batch-0.parquet"))
    pd.testing.assert_frame_equal(seen[0], seen[1])


async def test_nothing_to_corrupt_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match=r"no data file matches '\*\.parquet'"):
        await (
            _fault(path=str(tmp_path), pattern="*.parquet", corruptions=FLIP_AND_HOLES)
            .injection(InjectionContext())
            .apply()
        )
    (tmp_path / "notes.txt").write_text("x\n")
    inj = _fault(path=str(tmp_path / "notes.txt"), corruptions=FLIP_AND_HOLES).injection(
        InjectionContext()
    )
    with pytest.raises(InjectionError, match=r"unknown from its suffix '\.txt'"):
        await inj.apply()
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    one = _fault(path=str(tmp_path / "notes.txt"), files="all", corruptions=FLIP_AND_HOLES)
    with pytest.raises(TargetError, match="path must be a directory"):
        await one.injection(InjectionContext()).apply()


BAD = [
    ({"pattern": "../*.csv"}, "method[0].fault.pattern", "must stay inside the directory"),
    ({"corruptions": [{"name": "label-flp"}]}, "corruptions[0]", "unknown corruption 'label-flp'"),
    ({"corruptions": [{"fraction": 0.1}]}, "corruptions[0].name", "required"),
    ({"corruptions": [{"name": "stale-batch"}]}, "corruptions[0]", "needs earlier batches"),
    ({"corruptions": [{"name": "typos", "fractoin": 0.1}]}, "corruptions[0]", "fractoin"),
    ({"corruptions": []}, "fault.corruptions", "at least 1"),
    ({"files": "latest"}, "fault.files", "'newest', 'arriving' or 'all'"),
    ({"fraction": 0.1, "severity": 2}, "method[0].fault", "not both"),
]


@pytest.mark.parametrize(("change", "where", "why"), BAD)
def test_bad_experiment_fields_are_named(change: dict[str, Any], where: str, why: str) -> None:
    fault = {
        "type": "data-corrupt",
        "path": "landing",
        "corruptions": [{"name": "label-flip", "fraction": 0.1}],
        **change,
    }
    import json

    doc = json.dumps({"title": "t", "method": [{"name": "s", "fault": fault, "duration_s": 1}]})
    with pytest.raises(ExperimentError) as err:
        parse_experiment(doc.encode(), "e.yaml")
    text = str(err.value)
    assert where in text and why in text, text
    assert "Traceback" not in text


def test_faults_lists_corruptions_and_toxics_with_units_and_defaults() -> None:
    import json

    from click.testing import CliRunner

    from aichaos.cli import cli

    data = json.loads(CliRunner().invoke(cli, ["faults", "--json"]).output)
    flip = next(c for c in data["corruptions"] if c["type"] == "label-flip")
    params = {p["name"]: p for p in flip["parameters"]}
    assert params["fraction"]["unit"] == "0..1" and params["severity"]["unit"] == "1..5"
    assert params["seed"]["default"] == 0 and "columns" in params
    assert len(data["corruptions"]) == 17
    latency = next(t for t in data["toxics"] if t["type"] == "latency")
    first = latency["parameters"][0]
    assert (first["name"], first["unit"]) == ("latency", "milliseconds")
    text = CliRunner().invoke(cli, ["faults"]).output
    assert "corruptions" in text and "toxics" in text and "categorical-shift" in text


def test_the_schema_completes_corruption_names_and_refuses_typos() -> None:
    import json

    import jsonschema
    import yaml
    from click.testing import CliRunner

    from aichaos.cli import cli

    schema = json.loads(CliRunner().invoke(cli, ["schema"]).output)
    names = [o["properties"]["name"]["const"] for o in schema["$defs"]["Corruption"]["oneOf"]]
    assert "label-flip" in names and "typos" in names
    example = Path(__file__).resolve().parents[2] / "examples" / "data-corrupt.yaml"
    doc = yaml.safe_load(example.read_text())
    jsonschema.validate(doc, schema)
    doc["method"][0]["fault"]["corruptions"][0]["fractoin"] = 0.1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)
    toxic = {"type": "proxy-toxic", "toxic": "latency", "attributes": {"latncy": 5}}
    doc["method"] = [{"name": "t", "duration_s": 1, "fault": toxic}]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)
