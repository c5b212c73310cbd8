"""Read SCALE-Sim's config (``.cfg``) and topology (``.csv``) files.

Both formats are SCALE-Sim v3's own, so users can point accelsim at the files they already have.
Every problem is a :class:`~accelsim.errors.SpecError` naming the file, the field and the reason
(SCALE-Sim itself crashes with a Python traceback or silently uses a wrong value).
"""

from __future__ import annotations

import configparser
import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from accelsim.errors import SpecError, UnsupportedError

if TYPE_CHECKING:
    from accelsim.workload.layer import Layer

DATAFLOWS = ("os", "ws", "is")
# Every key SCALE-Sim v3 reads, lower-cased (its configparser matches keys case-insensitively); anything
# else is reported, not silently dropped.
KNOWN_KEYS = {
    "general": {"run_name"},
    "architecture_presets": {"arrayheight", "arraywidth", "ifmapsramszkb", "filtersramszkb", "ofmapsramszkb",
                             "ifmapoffset", "filteroffset", "ofmapoffset", "dataflow", "bandwidth",
                             "readrequestbuffer", "writerequestbuffer"},
    "layout": {"ifmapcustomlayout", "filtercustomlayout", "ifmapsrambankbandwidth", "ifmapsrambanknum",
               "ifmapsrambankport", "filtersrambankbandwidth", "filtersrambanknum", "filtersrambankport"},
    "sparsity": {"sparsitysupport", "sparserep", "optimizedmapping", "blocksize", "randomnumbergeneratorseed",
                 "nonzeroelems"},
    "run_presets": {"interfacebandwidth", "useramulatortrace"},
    "network_presets": {"topologycsvloc"},
}
SPARSE_REPRESENTATIONS = ("csr", "csc", "ellpack_block")


@dataclass(frozen=True)
class ScaleSimConfig:
    """The parts of a SCALE-Sim config that change its results.

    Sizes are in KiB, bandwidths in words per cycle (SCALE-Sim's words are one byte).
    """

    run_name: str
    rows: int
    cols: int
    ifmap_kib: int
    filter_kib: int
    ofmap_kib: int
    dataflow: str
    ifmap_offset: int = 0
    filter_offset: int = 10_000_000
    ofmap_offset: int = 20_000_000
    user_bandwidth: bool = False
    bandwidth: int = 10
    ifmap_bank_bandwidth: int = 10
    filter_bank_bandwidth: int = 10
    sparsity_support: bool = False
    sparse_representation: str = "ellpack_block"


@dataclass(frozen=True)
class ScaleSimLayer:
    """One topology row, as SCALE-Sim reads it (a GEMM row becomes an M×K "image", 1×K filter)."""

    name: str
    ifmap_h: int
    ifmap_w: int
    filter_h: int
    filter_w: int
    channels: int
    filters: int
    stride: int
    sparsity_n: int = 1
    sparsity_m: int = 1
    source: str = field(default="", compare=False)   # "topology.csv:3", for errors found later

    @property
    def ofmap_h(self) -> int:
        # SCALE-Sim's output size: no padding, and a partial last window still counts.
        return math.ceil((self.ifmap_h - self.filter_h + self.stride) / self.stride)

    @property
    def ofmap_w(self) -> int:
        return math.ceil((self.ifmap_w - self.filter_w + self.stride) / self.stride)

    @property
    def window(self) -> int:
        return self.filter_h * self.filter_w * self.channels

    @property
    def macs(self) -> int:
        """Dense MACs as SCALE-Sim counts them (its utilisation numerator)."""
        return self.ofmap_h * self.ofmap_w * self.filters * self.window


# Bounds far beyond any real accelerator, so that a typo such as 99999999999999999999 is refused in
# one line instead of overflowing numpy's 64-bit integers deep inside the simulation.
MAX_ARRAY_SIDE = 2**16
MAX_CONFIG_INT = 2**40


def _plain_int(raw: str) -> int:
    """``raw`` (spaces stripped) as an int if it is plain decimal digits; ``+1``, ``1_9``, ``1e3`` or
    ``²`` (all but the last accepted by Python's ``int``) raise :class:`ValueError`.

    Examples
    --------
    >>> _plain_int(" 19 ")
    19
    >>> _plain_int("1_9")
    Traceback (most recent call last):
    ...
    ValueError: not plain decimal digits: '1_9'
    """
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit()):
        raise ValueError(f"not plain decimal digits: {raw!r}")
    return int(raw)


