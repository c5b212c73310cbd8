"""Axes whose values would give identical points are one line before any work (issue 17)."""

from __future__ import annotations

import yaml

from accelsim.cli import main

from .conftest import one_line_error
from accelsim.mapping import load_dataflow




def test_an_axis_whose_values_give_the_same_design_is_refused(capsys, tmp_path):
    same_ws = tmp_path / "ws_again.yaml"  # ws under another name and description: the same hardware and mapping
    same_ws.write_text(yaml.safe_dump(load_dataflow("ws").to_dict() | {"name": "ws2", "description": "a copy"}))
    other_order = tmp_path / "ws_kn.yaml"  # the other loop order: a different design
    other_order.write_text(yaml.safe_dump(load_dataflow("ws").to_dict() | {"name": "ws_kn", "loop_order": ["K", "N"]}))
    cases = [(["--axis", "name=foo,bar"], "axis 'name' values 'foo' and 'bar' give the same design"),
             (["--axis", "memory.ifmap_kib=8,8.0"], "axis 'memory.ifmap_kib' values 8 and 8.0 give the same design"),
             (["--axis", "workload.weight_sparsity=1,1.0"], "values 1 and 1.0 give the same design"),
             (["--axis", f"dataflow=ws,{same_ws}"], f"values 'ws' and '{same_ws}' give the same design")]
    for args, words in cases:
        err = one_line_error(capsys, ["dse", "alexnet", *args, "-o", str(tmp_path / "run"), "--no-plots"])
        assert words in err, err
        assert not (tmp_path / "run").exists()  # refused before any work
    # the same name with a different meaning is a different design
    assert main(["dse", "alexnet", "--axis", f"dataflow=ws,{other_order}", "--axis", "rows=8", "-o",
                 str(tmp_path / "ok"), "--no-plots", "--mapping", "fixed"]) == 0
    assert (tmp_path / "ok" / "points.csv").read_text().count("\n") == 3


def test_dse_empty_names_are_refused_by_name(capsys, tmp_path):
    """`dse --arch ''` read the current folder ("`.`: cannot read file: Is a directory") before issue 17."""
    for argv, option in ((["dse", "alexnet", "--arch", ""], "--arch"), (["dse", ""], "workload"),
                         (["dse", "alexnet", "", "-o", str(tmp_path / "r")], "space"),
                         (["dse", "alexnet", "--energy-table", " "], "--energy-table")):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "an empty name" in err and option in err, err
