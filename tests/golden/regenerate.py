"""Write the golden ``simulate --json`` outputs: ``python tests/golden/regenerate.py``.

Only run this on purpose: the test in ``test_golden.py`` exists so that a number the simulator
prints never moves by accident. A commit that regenerates these files says why each one changed.
"""

from __future__ import annotations

import gzip
import io
import sys
from contextlib import redirect_stdout
from pathlib import Path

HERE = Path(__file__).parent
ARCHS = ("tiny", "edge", "sa32", "sa128")


# Precision, sparsity and mapping features, each pinned on a real network (tag -> extra options).
FEATURES = {
    "nm24": ("resnet50", "sa32", "ws", ("--weight-sparsity", "2:4", "--weight-nm", "2:4")),
    "skip": ("resnet50", "sa32", "ws", ("--weight-sparsity", "0.3", "--input-sparsity", "0.5", "--sparse", "skip")),
    "gate": ("mobilenet_v2", "edge", "os", ("--weight-sparsity", "0.5", "--sparse", "gate")),
    "bitmap": ("resnet18", "sa32", "ws", ("--weight-sparsity", "0.4", "--weight-format", "bitmap")),
    "fusible4": ("bert_base_s128", "sa128", "ws", ("--pe", "fusible", "--input-bits", "4", "--weight-bits", "4")),
    "serial16": ("resnet18", "sa128", "ws", ("--pe", "bit-serial", "--input-bits", "16")),
    "search": ("llama7b_block_prefill", "sa128", "ws", ("--mapping", "search")),
    "ideal": ("alexnet", "sa32", "os", ("--ideal-memory",)),
}


def cases():
    """Every (workload, arch, dataflow, feature tag) the golden files pin ("" is the plain run)."""
    from accelsim._paths import data_dir
    from accelsim.arch import resolve_arch

    for workload in sorted(p.stem for p in data_dir("workloads").glob("*.yaml")):
        for arch in ARCHS:
            for dataflow in resolve_arch(arch).dataflows:
                yield workload, arch, dataflow, ""
    for tag, (workload, arch, dataflow, _) in FEATURES.items():
        yield workload, arch, dataflow, tag


def simulate_json(workload: str, arch: str, dataflow: str, tag: str = "") -> str:
    """What ``accelsim simulate WORKLOAD --arch ARCH --dataflow DF [feature options] --json`` prints."""
    from accelsim.cli import main

    out = io.StringIO()
    extra = list(FEATURES[tag][3]) if tag else []
    with redirect_stdout(out):
        code = main(["simulate", workload, "--arch", arch, "--dataflow", dataflow, *extra, "--json"])
    return f"exit {code}\n{out.getvalue()}"


def path(workload: str, arch: str, dataflow: str, tag: str = "") -> Path:
    return HERE / "data" / f"{workload}.{arch}.{dataflow}{'.' + tag if tag else ''}.json.gz"


def main() -> None:
    (HERE / "data").mkdir(exist_ok=True)
    for case in cases():
        text = simulate_json(*case).encode()
        # mtime=0: the gzip bytes depend only on the text (byte-identical regeneration).
        path(*case).write_bytes(gzip.compress(text, mtime=0))
        print(*case, len(text), file=sys.stderr)


if __name__ == "__main__":
    main()
