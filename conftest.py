"""Collection rules for the whole run (``pytest`` collects ``tests/`` and the doctests of ``accelsim/``).

The RTL modules import Amaranth or cocotb, which the core install does not have: without them,
their doctests are not collected (the RTL tests skip with the install hint). In CI the hdl extra
is part of the install, so nothing is ignored there and a missing package fails the run.
"""

import os
from importlib.util import find_spec

_NEEDS = {
    "amaranth": ["array.py", "export.py", "area.py", "amaranth_sim.py", "cocotb_run.py"],
    "cocotb": ["cocotb_bench.py"],
}

collect_ignore = [] if os.environ.get("CI") else [
    f"accelsim/rtl/{name}" for module, names in _NEEDS.items() if find_spec(module) is None for name in names]
