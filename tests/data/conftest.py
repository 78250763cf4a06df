"""Fixtures of the data tests."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.data._data_helpers import make_frame


@pytest.fixture
def frame() -> pd.DataFrame:
    """A 200-row mixed batch."""
    return make_frame(200)
