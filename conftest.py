"""Collection rules for the whole run (``pytest`` collects ``tests/`` and the doctests of ``accelsim/``).

The RTL modules import Amaranth or cocotb, and the dse figures matplotlib, which the core install
does not have: without them, their doctests are not collected (the RTL tests skip with the install
hint, the dse tests that need the extra skip with theirs). In CI the hdl extra
is part of the install, so nothing is ignored there and a missing package fails the run.
"""

import os
from importlib.util import find_spec

_NEEDS = {
    "amaranth": ["rtl/array.py", "rtl/export.py", "rtl/area.py", "rtl/amaranth_sim.py", "rtl/cocotb_run.py"],
    "cocotb": ["rtl/cocotb_bench.py"],
    "matplotlib": ["dse/plots.py", "dse/report.py"],  # the dse extra: figures and the report
}

collect_ignore = [] if os.environ.get("CI") else [
    f"accelsim/{name}" for module, names in _NEEDS.items() if find_spec(module) is None for name in names]
if find_spec("matplotlib") is None and not os.environ.get("CI"):
    collect_ignore.append("tests/dse/test_report.py")
