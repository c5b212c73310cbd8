"""RTL: the Amaranth generator of the systolic array, its export, and its verification.

Importing this package does not import Amaranth; ``accelsim.rtl.array`` does.
"""

from importlib.util import find_spec

from ..errors import HDLError

_EXTRA = {"amaranth": "Amaranth", "cocotb": "cocotb", "cocotb_tools": "cocotb"}


def require(*modules: str) -> None:
    """Raise :class:`HDLError` with an install hint if an optional hardware package is missing."""
    for module in modules:
        if find_spec(module) is None:
            raise HDLError(f"this command needs {_EXTRA.get(module, module)}: pip install 'accelsim[hdl]' "
                           "(or pip install -e '.[hdl]' in a checkout)")
