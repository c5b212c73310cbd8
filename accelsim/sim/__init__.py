"""Simulation: numerics, timing, the reference (cycle-stepped) and fast (closed-form) engines."""

from .engine import LayerResult, SimResult, simulate, simulate_layer
from .reference import OutputEvent, ReferenceRun, run_reference, run_reference_gemm

__all__ = ["LayerResult", "OutputEvent", "ReferenceRun", "SimResult", "run_reference", "run_reference_gemm",
           "simulate", "simulate_layer"]
