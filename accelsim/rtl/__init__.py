"""RTL: the Amaranth generator of the systolic array, its export, and its verification.

Importing this package does not import Amaranth; ``accelsim.rtl.array`` does.
"""
