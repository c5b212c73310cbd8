"""SCALE-Sim compatibility: its config, topology and report files, and (optionally) its numbers.

``accelsim scalesim -c CONFIG.cfg -t TOPOLOGY.csv`` reads SCALE-Sim v3's inputs and writes its
COMPUTE / BANDWIDTH / DETAILED_ACCESS (and SPARSE) reports. By default the numbers are accelsim's
RTL-true timing (:mod:`accelsim.scalesim.native`); ``--convention scalesim`` reproduces SCALE-Sim's
own numbers (:mod:`accelsim.scalesim.compat`). ``docs/scalesim.md`` explains every difference.
"""

from __future__ import annotations

from pathlib import Path

from accelsim.errors import AccelsimError
from accelsim.scalesim.inputs import ScaleSimConfig, ScaleSimLayer, load_config, load_topology

__all__ = ["ScaleSimConfig", "ScaleSimLayer", "load_config", "load_topology", "run_scalesim_files"]


def run_scalesim_files(config_path: str, topology_path: str, *, gemm: bool = False, output: Path | None = None,
                       convention: str = "accelsim", force: bool = False):
    """Simulate SCALE-Sim input files; write the CSV reports under ``output/<run_name>/`` if given.

    Returns ``(layer reports, config, files written)``. Existing reports are never overwritten
    unless ``force``.
    """
    from accelsim.scalesim import compat, native
    from accelsim.scalesim.reports import REPORT_NAMES, write_reports

    config = load_config(config_path)
    layers = load_topology(topology_path, gemm=gemm)
    written: list[Path] = []
    directory = output / config.run_name if output is not None else None
    if directory is not None and not force:
        existing = [directory / n for n in REPORT_NAMES if (directory / n).exists()]
        if existing:
            raise AccelsimError(f"{existing[0]} exists; pass --force to overwrite the reports in {directory}")
    engine = compat if convention == "scalesim" else native
    reports = engine.simulate(layers, config)
    if directory is not None:
        written = write_reports(reports, directory, sparse=config.sparsity_support,
                                representation=config.sparse_representation)
    return reports, config, written
