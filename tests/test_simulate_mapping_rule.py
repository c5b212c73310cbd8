"""simulate's mapping rule and its fallbacks, said in the report (issue 17 §2)."""

from __future__ import annotations

import json

import pytest

from accelsim.cli import main


def _json(capsys, *argv: str) -> dict:
    assert main(["simulate", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("workload, arch, dataflow", [("resnet18", "sa32", "ws"), ("bert_base_s128", "edge", "os"),
                                                       ("mobilenet_v2", "sa128", "is")])
def test_the_searched_mapping_is_never_slower_per_layer_and_the_report_says_which_rule_ran(capsys, workload, arch,
                                                                                          dataflow):
    fixed = _json(capsys, workload, "--arch", arch, "--dataflow", dataflow)
    search = _json(capsys, workload, "--arch", arch, "--dataflow", dataflow, "--mapping", "search")
    assert (fixed["mapping"], search["mapping"]) == ("fixed", "search")
    for f, s in zip(fixed["layers"], search["layers"]):
        assert s["cycles"] <= f["cycles"], f["name"]  # the fixed choice is one of the search's candidates
    assert search["total_cycles"] <= fixed["total_cycles"]


def test_bit_serial_int16_inputs_move_twice_the_int8_input_bytes_not_more(capsys):
    """Bit-serial PEs take any width: 16-bit inputs are twice the bytes of 8-bit ones under either rule."""
    for rule in ("fixed", "search"):
        by_bits = {b: _json(capsys, "resnet50", "--arch", "sa128", "--pe", "bit-serial", "--input-bits", str(b),
                            "--dataflow", "ws", "--mapping", rule) for b in (8, 16)}
        if rule == "fixed":
            ifmap = {b: sum(r["dram_ifmap_bytes"] for r in d["layers"]) for b, d in by_bits.items()}
            assert ifmap[16] == 2 * ifmap[8] == 21_328_896
        assert by_bits[16]["total_cycles"] > by_bits[8]["total_cycles"]


def test_search_with_what_it_cannot_rank_is_one_line(capsys):
    assert main(["simulate", "resnet18", "--mapping", "search", "--ideal-memory"]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("accelsim: error:") and "--ideal-memory" in err and "\n" not in err


@pytest.mark.parametrize("argv, expected", [
    (["--weight-sparsity", "2:4"], "weight zeros multiplied (the array has no sparsity support"),
    (["--weight-sparsity", "0.4", "--weight-format", "bitmap"], "weight zeros multiplied (stored compressed, computed dense)"),
    (["--weight-sparsity", "3:4", "--weight-nm", "2:4", "--dataflow", "ws"], "weights ran dense on 2:4 PEs"),
    (["--weight-sparsity", "2:4", "--weight-nm", "2:4", "--input-sparsity", "0.5", "--dataflow", "ws"],
     "input zeros multiplied (N:M PEs skip by the weights' structure only)"),
    (["--weight-sparsity", "0.5", "--sparse", "skip"], "weight zeros skipped nothing"),
    (["--input-sparsity", "0.01", "--sparse", "skip", "--dataflow", "ws"],
     "input zeros multiplied (stationary-mode skipping drops only weight rows"),
])
def test_a_fallback_is_in_assumptions_and_on_the_table(capsys, argv, expected):
    data = _json(capsys, "resnet18", "--arch", "sa32", *argv)
    assert any(expected in note for note in data["assumptions"]), data["assumptions"]
    assert main(["simulate", "resnet18", "--arch", "sa32", *argv]) == 0
    assert "note: 21 layers" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [[], ["--weight-sparsity", "0.5", "--sparse", "gate"],
                                  ["--weight-sparsity", "2:4", "--weight-nm", "2:4", "--dataflow", "ws"],
                                  ["--input-sparsity", "0.01", "--sparse", "skip", "--dataflow", "os"]])
def test_what_runs_as_described_assumes_nothing(capsys, argv):
    assert _json(capsys, "resnet18", "--arch", "sa32", *argv)["assumptions"] == []


