"""Fast paths: cell choice by geometric skips, numpy / code views, text kernels, MNAR band."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from aichaos.data import columns, make
from aichaos.data.columns import pick, skips
from aichaos.errors import ValidationError


@pytest.mark.parametrize("slack", [6.0, -1e9])  # -1e9: 16 gaps a round, many rounds
@pytest.mark.parametrize("p", [0.03, 0.3, 0.9])
def test_each_row_is_bernoulli_p_and_independent(
    monkeypatch: pytest.MonkeyPatch, slack: float, p: float
) -> None:
    monkeypatch.setattr(columns, "SLACK_SIGMAS", slack)
    rng = np.random.default_rng(4)
    n, trials = 300, 4000
    hits = np.zeros(n)
    pairs = np.zeros(n - 1)
    for _ in range(trials):
        rows = skips(rng, n, p)
        assert np.all(np.diff(rows) > 0) and (len(rows) == 0 or 0 <= rows[0] <= rows[-1] < n)
        mask = np.zeros(n, dtype=bool)
        mask[rows] = True
        hits += mask
        pairs += mask[:-1] & mask[1:]
    sd = np.sqrt(p * (1 - p) / trials)
    # every row's rate within 5 sd of p (300 rows: a false alarm has odds ~ 1e-4)
    assert np.abs(hits / trials - p).max() < 5 * sd
    # neighbours independent: P(both) = p^2 on average over the row pairs
    both = pairs.sum() / (trials * (n - 1))
    assert abs(both - p * p) < 5 * np.sqrt(p * p * (1 - p * p) / (trials * (n - 1)))


def test_edges_and_eligibility() -> None:
    rng = np.random.default_rng(0)
    assert len(skips(rng, 10, 0.0)) == 0
    assert skips(rng, 5, 1.0).tolist() == [0, 1, 2, 3, 4]
    assert len(skips(rng, 0, 0.5)) == 0
    assert len(skips(rng, 10**6, 1e-12)) <= 1  # a huge gap must not overflow
    eligible = np.arange(1000) % 2 == 0
    rows = pick(np.random.default_rng(1), 1000, 0.5, eligible)
    full = pick(np.random.default_rng(1), 1000, 0.5)
    assert rows.tolist() == [r for r in full.tolist() if r % 2 == 0]


def test_same_seed_same_rows() -> None:
    a = skips(np.random.default_rng(9), 10**5, 0.2)
    b = skips(np.random.default_rng(9), 10**5, 0.2)
    assert np.array_equal(a, b)
    assert abs(len(a) - 2 * 10**4) < 5 * np.sqrt(10**5 * 0.2 * 0.8)


def test_fast_paths_keep_dtypes_and_share_other_columns() -> None:
    import pandas as pd

    from aichaos.data import make

    rng = np.random.default_rng(3)
    df = pd.DataFrame(
        {
            "f32": rng.normal(size=500).astype(np.float32),
            "i16": rng.integers(0, 9, 500).astype(np.int16),
            "cat": pd.Categorical(rng.choice(["a", "b", "c"], 500)),
        }
    )
    out, rep = make("missing-values", columns=["f32", "cat"], fraction=0.3).apply(df)
    assert out["f32"].dtype == np.float32 and isinstance(out["cat"].dtype, pd.CategoricalDtype)
    assert np.array_equal(out["f32"].isna().to_numpy(), rep.cells["f32"])
    assert np.shares_memory(out["i16"].to_numpy(), df["i16"].to_numpy())
    out, rep = make("gaussian-noise", columns=["f32", "i16"], fraction=0.3).apply(df)
    assert out["f32"].dtype == np.float32 and out["i16"].dtype == np.int16
    assert np.array_equal(out["i16"].to_numpy() != df["i16"].to_numpy(), rep.cells["i16"])
    out, rep = make("missing-values", columns=["i16"], fraction=0.3).apply(df)
    assert out["i16"].dtype == np.float64  # as Arrow -> pandas turns an int column with nulls
    assert np.array_equal(out["i16"].isna().to_numpy(), rep.cells["i16"])


def test_text_edits_are_small_and_exact() -> None:
    """One typo changes a string's length by at most one character; broken characters
    follow Jenga's vowel map exactly."""
    import pandas as pd

    from aichaos.data import make
    from aichaos.data.corruptions.broken_characters import REPLACEMENTS

    words = ["hello world", "AEIOU aeiou", "naïve café", "q", "", "typo test"] * 300
    df = pd.DataFrame({"s": pd.Series(words, dtype="str")})
    out, rep = make("typos", columns=["s"], fraction=0.5, seed=4).apply(df)
    old, new = df["s"].tolist(), out["s"].tolist()
    assert all(abs(len(a) - len(b)) <= 1 for a, b in zip(old, new, strict=True))
    assert {len(b) - len(a) for a, b in zip(old, new, strict=True) if a != b} == {-1, 0, 1}
    out, rep = make("broken-characters", columns=["s"], fraction=0.5, seed=4).apply(df)
    for i in np.flatnonzero(rep.cells["s"]):
        expect = old[i]
        for char, repl in REPLACEMENTS.items():
            expect = expect.replace(char, repl)
        assert out["s"][i] == expect


