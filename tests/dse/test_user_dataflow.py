"""A user's dataflow file identical to a bundled one (issue 17): the same hardware, so the same numbers.

Area used to be keyed by the dataflow's *name*, so a copy of ``ws.yaml`` called ``myws`` ran in both
engines but made every DSE point infeasible ("no table rows for dataflow 'myws'").
"""

from __future__ import annotations

import json

import yaml

from accelsim.arch import resolve_arch
from accelsim.cli import main
from accelsim.mapping import load_dataflow

NUMBERS = ("total_cycles", "energy_pj", "area_um2", "pe_area_um2", "sram_area_um2", "utilization", "dram_bytes",
           "latency_ms", "power_mw")


def _copy_of(tmp_path, bundled: str, name: str) -> str:
    data = load_dataflow(bundled).to_dict() | {"name": name, "description": f"my copy of {bundled}"}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def _arch_file(tmp_path, dataflows: list[str], name: str) -> str:
    data = resolve_arch("sa32").to_dict() | {"name": name, "dataflows": dataflows}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def _run(capsys, argv):
    assert main(argv) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_a_copy_of_ws_simulates_like_ws(tmp_path, capsys):
    mine = _copy_of(tmp_path, "ws", "myws")
    ws = _run(capsys, ["simulate", "alexnet", "--arch", _arch_file(tmp_path, ["ws"], "a_ws"), "--dataflow", "ws",
                       "--json"])
    my = _run(capsys, ["simulate", "alexnet", "--arch", _arch_file(tmp_path, ["myws"], "a_my"), "--dataflow", mine,
                       "--json"])
    assert my["dataflow"] == "myws" and ws["dataflow"] == "ws"
    for key in ("total_cycles", "energy_pj", "dram_bytes", "utilization", "stall_cycles"):
        assert my[key] == ws[key], key


def test_copies_of_ws_and_os_give_the_dse_numbers_of_ws_and_os(tmp_path, capsys):
    mine = {"ws": _copy_of(tmp_path, "ws", "myws"), "os": _copy_of(tmp_path, "os", "myos")}
    for mapping in ("search", "fixed"):
        theirs = _run(capsys, ["dse", "alexnet", "--axis", "rows=8,16", "--axis", "dataflow=ws,os", "--mapping", mapping,
                               "-o", str(tmp_path / f"bundled_{mapping}"), "--no-plots", "--json"])["points"]
        ours = _run(capsys, ["dse", "alexnet", "--axis", "rows=8,16", "--axis", f"dataflow={mine['ws']},{mine['os']}",
                             "--mapping", mapping, "-o", str(tmp_path / f"user_{mapping}"), "--no-plots",
                             "--json"])["points"]
        assert len(ours) == len(theirs) == 4
        for a, b in zip(theirs, ours):
            assert a["feasible"] and b["feasible"], b.get("reason")
            assert {k: a[k] for k in NUMBERS} == {k: b[k] for k in NUMBERS}
            assert a["area_um2"] > a["pe_area_um2"] > 0
            # the same mapping, only the dataflow's name differs
            assert [(m["loop_order"], m["temporal_tile"]) for m in a["mapping"].values()] == \
                   [(m["loop_order"], m["temporal_tile"]) for m in b["mapping"].values()]
            assert {m["dataflow"] for m in b["mapping"].values()} == {"my" + a["dataflow"]}
