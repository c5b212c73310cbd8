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


def cases():
    """Every (workload, arch, dataflow) the golden files pin."""
    from accelsim._paths import data_dir
    from accelsim.arch import resolve_arch

    for workload in sorted(p.stem for p in data_dir("workloads").glob("*.yaml")):
        for arch in ARCHS:
            for dataflow in resolve_arch(arch).dataflows:
                yield workload, arch, dataflow


def simulate_json(workload: str, arch: str, dataflow: str) -> str:
    """What ``accelsim simulate WORKLOAD --arch ARCH --dataflow DF --json`` prints."""
    from accelsim.cli import main

    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["simulate", workload, "--arch", arch, "--dataflow", dataflow, "--json"])
    return f"exit {code}\n{out.getvalue()}"


def path(workload: str, arch: str, dataflow: str) -> Path:
    return HERE / "data" / f"{workload}.{arch}.{dataflow}.json.gz"


def main() -> None:
    (HERE / "data").mkdir(exist_ok=True)
    for case in cases():
        text = simulate_json(*case).encode()
        # mtime=0: the gzip bytes depend only on the text (byte-identical regeneration).
        path(*case).write_bytes(gzip.compress(text, mtime=0))
        print(*case, len(text), file=sys.stderr)


if __name__ == "__main__":
    main()
