"""The generated Verilog under Icarus via cocotb, against the reference engine (value and cycle of
every output), plus export and the CLI. In CI a missing simulator fails; elsewhere it skips."""

import json

import pytest

pytest.importorskip("cocotb_tools", reason="install the hdl extra: pip install -e '.[hdl]'")

from accelsim.arch import ArrayConfig  # noqa: E402
from accelsim.cli import main  # noqa: E402
from accelsim.errors import HDLError  # noqa: E402
from accelsim.mapping import load_dataflow  # noqa: E402
from accelsim.rtl.cocotb_run import verify  # noqa: E402
from accelsim.rtl.export import design_digest, write_design  # noqa: E402

pytestmark = [pytest.mark.rtl, pytest.mark.usefixtures("icarus")]


MATRIX = [
    ("1x1 ws", dict(rows=1, cols=1), "ws"),
    ("3x2 os saturate narrow", dict(rows=3, cols=2, input_bits=4, weight_bits=4, acc_bits=8, overflow="saturate"), "os"),
    ("2x5 is unsigned single", dict(rows=2, cols=5, signed=False, acc_bits=16, double_buffered=False), "is"),
    ("4x4 ws signed wrap", dict(rows=4, cols=4, acc_bits=16), "ws"),
    ("4x4 os single wrap unsigned", dict(rows=4, cols=4, signed=False, acc_bits=16, double_buffered=False), "os"),
    ("8x8 ws int8 saturate", dict(rows=8, cols=8, acc_bits=18, overflow="saturate"), "ws"),
]


@pytest.mark.parametrize("label, fields, dataflow", MATRIX, ids=[m[0] for m in MATRIX])
def test_verilog_equals_the_reference(tmp_path, label, fields, dataflow):
    result = verify(ArrayConfig(**fields), load_dataflow(dataflow), cases=24, seed=len(label),
                    stall_p=0.4, build_dir=tmp_path)
    assert result["mismatches"] == 0, result["first_mismatch"]
    assert result["cases"] == 24 and result["outputs_checked"] > 24 and result["cycles_checked"] > 100


SATURATING = ArrayConfig(rows=3, cols=3, acc_bits=16, overflow="saturate")


def test_a_broken_verilog_file_is_caught(tmp_path, capsys):
    written = write_design(SATURATING, load_dataflow("ws"), tmp_path / "design")
    broken = tmp_path / "broken.v"
    text = open(written["verilog"]).read()
    assert "17'h07fff" in text  # the saturation bound, +32767 at 17 bits
    broken.write_text(text.replace("17'h07fff", "17'h07ffe"))  # saturate one short everywhere
    arch_file = tmp_path / "arch.yaml"
    arch_file.write_text("rows: 3\ncols: 3\nacc_bits: 16\noverflow: saturate\n")
    code = main(["hdl", "verify", "--arch", str(arch_file), "--dataflow", "ws", "--verilog", str(broken),
                 "--cases", "40", "--build-dir", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert "cases differ; first: case" in err and "expected" in err and "at cycle" in err


def test_verilog_that_does_not_compile_is_a_clear_error(tmp_path):
    written = write_design(SATURATING, load_dataflow("ws"), tmp_path / "design")
    truncated = tmp_path / "truncated.v"
    truncated.write_text(open(written["verilog"]).read()[:5000])
    with pytest.raises(HDLError, match="icarus could not compile it"):
        verify(SATURATING, load_dataflow("ws"), cases=1, verilog=truncated, build_dir=tmp_path / "b")


def test_generate_writes_verilog_spec_and_ports(tmp_path, capsys):
    out = tmp_path / "gen"
    assert main(["hdl", "generate", "--arch", "tiny", "--dataflow", "os", "-o", str(out), "--json"]) == 0
    written = json.loads(capsys.readouterr().out)
    verilog = (out / "accelsim_array.v").read_text()
    assert "module accelsim_array" in verilog and str(tmp_path) not in verilog and "/work/" not in verilog
    spec = json.loads((out / "spec.json").read_text())
    assert spec["digest"] == written["digest"] == design_digest(spec_arch := ArrayConfig.from_dict(spec["arch"]),
                                                                 load_dataflow("os"))
    assert (spec_arch.rows, spec_arch.cols, spec["dataflow"]["name"]) == (4, 4, "os")
    ports = {p["name"]: p for p in json.loads((out / "ports.json").read_text())}
    assert ports["out_data"]["elements"] == 4 and ports["out_data"]["element_width"] == 32
    assert ports["stream_top"]["width"] == 4 * 8 and ports["stream_mask"]["width"] == 4
    # nothing is overwritten without --force
    assert main(["hdl", "generate", "--arch", "tiny", "-o", str(out), "--dataflow", "os"]) == 1
    assert "exists; pass --force" in capsys.readouterr().err
    assert main(["hdl", "generate", "--arch", "tiny", "-o", str(out), "--dataflow", "os", "--force"]) == 0


def test_port_widths_follow_the_config(tmp_path):
    arch = ArrayConfig(rows=2, cols=3, input_bits=5, weight_bits=3, acc_bits=11, signed=False)
    write_design(arch, load_dataflow("ws"), tmp_path)
    ports = {p["name"]: p for p in json.loads((tmp_path / "ports.json").read_text())}
    assert (ports["load_data"]["width"], ports["stream_data"]["width"], ports["out_data"]["width"]) == (3 * 3, 2 * 5, 3 * 11)
    assert not ports["out_data"]["signed"]
    write_design(arch, load_dataflow("is"), tmp_path / "is")
    ports = {p["name"]: p for p in json.loads((tmp_path / "is" / "ports.json").read_text())}
    assert (ports["load_data"]["element_width"], ports["stream_data"]["element_width"]) == (5, 3)  # roles swap


def test_unsupported_dataflow_for_the_arch(tmp_path):
    with pytest.raises(HDLError, match="does not support dataflow 'os'"):
        write_design(ArrayConfig(rows=2, cols=2, dataflows=("ws",)), load_dataflow("os"), tmp_path)
