"""Write the generated array as Verilog, with ``spec.json`` (the exact config) and ``ports.json``."""

from __future__ import annotations

import json
from pathlib import Path

from amaranth.back import verilog
from amaranth.lib import data, wiring

from ..arch import ArrayConfig
from ..arch.config import stable_digest
from ..errors import HDLError
from ..mapping.dataflow import DataflowSpec
from .array import SystolicArray

TOP = "accelsim_array"


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


def generate_verilog(arch: ArrayConfig, dataflow: DataflowSpec) -> tuple[str, SystolicArray]:
    """Verilog text of the array (no source paths inside) and the component it came from."""
    if dataflow.name not in arch.dataflows:
        raise HDLError(f"architecture '{arch.name}' does not support dataflow '{dataflow.name}' "
                       f"(it supports {', '.join(arch.dataflows)})")
    dut = SystolicArray(arch, dataflow)
    return verilog.convert(dut, name=TOP, emit_src=False), dut


def write_design(arch: ArrayConfig, dataflow: DataflowSpec, folder: str | Path, *, force: bool = False) -> dict:
    """Write ``accelsim_array.v``, ``spec.json`` and ``ports.json`` into ``folder``.

    Existing files are never overwritten unless ``force``.
    """
    folder = Path(folder)
    names = (f"{TOP}.v", "spec.json", "ports.json")
    clash = [n for n in names if (folder / n).exists()]
    if clash and not force:
        raise HDLError(f"{folder / clash[0]} exists; pass --force to overwrite")
    text, dut = generate_verilog(arch, dataflow)
    spec = {"version": 1, "top": TOP, "digest": design_digest(arch, dataflow), "arch": arch.to_dict(),
            "dataflow": dataflow.to_dict()}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / names[0]).write_text(text)
    (folder / names[1]).write_text(json.dumps(spec, indent=1) + "\n")
    (folder / names[2]).write_text(json.dumps(ports_description(dut), indent=1) + "\n")
    return {"verilog": str(folder / names[0]), "spec": str(folder / names[1]), "ports": str(folder / names[2]),
            "digest": spec["digest"], "lines": text.count("\n")}
