"""Write the generated array as Verilog, with ``spec.json`` (the exact config) and ``ports.json``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from amaranth.back import rtlil, verilog
from amaranth.lib import data, wiring

from ..arch import ArrayConfig
from ..arch.config import stable_digest
from ..errors import HDLError
from ..mapping.dataflow import DataflowSpec
from ..outputs import claim_files, output_folder
from .array import SystolicArray

TOP = "accelsim_array"
MAX_SIDE = 256  # rows and columns; tpuv1 (256x256) takes about 40 s; its row blocks' wiring grows with a side


def design_digest(arch: ArrayConfig, dataflow: DataflowSpec) -> str:
    """A short key of the design: the config and the dataflow."""
    return stable_digest({"arch": arch.to_dict(), "dataflow": dataflow.to_dict()})


def ports_description(dut: SystolicArray) -> list[dict]:
    """Every port: name, direction, total width, and element count/width/signedness for arrays."""
    out = []
    for name, member in dut.signature.members.items():
        shape = member.shape
        entry = {"name": name, "direction": "input" if member.flow == wiring.In else "output"}
        if isinstance(shape, data.ArrayLayout):
            elem = shape.elem_shape
            entry |= {"width": shape.size, "elements": shape.length, "element_width": elem.width,
                      "signed": elem.signed}
        else:
            entry |= {"width": shape.width if hasattr(shape, "width") else int(shape), "signed": False}
        out.append(entry)
    out += [{"name": "clk", "direction": "input", "width": 1, "signed": False},
            {"name": "rst", "direction": "input", "width": 1, "signed": False, "note": "synchronous, active high"}]
    return out


def design_ports(arch: ArrayConfig, dataflow: DataflowSpec) -> list[dict]:
    """:func:`ports_description` of the array for ``arch`` and ``dataflow``."""
    dut = SystolicArray(arch, dataflow)
    dut._MustUse__silence = True  # built only to read its signature
    return ports_description(dut)


def check_size(arch: ArrayConfig) -> None:
    """Refuse an array too large to generate in reasonable time (:data:`MAX_SIDE`)."""
    if max(arch.rows, arch.cols) > MAX_SIDE:
        raise HDLError(f"the hdl commands support arrays up to {MAX_SIDE}x{MAX_SIDE}, not {arch.rows:,}x{arch.cols:,}")


def generate_verilog(arch: ArrayConfig, dataflow: DataflowSpec,
                     on_module: Callable[[str], None] | None = None) -> str:
    """Verilog text of the array (no source paths inside): the top module, then every module it
    instantiates, each once. ``on_module(name)`` is called as each module is converted."""
    if dataflow.name not in arch.dataflows:
        raise HDLError(f"architecture '{arch.name}' does not support dataflow '{dataflow.name}' "
                       f"(it supports {', '.join(arch.dataflows)})")
    check_size(arch)
    modules: dict = {}
    # every module to RTLIL (Amaranth, in Python), then one Yosys run writes them all (in name
    # order): a Yosys run per module cost about as much as converting a small module
    texts = [rtlil.convert(SystolicArray(arch, dataflow, modules=modules), name=TOP, emit_src=False)]
    if on_module:
        on_module(TOP)
    done = 0
    while done < len(modules):  # converting a module may record the modules it instantiates
        name, component = list(modules.items())[done]
        texts.append(rtlil.convert(component, name=name, emit_src=False).replace("attribute \\top 1\n", "", 1))
        done += 1
        if on_module:
            on_module(name)
    # the Yosys step of amaranth.back.verilog.convert (Amaranth is pinned to 0.5.10 by the hdl extra)
    return verilog._convert_rtlil_text("".join(texts))


def write_design(arch: ArrayConfig, dataflow: DataflowSpec, folder: str | Path, *, force: bool = False,
                 on_module: Callable[[str], None] | None = None) -> dict:
    """Write ``accelsim_array.v``, ``spec.json`` and ``ports.json`` into ``folder``.

    Existing files are never overwritten unless ``force``; ``folder`` must not be a file.
    """
    folder = output_folder(folder)
    names = (f"{TOP}.v", "spec.json", "ports.json")
    claim_files(folder, names, force=force)
    text = generate_verilog(arch, dataflow, on_module)
    spec = {"version": 1, "top": TOP, "digest": design_digest(arch, dataflow), "arch": arch.to_dict(),
            "dataflow": dataflow.to_dict()}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / names[0]).write_text(text)
    (folder / names[1]).write_text(json.dumps(spec, indent=1) + "\n")
    (folder / names[2]).write_text(json.dumps(design_ports(arch, dataflow), indent=1) + "\n")
    return {"verilog": str(folder / names[0]), "spec": str(folder / names[1]), "ports": str(folder / names[2]),
            "digest": spec["digest"], "lines": text.count("\n"), "bytes": len(text.encode())}