def _int_field(parser: configparser.ConfigParser, section: str, key: str, file: str, *,
               default: int | None = None, minimum: int = 1, maximum: int = MAX_CONFIG_INT) -> int:
    if not parser.has_option(section, key):
        if default is not None:
            return default
        raise SpecError("is missing", file=file, path=f"[{section}] {key}")
    raw = parser.get(section, key).strip()
    try:
        value = _plain_int(raw)
    except ValueError:
        raise SpecError(f"must be an integer, not {raw!r}", file=file, path=f"[{section}] {key}") from None
    if not minimum <= value <= maximum:
        raise SpecError(f"must be in [{minimum:,}, {maximum:,}], not {value:,}", file=file, path=f"[{section}] {key}")
    return value


def _bool_field(parser: configparser.ConfigParser, section: str, key: str, file: str, default: bool) -> bool:
    if not parser.has_option(section, key):
        return default
    raw = parser.get(section, key).strip().lower()
    if raw not in ("true", "false"):
        raise SpecError(f"must be true or false, not {raw!r}", file=file, path=f"[{section}] {key}")
    return raw == "true"


class _CaseKeepingParser(configparser.ConfigParser):
    """Keys as written (the standard parser lower-cases them)."""

    def optionxform(self, optionstr: str) -> str:
        return optionstr


def _unknown_keys(text: str, file: str) -> list[str]:
    """One warning per section or key SCALE-Sim does not read (usually a typo), spelled as in the file.

    SCALE-Sim's configparser matches keys case-insensitively (it lower-cases them); only these
    warnings read the file a second time with the keys as written.
    """
    parser = _CaseKeepingParser(strict=False)
    parser.read_string(text)
    found = []
    for section in parser.sections():
        if section not in KNOWN_KEYS:
            found.append(f"{file}: unknown section [{section}] ignored (SCALE-Sim does not read it)")
            continue
        for key in parser.options(section):
            if key.lower() not in KNOWN_KEYS[section]:
                found.append(f"{file}: unknown key `[{section}] {key}` ignored (SCALE-Sim does not read it)")
    return found


def _valid_bandwidth(raw: str) -> bool:
    try:
        return 1 <= _plain_int(raw.split(",")[0]) <= MAX_CONFIG_INT
    except ValueError:
        return False


