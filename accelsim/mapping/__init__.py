"""Mapping: dataflow specs and the folds a GEMM takes on an array."""

from .choice import LayerChoice
from .dataflow import DataflowSpec, dataflow_names, load_dataflow
from .mapping import Fold, Mapping, tile_sizes

__all__ = ["DataflowSpec", "Fold", "LayerChoice", "Mapping", "dataflow_names", "load_dataflow", "tile_sizes"]
