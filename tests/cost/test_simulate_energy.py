"""`simulate` prices every layer with the energy table: per layer, in total, in the table and the JSON."""

from __future__ import annotations

import json

from accelsim.arch import resolve_arch
from accelsim.cli import main
from accelsim.cost import layer_energy, load_energy_table, network_energy
from accelsim.mapping import load_dataflow
from accelsim.sim import simulate
from accelsim.workload import resolve_workload


def test_simulate_carries_each_layers_energy_and_the_exact_network_sum():
    arch, table = resolve_arch("edge"), load_energy_table("horowitz45")
    result = simulate(resolve_workload("resnet18"), arch, load_dataflow("ws"))
    for layer in result.layers:
        assert layer.energy_pj == layer_energy(layer, arch, table).total_pj
    total = network_energy(result.layers, arch, table)
    assert result.energy.total_pj == total.total_pj > 0 and result.energy.table == "horowitz45"
    assert result.to_dict()["energy_pj"] == total.total_pj
    assert abs(sum(result.energy.breakdown.by_component.values()) - total.total_pj) < 0.01
    assert simulate(resolve_workload("resnet18"), arch, load_dataflow("ws"), energy_table=None).energy is None


def test_cli_energy_table_option(capsys, tmp_path):
    assert main(["simulate", "resnet18", "--arch", "edge", "--json", "--energy-table", "normalised"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["energy"]["unit"] == "mac" and data["energy"]["table"] == "normalised"
    assert main(["simulate", "resnet18", "--arch", "edge", "--energy-table", "normalised"]) == 0
    assert "million MACs' worth" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsource: y\nmac_8x8: -1\n")
    assert main(["simulate", "resnet18", "--energy-table", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(bad) in err and "mac_8x8" in err
