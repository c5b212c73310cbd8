"""Write and read SCALE-Sim's report CSVs (same headers, same column order, same number format)."""

from __future__ import annotations

from pathlib import Path

from accelsim.atomic import atomic_write_text
from accelsim.scalesim.compat import LayerReport

COMPUTE = ("COMPUTE_REPORT.csv",
           ("LayerID, Total Cycles (incl. prefetch), Total Cycles, Stall Cycles, Overall Util %, "
            "Mapping Efficiency %, Compute Util %,"),
           ("total_cycles_with_prefetch", "total_cycles", "stall_cycles", "overall_util", "mapping_efficiency",
            "compute_util"))
DETAIL_FIELDS = tuple(f"{mem}_{op}_{what}" for mem, op in (("sram", "ifmap"), ("sram", "filter"),
                                                           ("sram", "ofmap"), ("dram", "ifmap"),
                                                           ("dram", "filter"), ("dram", "ofmap"))
                      for what in ("start", "stop", "writes" if op == "ofmap" else "reads"))
DETAIL = ("DETAILED_ACCESS_REPORT.csv",
          ("LayerID, SRAM IFMAP Start Cycle, SRAM IFMAP Stop Cycle, SRAM IFMAP Reads, SRAM Filter Start Cycle, "
           "SRAM Filter Stop Cycle, SRAM Filter Reads, SRAM OFMAP Start Cycle, SRAM OFMAP Stop Cycle, "
           "SRAM OFMAP Writes, DRAM IFMAP Start Cycle, DRAM IFMAP Stop Cycle, DRAM IFMAP Reads, "
           "DRAM Filter Start Cycle, DRAM Filter Stop Cycle, DRAM Filter Reads, DRAM OFMAP Start Cycle, "
           "DRAM OFMAP Stop Cycle, DRAM OFMAP Writes,"),
          DETAIL_FIELDS)
REPORT_NAMES = ("COMPUTE_REPORT.csv", "BANDWIDTH_REPORT.csv", "DETAILED_ACCESS_REPORT.csv", "SPARSE_REPORT.csv")


def report_names(sparse: bool) -> list[str]:
    """The report files a run writes (SPARSE_REPORT only with sparsity support on)."""
    return list(REPORT_NAMES if sparse else REPORT_NAMES[:3])


def _bandwidths(rep: LayerReport, sparse: bool) -> list[float]:
    cycles = rep.total_cycles
    values = [rep.sram_ifmap_reads / cycles, rep.sram_filter_reads / cycles]
    if sparse:
        values.append(rep.metadata_reads / cycles)
    values.append(rep.sram_ofmap_writes / cycles)
    for op, count in (("ifmap", rep.dram_ifmap_reads), ("filter", rep.dram_filter_reads),
                      ("ofmap", rep.dram_ofmap_writes)):
        start, stop = getattr(rep, f"dram_{op}_start"), getattr(rep, f"dram_{op}_stop")
        values.append(count / (stop - start + 1))
    return values


def _line(layer_id: int, values) -> str:
    return f"{layer_id}, " + ", ".join(str(v) for v in values) + ",\n"


def write_reports(reports: list[LayerReport], directory: Path, *, sparse: bool, representation: str) -> list[Path]:
    """Write SCALE-Sim's CSV reports for ``reports`` into ``directory``; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, header, fields in (COMPUTE, DETAIL):
        path = directory / name
        atomic_write_text(path, header + "\n" + "".join(_line(i, [getattr(r, f) for f in fields])
                                                 for i, r in enumerate(reports)))
        written.append(path)
    bw_header = "LayerID, Avg IFMAP SRAM BW, Avg FILTER SRAM BW, "
    bw_header += "Avg FILTER Metadata SRAM BW, Avg OFMAP SRAM BW, " if sparse else "Avg OFMAP SRAM BW, "
    bw_header += "Avg IFMAP DRAM BW, Avg FILTER DRAM BW, Avg OFMAP DRAM BW,"
    path = directory / "BANDWIDTH_REPORT.csv"
    atomic_write_text(path, bw_header + "\n" + "".join(_line(i, _bandwidths(r, sparse)) for i, r in enumerate(reports)))
    written.append(path)
    if sparse:
        path = directory / "SPARSE_REPORT.csv"
        header = ("LayerID, Sparsity Representation, Original Filter Storage, New Storage (Filter+Metadata),"
                  " Filter Metadata Storage, Avg FILTER Metadata SRAM BW, ")
        atomic_write_text(path, header + "\n" + "".join(
            f"{i}, {representation}, " + ", ".join(str(v) for v in (
                r.filter_storage, r.filter_storage_compressed, r.metadata_reads,
                r.metadata_reads / r.total_cycles)) + ",\n"
            for i, r in enumerate(reports)))
        written.append(path)
    return written


def read_report(path: Path) -> list[dict[str, float | str]]:
    """Rows of one SCALE-Sim CSV report as ``{column header: number}`` dicts (for comparisons; a cell
    that is not a number, such as the layer name, stays text)."""
    lines = [ln for ln in Path(path).read_text().splitlines() if ln.strip()]
    header = [h.strip() for h in lines[0].split(",")]
    rows = []
    for ln in lines[1:]:
        cells = [c.strip() for c in ln.split(",")]
        row: dict[str, float | str] = {}
        for key, cell in zip(header, cells):
            if key:
                try:
                    row[key] = float(cell)
                except ValueError:
                    row[key] = cell
        rows.append(row)
    return rows
