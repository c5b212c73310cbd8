"""Cost models: energy per action × counts (:mod:`accelsim.cost.energy`, ``docs/energy.md``)."""

from .energy import (
    COMPONENTS,
    OPERANDS,
    EnergyBreakdown,
    EnergyTable,
    SramClass,
    bundled_tables,
    layer_energy,
    load_energy_table,
    network_energy,
)

__all__ = ["COMPONENTS", "OPERANDS", "EnergyBreakdown", "EnergyTable", "SramClass", "bundled_tables",
           "layer_energy", "load_energy_table", "network_energy"]
