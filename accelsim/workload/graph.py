"""`LayerGraph`: a network as a networkx DiGraph of layers whose edges carry tensors.

The layers and their sources are kept in insertion (topological) order; the networkx graph is
built from them the first time :attr:`LayerGraph.nx` is asked for, so simulating a network never
pays networkx's import (a third of a command's start-up).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import SpecError, did_you_mean
from .layer import Layer, Shape

if TYPE_CHECKING:
    import networkx as nx


class LayerGraph:
    """Layers connected by tensors, with shape checks on every :meth:`add`.

    Nodes are layer names (attribute ``layer``); graph inputs are named tensors with shapes.
    An edge ``u → v`` means ``v`` reads ``u``'s output (attributes ``shape`` and ``slots``, the
    input positions of ``v`` it feeds). Layers iterate in insertion order, which is topological
    because a layer can only read tensors that exist.

    Examples
    --------
    >>> g = LayerGraph("tiny", inputs={"x": (3, 8, 8)})
    >>> g.add(Layer("conv", "conv2d", in_shapes=((3, 8, 8),), out=4, kernel=(3, 3)), ["x"])
    >>> g.add(Layer("relu", "eltwise", op="relu", in_shapes=((4, 6, 6),)), ["conv"])
    >>> [layer.name for layer in g], g.macs, g.params
    (['conv', 'relu'], 3888, 108)
    >>> g.nx.number_of_edges()
    1
    """

    def __init__(self, name: str, inputs: Mapping[str, Sequence[int]] | None = None, *,
                 meta: dict[str, Any] | None = None, file: str | None = None):
        self.name = name
        self.inputs: dict[str, Shape] = {k: tuple(v) for k, v in (inputs or {}).items()}
        self.meta: dict[str, Any] = dict(meta or {})
        self.file = file
        self.batch: int | None = None  # the batch the inputs carry, when known (a reader or importer sets it)
        self._layers: dict[str, Layer] = {}
        self._sources: dict[str, tuple[str, ...]] = {}
        self._nx: nx.DiGraph[str] | None = None  # the networkx view, built on demand

    # -- building ---------------------------------------------------------------------------
    def shape_of(self, tensor: str) -> Shape:
        """Shape of a graph input or of a layer's output."""
        if tensor in self.inputs:
            return self.inputs[tensor]
        if tensor in self._layers:
            return self._layers[tensor].out_shape
        raise SpecError(f"unknown tensor '{tensor}'" + did_you_mean(tensor, [*self.inputs, *self._layers]),
                        file=self.file)

    def shape_for(self, tensor: str, batch: int, input_batch: int = 1) -> Shape:
        """The shape a layer of ``batch`` reads from ``tensor``: its shape, with the producer's batch put
        in front when the reader carries the batch inside its shapes (batch 1), or taken off the front
        when the producer did (``input_batch``: the batch of the graph inputs).

        Examples
        --------
        >>> g = LayerGraph("g", {"x": (16, 64)})
        >>> g.shape_for("x", 2, input_batch=2), g.shape_for("x", 1, input_batch=2)
        ((16, 64), (2, 16, 64))
        """
        source = self.shape_of(tensor)
        producer = self._layers.get(tensor)
        source_batch = producer.batch if producer is not None else input_batch
        if source_batch == batch:
            return source
        if batch == 1:
            return (source_batch, *source)
        if source_batch == 1 and len(source) > 1 and source[0] == batch:
            return source[1:]
        return source

    def add(self, layer: Layer, inputs: Sequence[str]) -> None:
        """Add ``layer`` reading the named tensors, checking names and shapes."""
        if layer.name in self._layers or layer.name in self.inputs:
            raise SpecError(f"layer name '{layer.name}' is used twice", file=self.file)
        if len(inputs) != len(layer.in_shapes):
            raise SpecError(f"layer '{layer.name}' has {len(layer.in_shapes)} input shapes but "
                            f"{len(inputs)} inputs", file=self.file)
        for slot, (tensor, shape) in enumerate(zip(inputs, layer.in_shapes)):
            if not self._feeds(tensor, layer, shape):
                raise SpecError(f"layer '{layer.name}' input {slot} expects shape {list(shape)} but "
                                f"'{tensor}' has shape {list(self.shape_of(tensor))}", file=self.file)
        self._layers[layer.name] = layer
        self._sources[layer.name] = tuple(inputs)
        self._nx = None

    def replace(self, layer: Layer) -> None:
        """Swap the layer of the same name for ``layer`` (same inputs; e.g. an importer folding a bias)."""
        old = self._layers[layer.name]
        if layer.in_shapes != old.in_shapes or layer.out_shape != old.out_shape or layer.batch != old.batch:
            raise SpecError(f"layer '{layer.name}': a replacement must keep the shapes", file=self.file)
        self._layers[layer.name] = layer
        self._nx = None

    def _feeds(self, tensor: str, layer: Layer, shape: Shape) -> bool:
        """Does ``tensor`` have the shape ``layer`` reads? Shapes exclude the batch, except in a layer
        of batch 1 that carries it inside its shapes (a transformer's ``[B·S, D]``): there the
        producer's ``(batch, *shape)`` is what the consumer reads, and the other way round.
        """
        source = self.shape_of(tensor)
        if source == shape:
            return True
        producer = self._layers.get(tensor)

        def whole(batch: int, s: Shape) -> Shape:  # the tensor with its batch, leading 1s dropped
            full = (batch, *s)
            while len(full) > 1 and full[0] == 1:
                full = full[1:]
            return full
        if producer is None:  # a graph input: its batch is the consumer's, or folded into a batch-1 consumer,
            # or it is stored whole (it does not lead with the graph's batch) and the consumer takes its lead
            return (layer.batch == 1 and tuple(shape[1:]) == tuple(source)) or whole(1, source) == whole(layer.batch,
                                                                                                          shape)
        return whole(producer.batch, source) == whole(layer.batch, shape)

    # -- reading ----------------------------------------------------------------------------
    @property
    def nx(self) -> nx.DiGraph[str]:
        """The networkx ``DiGraph`` of the layers (for networkx algorithms); read-only by convention."""
        if self._nx is None:
            import networkx as nx

            graph: nx.DiGraph[str] = nx.DiGraph(name=self.name)
            for name, layer in self._layers.items():
                graph.add_node(name, layer=layer)
                for slot, tensor in enumerate(self._sources[name]):
                    if tensor in self._layers:
                        if graph.has_edge(tensor, name):
                            graph.edges[tensor, name]["slots"].append(slot)
                        else:
                            graph.add_edge(tensor, name, shape=self.shape_of(tensor), slots=[slot])
            self._nx = graph
        return self._nx

    def __iter__(self) -> Iterator[Layer]:
        return iter(self._layers.values())

    def __len__(self) -> int:
        return len(self._layers)

    def __contains__(self, name: str) -> bool:
        return name in self._layers

    def __getitem__(self, name: str) -> Layer:
        return self._layers[name]

    def sources(self, name: str) -> tuple[str, ...]:
        """The tensors layer ``name`` reads, in input order."""
        return self._sources[name]

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self)

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self)

    def with_gemm_changes(self, changes: dict[str, Any], *, where: str = "") -> LayerGraph:
        """A copy with ``changes`` (layer fields) applied to every GEMM layer.

        Weight fields (``weight_type``, ``weight_structure``, ``weight_density``) go to layers with
        weights only (conv2d, linear): an attention matmul's second operand is an activation.

        Examples
        --------
        >>> g = LayerGraph("t", inputs={"x": (4, 8)})
        >>> g.add(Layer("fc", "linear", in_shapes=((4, 8),), out=2), ["x"])
        >>> next(iter(g.with_gemm_changes({"weight_type": "int4"}))).weight_type
        'int4'
        """
        if not changes:
            return self
        from .formats import FIELDS, without_float_operands

        given = "".join(op for op, field in FIELDS.items() if field in changes)  # no longer the datapath's
        out = LayerGraph(self.name, self.inputs, meta=without_float_operands(self.meta, given), file=self.file)
        out.batch = self.batch
        weight_keys = {"weight_type", "weight_structure", "weight_density"}
        for layer in self:
            mine = {k: v for k, v in changes.items() if k not in weight_keys or layer.kind in ("conv2d", "linear")}
            if layer.gemm is not None and mine:
                layer = Layer.from_dict(layer.to_dict() | mine, where=f"layer '{layer.name}'{where}")
            out.add(layer, self.sources(layer.name))
        return out
