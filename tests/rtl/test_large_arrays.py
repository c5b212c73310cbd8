"""The generated Verilog at the bundled sizes (16x16 in WS, IS and OS, 32x32 in WS) under Icarus,
against the reference engine: every output value and cycle, random stalled multi-fold tiles. A
mutant that only the last row of a 16-row array exposes must be caught."""

import re

import pytest

pytest.importorskip("cocotb_tools", reason="install the hdl extra: pip install -e '.[hdl]'")

from accelsim.arch import ArrayConfig  # noqa: E402
from accelsim.mapping import load_dataflow  # noqa: E402
from accelsim.rtl.cocotb_run import verify  # noqa: E402

pytestmark = [pytest.mark.rtl, pytest.mark.slow, pytest.mark.usefixtures("icarus")]  # slow: ~95 s together


SIZES = [(16, "ws"), (16, "is"), (16, "os"), (32, "ws")]


@pytest.mark.parametrize("side, dataflow", SIZES, ids=[f"{s}x{s}-{d}" for s, d in SIZES])
def test_bundled_sizes_equal_the_reference(tmp_path, side, dataflow):
    result = verify(ArrayConfig(rows=side, cols=side), load_dataflow(dataflow), cases=3, seed=side,
                    stall_p=0.4, max_folds=2, build_dir=tmp_path)
    assert result["mismatches"] == 0, result["first_mismatch"]
    assert result["cases"] == 3 and result["outputs_checked"] > 3
    verilog = (tmp_path / "design" / "accelsim_array.v").read_text()
    # each module once: the PE, about 2·log2(R) row blocks, log2 of a side delays per skewed operand, the top
    names = re.findall(r"^module (\w+)\(", verilog, re.MULTILINE)
    assert len(names) == len(set(names)) <= 5 * side.bit_length() + 2
    assert "accelsim_array_pe" in names


def test_a_mutant_in_the_last_row_is_caught(tmp_path, monkeypatch):
    """Row 15's token enters one cycle early: only an array with 16 rows can show it."""
    import accelsim.rtl.array as generator

    real, real_values = generator._skew, generator._skew_values

    def early_last_row(m, enable, lanes, name):
        out, stages = real(m, enable, lanes, name)
        if name == "skw_v" and len(lanes) == 16:
            out[15] = stages[13][1:2]
        return out, stages

    def early_last_row_values(m, enable, lanes, name, modules, delays=None):
        if name == "skw" and len(lanes) == 16:
            delays = [*range(15), 14]
        return real_values(m, enable, lanes, name, modules, delays)

    monkeypatch.setattr(generator, "_skew_values", early_last_row_values)
    monkeypatch.setattr(generator, "_skew", early_last_row)
    result = verify(ArrayConfig(rows=16, cols=16), load_dataflow("ws"), cases=3, seed=16, stall_p=0.4,
                    max_folds=2, build_dir=tmp_path)
    assert result["mismatches"] > 0
    assert "expected" in result["first_mismatch"] and "at cycle" in result["first_mismatch"]