@pytest.mark.parametrize("backend", ["pandas", "arrow"])
@pytest.mark.parametrize("seed", range(6))
def test_mnar_band_is_a_contiguous_rank_band(backend: str, seed: int) -> None:
    import pandas as pd
    import pyarrow as pa

    from aichaos.data import make

    rng = np.random.default_rng(seed)
    x = rng.integers(0, 30, 2000).astype(np.float64)  # many ties
    x[rng.random(2000) < 0.1] = np.nan
    df = pd.DataFrame({"x": x})
    batch = df if backend == "pandas" else pa.Table.from_pandas(df, preserve_index=False)
    _, rep = make("missing-values", columns=["x"], mechanism="MNAR", fraction=0.3).apply(
        batch, seed=seed
    )
    valid = np.flatnonzero(~np.isnan(x))
    hit = rep.cells["x"]
    assert hit.sum() == round(0.3 * len(valid)) and not hit[np.isnan(x)].any()
    order = valid[np.argsort(x[valid], kind="stable")]  # ranks, ties in row order
    ranks = np.flatnonzero(hit[order])
    assert np.array_equal(ranks, np.arange(ranks[0], ranks[0] + len(ranks)))


@pytest.mark.parametrize("large", [False, True])
def test_byte_rewrites_are_exact(monkeypatch: pytest.MonkeyPatch, large: bool) -> None:
    """Byte-for-sequence rewrites (one Arrow take): mojibake is exactly UTF-8 read as
    Latin-1, broken characters exactly Jenga's map, with 32- and 64-bit offsets alike."""
    import pandas as pd

    from aichaos.data import make, text
    from aichaos.data.corruptions.broken_characters import REPLACEMENTS

    if large:  # force the 64-bit offset path that only outputs over 2 GiB would take
        monkeypatch.setattr(text, "LARGE_BYTES", 0)
    words = ["naïve café", "Ünïcödé ☃ text", "plain", "", "Øre 日本"] * 200
    df = pd.DataFrame({"s": pd.Series(words, dtype="str")})
    out, rep = make("encoding-errors", mode="mojibake", columns=["s"], fraction=0.6).apply(df)
    changed = np.flatnonzero(rep.cells["s"])
    assert len(changed) > 300
    for i in changed:
        assert out["s"][i] == words[i].encode().decode("latin-1")
    unchanged = np.flatnonzero(~rep.cells["s"])
    assert all(out["s"][i] == words[i] for i in unchanged)
    out, rep = make("broken-characters", columns=["s"], fraction=0.6, seed=2).apply(df)
    for i in range(len(words)):
        expect = words[i]
        for char, repl in REPLACEMENTS.items():
            expect = expect.replace(char, repl)
        assert out["s"][i] == (expect if rep.cells["s"][i] else words[i])


@pytest.mark.parametrize("seed", range(30))
def test_splice_matches_plain_python(seed: int) -> None:
    """Replacements, deletions, insertions before a byte and at a string's end, and
    edits of empty strings: the vectorised splice gives what slicing would."""
    from aichaos.data import text

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    lengths = rng.integers(0, 12, n)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    data = rng.integers(0x20, 0x7F, int(offsets[-1])).astype(np.uint8)
    width = int(rng.integers(1, 4))
    pos = (rng.random(n) * (lengths + 1)).astype(np.int64)  # pos == length: at the end
    delete = np.minimum(rng.integers(0, 3, n), lengths - pos)
    insert = rng.integers(0x41, 0x5B, (n, width)).astype(np.uint8)
    insert_len = rng.integers(0, width + 1, n)
    insert_len[rng.random(n) < 0.2] = 0
    delete[rng.random(n) < 0.2] = 0  # some strings untouched, some pure insertions
    new_off, new = text.splice(offsets, data, pos, delete, insert, insert_len)
    pieces = [
        bytes(data[offsets[i] : offsets[i] + pos[i]])
        + bytes(insert[i, : insert_len[i]])
        + bytes(data[offsets[i] + pos[i] + delete[i] : offsets[i + 1]])
        for i in range(n)
    ]
    assert bytes(new) == b"".join(pieces)
    assert np.diff(new_off).tolist() == [len(p) for p in pieces]


