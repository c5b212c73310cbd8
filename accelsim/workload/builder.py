"""`GraphBuilder`: write networks in Python with shapes inferred from the tensors they read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .graph import LayerGraph
from .layer import Layer


class GraphBuilder:
    """Adds layers to a :class:`LayerGraph`; each method returns the new layer's output tensor.

    Examples
    --------
    >>> b = GraphBuilder("mlp", inputs={"x": (16, 64)})
    >>> h = b.linear("x", 128, name="fc1")
    >>> b.eltwise([h], "gelu")
    'gelu1'
    >>> b.graph.macs
    131072
    """

    def __init__(self, name: str, inputs: Mapping[str, Sequence[int]], *, batch: int = 1,
                 meta: dict[str, Any] | None = None, defaults: dict[str, Any] | None = None):
        self.graph = LayerGraph(name, inputs, meta=meta)
        self.batch = batch
        self.defaults = dict(defaults or {})
        self._counts: dict[str, int] = {}

    def _name(self, stem: str) -> str:
        self._counts[stem] = self._counts.get(stem, 0) + 1
        return f"{stem}{self._counts[stem]}"

    def layer(self, kind: str, inputs: Sequence[str], *, name: str | None = None, **kw: Any) -> str:
        """Add any layer kind (see :class:`Layer` for the keyword arguments)."""
        name = name or self._name(kw.get("op") or kind)
        shapes = tuple(self.graph.shape_of(t) for t in inputs)
        self.graph.add(Layer(name, kind, shapes, batch=self.batch, **(self.defaults | kw)), inputs)
        return name

    def conv(self, x: str, out: int, kernel: int, stride: int = 1, padding: int | None = None, *,
             groups: int = 1, dilation: int = 1, bias: bool = False, name: str | None = None) -> str:
        """A square convolution; ``padding`` defaults to 'same'-style ``dilation·(kernel−1)//2``."""
        pad = dilation * (kernel - 1) // 2 if padding is None else padding
        return self.layer("conv2d", [x], name=name, out=out, kernel=(kernel, kernel),
                          stride=(stride, stride), padding=(pad,) * 4, dilation=(dilation, dilation),
                          groups=groups, bias=bias)

    def linear(self, x: str, out: int, *, bias: bool = True, name: str | None = None) -> str:
        return self.layer("linear", [x], name=name, out=out, bias=bias)

    def matmul(self, a: str, b: str, *, transpose_b: bool = False, name: str | None = None) -> str:
        return self.layer("matmul", [a, b], name=name, transpose_b=transpose_b)

    def pool(self, x: str, op: str, kernel: int = 1, stride: int = 1, padding: int = 0, *,
             name: str | None = None) -> str:
        if op == "global_avg":
            return self.layer("pool", [x], name=name, op=op, kernel=self.graph.shape_of(x)[1:])
        return self.layer("pool", [x], name=name, op=op, kernel=(kernel, kernel),
                          stride=(stride, stride), padding=(padding,) * 4)

    def eltwise(self, inputs: Sequence[str], op: str, *, name: str | None = None) -> str:
        return self.layer("eltwise", list(inputs), name=name, op=op)

    def reshape(self, x: str, shape: Sequence[int], *, name: str | None = None) -> str:
        return self.layer("reshape", [x], name=name, shape=tuple(shape))

    def concat(self, inputs: Sequence[str], axis: int, *, name: str | None = None) -> str:
        return self.layer("concat", list(inputs), name=name, axis=axis)
