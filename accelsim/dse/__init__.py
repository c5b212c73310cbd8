"""Design-space exploration: axes over an architecture and a workload, evaluated into a store.

:mod:`.space` turns axes into design points, :mod:`.evaluate` prices one point (cycles from the
fast engine, energy from :mod:`accelsim.cost.energy`, area from :mod:`accelsim.cost.area`),
:mod:`.store` keeps results in SQLite so a run resumes, :mod:`.pareto` picks the non-dominated set.
"""
