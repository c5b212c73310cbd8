"""accelsim: cycle-level systolic-array simulation with RTL proven equal to the model.

``import accelsim`` stays light: it never imports Amaranth or cocotb.
"""

__version__ = "0.1.0"