@pytest.mark.parametrize("seed", range(8))
def test_mnar_sample_bracket_picks_what_the_partitions_pick(
    monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """The sample-bracketed band (large columns) equals the two-partition band exactly:
    real values, heavy ties, sorted and periodic columns, with and without nulls."""
    import pandas as pd

    from aichaos.data import make
    from aichaos.data.corruptions import missing_values as mv

    rng = np.random.default_rng(seed)
    n = 5000
    x = [
        rng.standard_normal(n),
        rng.integers(0, 20, n).astype(np.float64),
        np.sort(rng.standard_normal(n)),
        np.tile(np.arange(50.0), n // 50),
    ][seed % 4]
    if seed % 2:
        x[rng.random(n) < 0.1] = np.nan
    df = pd.DataFrame({"x": x, "y": rng.standard_normal(n)})
    for mechanism, frac in [
        ("MNAR", 0.0),
        ("MNAR", 0.05),
        ("MNAR", 0.3),
        ("MNAR", 1.0),
        ("MAR", 0.2),
    ]:
        spec = make("missing-values", columns=["x", "y"], mechanism=mechanism, fraction=frac)
        monkeypatch.setattr(mv, "SAMPLED_ROWS", 10**12)
        out_exact, exact = spec.apply(df, seed=seed)
        monkeypatch.setattr(mv, "SAMPLED_ROWS", 0)
        monkeypatch.setattr(mv, "SAMPLE", 64)
        out_fast, fast = spec.apply(df, seed=seed)
        for col in ("x", "y"):
            assert np.array_equal(exact.cells[col], fast.cells[col]), (mechanism, frac, col)
        pd.testing.assert_frame_equal(out_exact, out_fast)


def test_mnar_sample_bracket_that_misses_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sample that misrepresents the column (every sampled cell 0) cannot bracket the
    band: the bracket says so, and the band comes from the partitions, exactly."""
    from aichaos.data.corruptions import missing_values as mv

    monkeypatch.setattr(mv, "SAMPLE", 64)
    n = 5000
    keys = np.arange(n, dtype=np.float64)
    keys[(n // 64) // 2 :: n // 64] = 0.0
    assert mv._bracketed(keys, 2000, 500) is None
    rows = mv._bracketed(np.arange(n, dtype=np.float64), 2000, 500)
    assert rows is not None and np.array_equal(rows, np.arange(2000, 2500))
    order = np.argsort(keys, kind="stable")
    band = mv._partitioned(keys, 2000, 500, None)
    band = np.flatnonzero(band) if band.dtype == bool else band
    assert np.array_equal(band, np.sort(order[2000:2500]))


def test_moments_sampled_centre_and_scale_and_exact_cleanliness() -> None:
    """Mean and std from the strided sample land within 1 % of the std of the exact
    figures; one NaN or infinity anywhere (not only on the sample's stride) makes the
    column not clean, and the statistics skip it."""
    from aichaos.data.columns import moments
    from aichaos.data.frame import as_frame
    from aichaos.data.views import num_col

    rng = np.random.default_rng(5)
    x = rng.normal(40.0, 3.0, 1_000_003)
    mean, std = moments(x)
    assert abs(mean - x.mean()) < 0.01 * x.std() and abs(std - x.std()) < 0.01 * x.std()
    assert num_col(as_frame({"x": x}), "x").clean
    for bad in (np.nan, np.inf, -np.inf):
        y = x.copy()
        y[1] = bad  # not on the sample's stride
        assert not num_col(as_frame({"x": y}), "x").clean
        y[0] = bad  # on the stride: the statistics must skip it
        assert abs(num_col(as_frame({"x": y}), "x").moments()[0] - x.mean()) < 0.01 * x.std()
    ints = num_col(as_frame({"i": rng.integers(0, 10**12, 1000)}), "i")
    assert ints.clean  # ints: no NaN, whatever x.x would do
    assert moments(np.zeros(0)) == (0.0, 0.0)


def test_categorical_shift_on_object_strings_keeps_objects_and_matches_arrow() -> None:
    rng = np.random.default_rng(4)
    values = np.array(["red", "green", "blue", "cyan"], dtype=object)[rng.integers(0, 4, 5000)]
    values[::97] = None
    df = pd.DataFrame({"c": pd.Series(values, dtype=object)})
    before = df.copy()
    spec = make("categorical-shift", columns=["c"], fraction=0.2, seed=9)
    out, report = spec.apply(df)
    assert out["c"].dtype == object
    pd.testing.assert_frame_equal(df, before)  # the input is untouched
    changed = out["c"].fillna("-") != df["c"].fillna("-")
    assert np.array_equal(changed.to_numpy(), report.cells["c"])
    assert out["c"].isna().equals(df["c"].isna())  # nulls stay null
    arrow, _ = spec.apply(pa.Table.from_pandas(df, preserve_index=False))
    assert arrow.column("c").to_pylist() == out["c"].where(out["c"].notna(), None).tolist()


def test_categorical_shift_refuses_a_non_string_among_object_strings() -> None:
    values = np.array(["a", "b"] * 500, dtype=object)
    values[::7] = 3  # a stray integer in a text column
    df = pd.DataFrame({"c": pd.Series(values, dtype=object)})
    with pytest.raises(ValidationError, match="'c'"):
        make("categorical-shift", columns=["c"], fraction=0.5, seed=1).apply(df)
