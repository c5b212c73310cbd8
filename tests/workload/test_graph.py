import pytest

from accelsim.errors import SpecError
from accelsim.workload import GraphBuilder, Layer, LayerGraph


def test_edges_follow_the_data_and_carry_shapes():
    b = GraphBuilder("res", {"x": (8, 16, 16)})
    a = b.conv("x", 8, 3, name="a")
    c = b.conv(a, 8, 3, name="c")
    s = b.eltwise([c, a], "add", name="sum")
    g = b.graph
    assert sorted(g.nx.edges) == [("a", "c"), ("a", "sum"), ("c", "sum")]
    assert g.nx.edges["a", "sum"]["shape"] == (8, 16, 16)
    assert g.nx.edges["a", "sum"]["slots"] == [1]
    assert [layer.name for layer in g] == ["a", "c", "sum"]
    assert g.sources(s) == ("c", "a")


def test_the_same_tensor_twice_keeps_both_slots():
    b = GraphBuilder("sq", {"x": (4, 4)})
    b.eltwise([b.linear("x", 4, name="fc"), "fc"], "mul", name="square")
    assert b.graph.nx.edges["fc", "square"]["slots"] == [0, 1]


def test_add_checks_names_and_shapes():
    g = LayerGraph("g", {"x": (3, 8, 8)})
    good = Layer("c", "conv2d", in_shapes=((3, 8, 8),), out=4)
    g.add(good, ["x"])
    with pytest.raises(SpecError, match="layer name 'c' is used twice"):
        g.add(good, ["x"])
    with pytest.raises(SpecError, match=r"layer 'd' input 0 expects shape \[3, 8, 8\] but 'c' has shape \[4, 8, 8\]"):
        g.add(Layer("d", "conv2d", in_shapes=((3, 8, 8),), out=4), ["c"])
    with pytest.raises(SpecError, match=r"unknown tensor 'cc' \(did you mean 'c'\?\)"):
        g.add(Layer("e", "conv2d", in_shapes=((4, 8, 8),), out=4), ["cc"])