def load_config(path: str | Path, *, warnings: list[str] | None = None) -> ScaleSimConfig:
    """Read a SCALE-Sim ``.cfg`` file; unknown sections and keys are appended to ``warnings``.

    Examples
    --------
    >>> import tempfile, os
    >>> text = "[general]\\nrun_name = demo\\n[architecture_presets]\\nArrayHeight: 8\\nArrayWidth: 8\\n" \\
    ...        "IfmapSramSzkB: 64\\nFilterSramSzkB: 64\\nOfmapSramSzkB: 32\\nDataflow: ws\\n" \\
    ...        "[run_presets]\\nInterfaceBandwidth: CALC\\n"
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = os.path.join(d, "a.cfg"); _ = open(p, "w").write(text)
    ...     load_config(p).rows
    8
    """
    file = str(path)
    parser = configparser.ConfigParser()
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        parser.read_string(text, source=file)
    except FileNotFoundError:
        raise SpecError("no such file", file=file) from None
    except (configparser.Error, UnicodeDecodeError) as exc:
        reason = str(exc).splitlines()[0]
        raise SpecError(f"not a SCALE-Sim config: {reason}", file=file) from None
    if warnings is not None:
        warnings += _unknown_keys(text, file)
    for section in ("architecture_presets", "run_presets"):
        if not parser.has_section(section):
            raise SpecError("section is missing", file=file, path=f"[{section}]")
    arch = "architecture_presets"
    dataflow = parser.get(arch, "Dataflow", fallback="").strip().lower()
    if dataflow not in DATAFLOWS:
        raise SpecError(f"must be one of {', '.join(DATAFLOWS)}, not {dataflow!r}", file=file,
                        path=f"[{arch}] Dataflow")
    mode = parser.get("run_presets", "InterfaceBandwidth", fallback="").strip().upper()
    if mode not in ("CALC", "USER"):
        raise SpecError(f"must be CALC or USER, not {mode!r}", file=file, path="[run_presets] InterfaceBandwidth")
    bandwidth = 10
    raw = parser.get(arch, "Bandwidth", fallback=None)
    if mode == "CALC" and raw is not None and warnings is not None and not _valid_bandwidth(raw):
        warnings.append(f"{file}: `[{arch}] Bandwidth` {raw.strip()!r} is not a positive integer; ignored, "
                        "as SCALE-Sim ignores Bandwidth in CALC mode")
    if mode == "USER":
        raw = (raw or "").strip()
        try:
            bandwidth = _plain_int(raw.split(",")[0])
        except ValueError:
            raise SpecError(f"must be an integer (words per cycle), not {raw!r}", file=file,
                            path=f"[{arch}] Bandwidth") from None
        if not 1 <= bandwidth <= MAX_CONFIG_INT:
            raise SpecError(f"must be in [1, {MAX_CONFIG_INT:,}], not {bandwidth:,}", file=file,
                            path=f"[{arch}] Bandwidth")
    if _bool_field(parser, "run_presets", "UseRamulatorTrace", file, False):
        raise UnsupportedError(f"{file}: `[run_presets] UseRamulatorTrace` needs Ramulator's latency "
                               "traces; accelsim's compatibility mode supports only False")
    layout = "layout"
    for key in ("IfmapCustomLayout", "FilterCustomLayout"):
        if _bool_field(parser, layout, key, file, False):
            raise UnsupportedError(f"{file}: `[layout] {key}` = True (custom SRAM layouts) is not "
                                   "supported by the compatibility mode; set it to False")
    sparsity = "sparsity"
    support = _bool_field(parser, sparsity, "SparsitySupport", file, False)
    representation = parser.get(sparsity, "SparseRep", fallback="ellpack_block").strip().lower()
    if support:
        if representation not in SPARSE_REPRESENTATIONS:
            raise SpecError(f"must be one of {', '.join(SPARSE_REPRESENTATIONS)}, not {representation!r}",
                            file=file, path=f"[{sparsity}] SparseRep")
        if _bool_field(parser, sparsity, "OptimizedMapping", file, False):
            raise UnsupportedError(f"{file}: `[sparsity] OptimizedMapping` = true (random per-column "
                                   "sparsity) is not supported by the compatibility mode")
    return ScaleSimConfig(
        run_name=parser.get("general", "run_name", fallback="scale_run").strip() or "scale_run",
        rows=_int_field(parser, arch, "ArrayHeight", file, maximum=MAX_ARRAY_SIDE),
        cols=_int_field(parser, arch, "ArrayWidth", file, maximum=MAX_ARRAY_SIDE),
        ifmap_kib=_int_field(parser, arch, "IfmapSramSzkB", file),
        filter_kib=_int_field(parser, arch, "FilterSramSzkB", file),
        ofmap_kib=_int_field(parser, arch, "OfmapSramSzkB", file),
        dataflow=dataflow,
        ifmap_offset=_int_field(parser, arch, "IfmapOffset", file, default=0, minimum=0),
        filter_offset=_int_field(parser, arch, "FilterOffset", file, default=10_000_000, minimum=0),
        ofmap_offset=_int_field(parser, arch, "OfmapOffset", file, default=20_000_000, minimum=0),
        user_bandwidth=mode == "USER",
        bandwidth=bandwidth,
        ifmap_bank_bandwidth=_int_field(parser, layout, "IfmapSRAMBankBandwidth", file, default=10),
        filter_bank_bandwidth=_int_field(parser, layout, "FilterSRAMBankBandwidth", file, default=10),
        sparsity_support=support,
        sparse_representation=representation,
    )


def _parse_ratio(raw: str, file: str, where: str) -> tuple[int, int]:
    parts = raw.strip().split(":")
    try:
        n, m = (_plain_int(p) for p in parts)
    except ValueError:
        raise SpecError(f"must look like N:M (e.g. 2:4), not {raw.strip()!r}", file=file, path=where) from None
    if not 1 <= n <= m:
        raise SpecError(f"needs 1 <= N <= M, not {n}:{m}", file=file, path=where)
    return n, m


