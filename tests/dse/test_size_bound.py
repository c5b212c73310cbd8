"""Absurd array sizes are one line naming the field and the limit, for every user (issue 17)."""

from __future__ import annotations

import pytest

from accelsim.arch import ArrayConfig
from accelsim.arch.config import MAX_ARRAY_DIM
from accelsim.arch.presets import PRESETS
from accelsim.cli import main
from accelsim.errors import SpecError


def _one_line(capsys, argv) -> str:
    assert main(argv) == 1
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert captured.out == "" and len(err.splitlines()) == 1 and err.startswith("accelsim: error: "), err
    return err


def test_absurd_array_sizes_are_refused_with_the_field_and_the_limit(capsys, tmp_path):
    assert MAX_ARRAY_DIM == 4096
    for args, field in ((["--axis", "rows=99999999999"], "rows"), (["--axis", "cols=8,4097"], "cols")):
        err = _one_line(capsys, ["dse", "alexnet", *args, "-o", str(tmp_path / "run"), "--no-plots"])
        assert f"`ArrayConfig.{field}` must be at most 4,096, not {'99,999,999,999' if field == 'rows' else '4,097'}" \
            in err, err
    arch = tmp_path / "huge.yaml"
    arch.write_text("rows: 5000\ncols: 4\n")
    err = _one_line(capsys, ["simulate", "alexnet", "--arch", str(arch)])
    assert "rows" in err and "must be at most 4,096, not 5,000" in err
    assert ArrayConfig(rows=4096, cols=4096).pes == 4096 ** 2
    with pytest.raises(SpecError, match="`ArrayConfig.cols` must be at most 4,096, not 4,097"):
        ArrayConfig(rows=1, cols=4097)
    assert all(p.rows <= MAX_ARRAY_DIM and p.cols <= MAX_ARRAY_DIM for p in PRESETS.values())
