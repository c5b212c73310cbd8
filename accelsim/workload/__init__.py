"""Workloads: layers, layer graphs, builders and the YAML format."""

from .builder import GraphBuilder
from .graph import LayerGraph
from .layer import ELTWISE_OPS, KINDS, GemmView, Layer
from .yamlio import graph_from_dict, graph_to_yaml, load_workload, resolve_workload, zoo_names

__all__ = ["ELTWISE_OPS", "KINDS", "GemmView", "GraphBuilder", "Layer", "LayerGraph", "graph_from_dict",
           "graph_to_yaml", "load_workload", "resolve_workload", "zoo_names"]
