"""SCALE-Sim compatibility: its config, topology and report files, and (optionally) its numbers.

``accelsim scalesim -c CONFIG.cfg -t TOPOLOGY.csv`` reads SCALE-Sim v3's inputs and writes its
COMPUTE / BANDWIDTH / DETAILED_ACCESS (and SPARSE) reports. By default the numbers are accelsim's
RTL-true timing (:mod:`accelsim.scalesim.native`); ``--convention scalesim`` reproduces SCALE-Sim's
own numbers (:mod:`accelsim.scalesim.compat`). ``docs/scalesim.md`` explains every difference.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from accelsim.scalesim.inputs import (
    ScaleSimConfig,
    ScaleSimLayer,
    load_config,
    load_topology,
)

__all__ = ["ScaleSimConfig", "ScaleSimLayer", "ScaleSimRun", "load_config", "load_topology", "run_scalesim_files"]


class ScaleSimRun(NamedTuple):
    """What :func:`run_scalesim_files` did: per-layer reports, the config, files written, warnings."""

    reports: list
    config: ScaleSimConfig
    written: list[Path]
    warnings: list[str]


def _prepare_folder(output: str | Path, config_path: str, config: ScaleSimConfig, names: list[str],
                    force: bool) -> Path:
    """``output/<run_name>``, checked and emptied of an earlier run's files (with ``force``)."""
    from accelsim.outputs import child_name, claim_files, output_folder
    from accelsim.scalesim.reports import REPORT_NAMES
    from accelsim.scalesim.traces import LAYER_FOLDER, TRACE_NAMES

    run_name = child_name(config.run_name, what=f"{config_path}: `[general] run_name`")
    directory = output_folder(output_folder(output) / run_name)
    # An earlier run may have written traces for any number of layers: all of them are stale candidates.
    layer_dirs = [d for d in directory.glob(LAYER_FOLDER.format("*")) if d.is_dir()] if directory.is_dir() else []
    stale = list(REPORT_NAMES) + [f"{d.name}/{t}" for d in layer_dirs for t in TRACE_NAMES]
    claim_files(directory, names, force=force, stale=stale)
    for folder in layer_dirs:
        if not any(folder.iterdir()):
            folder.rmdir()
    return directory


def run_scalesim_files(config_path: str, topology_path: str, *, gemm: bool = False, output: Path | None = None,
                       convention: str = "accelsim", force: bool = False, traces: bool = False) -> ScaleSimRun:
    """Simulate SCALE-Sim input files; write the CSV reports under ``output/<run_name>/`` if given.

    Every file goes inside ``output``: a ``run_name`` that is not a plain name is an
    :class:`~accelsim.errors.OutputError`. Existing reports are never overwritten unless ``force``;
    a forced rerun removes the files of an earlier run that this one does not write (e.g. its
    SPARSE_REPORT or traces). ``traces`` (``--convention scalesim`` only) also writes SCALE-Sim's
    per-cycle SRAM and DRAM traces to ``layer<i>/``. Warnings (unknown config keys, extra topology
    fields) are returned, never printed.
    """
    from accelsim.errors import UnsupportedError
    from accelsim.progress import progress
    from accelsim.scalesim import compat, native
    from accelsim.scalesim.reports import report_names, write_reports

    warnings: list[str] = []
    config = load_config(config_path, warnings=warnings)
    layers = load_topology(topology_path, gemm=gemm, warnings=warnings)
    if traces and convention != "scalesim":
        raise UnsupportedError("--traces writes SCALE-Sim's traces: it needs --convention scalesim")
    directory = None
    if output is not None:
        names = report_names(config.sparsity_support)
        if traces:
            from accelsim.scalesim.traces import trace_names

            names += trace_names(len(layers))
        directory = _prepare_folder(output, config_path, config, names, force)
    engine = compat if convention == "scalesim" else native
    trace_dir = directory if traces else None
    reports = engine.simulate(progress(layers, total=len(layers), desc="layers", unit="layer"), config,
                              **({"trace_dir": trace_dir} if trace_dir is not None else {}))
    written: list[Path] = []
    if directory is not None:
        # accelsim's convention stores N:M weights in its own index form (value + index per kept weight)
        representation = config.sparse_representation if convention == "scalesim" else native.NM_REPRESENTATION
        written = write_reports(reports, directory, sparse=config.sparsity_support, representation=representation)
        if traces:
            written += [directory / n for n in trace_names(len(layers))]
    return ScaleSimRun(reports, config, written, warnings)
