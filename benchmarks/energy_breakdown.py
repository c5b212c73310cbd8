"""ResNet-50's energy breakdown on three presets: the table in docs/energy.md.

    python benchmarks/energy_breakdown.py [TABLE]      # default table: horowitz45

``tiny``, ``sa32`` and ``sa128`` with the ``ws`` dataflow and the memory model, dense int8,
priced by :func:`accelsim.cost.network_energy`. Deterministic: the same numbers on every run.
"""

from __future__ import annotations

import sys

from accelsim.arch import resolve_arch
from accelsim.cost import COMPONENTS, OPERANDS, load_energy_table, network_energy
from accelsim.mapping import load_dataflow
from accelsim.sim import simulate
from accelsim.workload.yamlio import resolve_workload

PRESETS = ("tiny", "sa32", "sa128")


def main(table_name: str = "horowitz45") -> None:
    table = load_energy_table(table_name)
    graph = resolve_workload("resnet50")
    unit = "µJ" if table_name != "normalised" else "M MAC-units"
    print(f"table: {table.name} ({unit}); components in {unit}, operands in % of the total\n")
    print(f"| preset | cycles | total | " + " | ".join(COMPONENTS)
          + " | " + " | ".join(f"{o} %" for o in OPERANDS) + " | per MAC |")
    print("|---" * (4 + len(COMPONENTS) + len(OPERANDS)) + "|")
    for preset in PRESETS:
        arch = resolve_arch(preset)
        result = simulate(graph, arch, load_dataflow("ws"))
        e = network_energy(result, arch, table)
        total = e.total_pj

        def pct(x: float) -> str:
            return f"{100 * x / total:.1f}"

        print(f"| {preset} | {result.total_cycles:,} | {total / 1e6:,.1f} | "
              + " | ".join(f"{e.by_component[c] / 1e6:,.1f}" for c in COMPONENTS) + " | "
              + " | ".join(pct(e.by_operand[o]) for o in OPERANDS)
              + f" | {total / result.total_macs:.3f} |")


if __name__ == "__main__":
    main(*sys.argv[1:])