def load_topology(path: str | Path, *, gemm: bool = False, warnings: list[str] | None = None) -> list[ScaleSimLayer]:
    """Read a SCALE-Sim topology CSV (conv rows, or ``M, N, K`` rows with ``gemm=True``).

    A conv layer whose name contains ``DP`` is depthwise: SCALE-Sim splits it into one
    single-channel layer per channel, and so does this reader. Rows with more fields than
    SCALE-Sim reads are appended to ``warnings`` (the extra fields are ignored, as SCALE-Sim does).
    """
    file = str(path)
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
    except FileNotFoundError:
        raise SpecError("no such file", file=file) from None
    except UnicodeDecodeError:
        raise SpecError("not a text CSV file", file=file) from None
    layers: list[ScaleSimLayer] = []
    names = ("M", "N", "K") if gemm else ("IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width",
                                          "Channels", "Num Filter", "Strides")
    for line_no, row in enumerate(rows[1:], start=2):
        cells = [c.strip() for c in row]
        while cells and cells[-1] == "":
            cells.pop()
        if not cells:
            continue
        if len(cells) < 1 + len(names):
            raise SpecError(f"has {len(cells)} fields; a {'GEMM' if gemm else 'conv'} row needs "
                            f"name, {', '.join(names)} [, N:M sparsity]", file=f"{file}:{line_no}")
        values = []
        for name, raw in zip(names, cells[1:1 + len(names)]):
            try:
                value = _plain_int(raw)
            except ValueError:
                raise SpecError(f"must be an integer, not {raw!r}", file=f"{file}:{line_no}", path=name) from None
            if value < 1:
                raise SpecError(f"must be at least 1, not {value}", file=f"{file}:{line_no}", path=name)
            values.append(value)
        if len(cells) > 2 + len(names) and warnings is not None:
            warnings.append(f"{file}:{line_no}: {len(cells) - 2 - len(names)} extra field(s) after "
                            f"`Sparsity` ignored ({', '.join(cells[2 + len(names):])})")
        ratio = cells[1 + len(names)] if len(cells) > 1 + len(names) else "1:1"
        n, m = _parse_ratio(ratio, f"{file}:{line_no}", "Sparsity")
        name, source = cells[0], f"{file}:{line_no}"
        if gemm:
            gm, gn, gk = values
            layers.append(ScaleSimLayer(name, gm, gk, 1, gk, 1, gn, 1, n, m, source))
            continue
        h, w, fh, fw, c, f, s = values
        if fh > h or fw > w:
            raise SpecError(f"filter {fh}x{fw} is larger than the {h}x{w} input", file=f"{file}:{line_no}",
                            path="Filter Height")
        if "DP" in name:
            layers.extend(ScaleSimLayer(f"{name}Channel_{i}", h, w, fh, fw, 1, f, s, n, m, source)
                          for i in range(c))
        else:
            layers.append(ScaleSimLayer(name, h, w, fh, fw, c, f, s, n, m, source))
    if not layers:
        raise SpecError("has no layer rows (the first row is the header)", file=file)
    return layers


def topology_rows(graph: Iterable[Layer]) -> list[str]:
    """SCALE-Sim topology rows (``name, ifmap h, ifmap w, filter h, filter w, channels, filters, stride,``)
    for a workload's ungrouped conv2d and linear layers; the input size includes the padding, as SCALE-Sim
    pads nothing itself.

    Examples
    --------
    >>> from accelsim.workload.layer import Layer
    >>> topology_rows([Layer("c1", "conv2d", in_shapes=((3, 8, 8),), out=4, kernel=(3, 3), padding=(1, 1, 1, 1))])
    ['c1, 10, 10, 3, 3, 3, 4, 1,']
    """
    rows = []
    for layer in graph:
        if layer.kind == "conv2d" and layer.groups == 1:
            c, h, w = layer.in_shapes[0]
            top, left, bottom, right = layer.padding
            rows.append(f"{layer.name}, {h + top + bottom}, {w + left + right}, {layer.kernel[0]}, "
                        f"{layer.kernel[1]}, {c}, {layer.out}, {layer.stride[0]},")
        elif layer.kind == "linear":
            rows.append(f"{layer.name}, 1, 1, 1, 1, {layer.in_shapes[0][-1]}, {layer.out}, 1,")
    return rows
