"""Absurd array sizes are one line naming the field and the limit, for every user (issue 17)."""

from __future__ import annotations

import pytest

from accelsim.arch import ArrayConfig
from accelsim.arch.config import MAX_ARRAY_DIM
from accelsim.arch.presets import PRESETS

from .conftest import one_line_error
from accelsim.errors import SpecError




def test_absurd_array_sizes_are_refused_with_the_field_and_the_limit(capsys, tmp_path):
    assert MAX_ARRAY_DIM == 4096
    for args, field in ((["--axis", "rows=99999999999"], "rows"), (["--axis", "cols=8,4097"], "cols")):
        err = one_line_error(capsys, ["dse", "alexnet", *args, "-o", str(tmp_path / "run"), "--no-plots"])
        assert f"`ArrayConfig.{field}` must be at most 4,096, not {'99,999,999,999' if field == 'rows' else '4,097'}" \
            in err, err
    arch = tmp_path / "huge.yaml"
    arch.write_text("rows: 5000\ncols: 4\n")
    err = one_line_error(capsys, ["simulate", "alexnet", "--arch", str(arch)])
    assert "rows" in err and "must be at most 4,096, not 5,000" in err
    assert ArrayConfig(rows=4096, cols=4096).pes == 4096 ** 2
    with pytest.raises(SpecError, match="`ArrayConfig.cols` must be at most 4,096, not 4,097"):
        ArrayConfig(rows=1, cols=4097)
    assert all(p.rows <= MAX_ARRAY_DIM and p.cols <= MAX_ARRAY_DIM for p in PRESETS.values())
