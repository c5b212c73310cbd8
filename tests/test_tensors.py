"""Real tensors: GEMM operands equal a direct convolution; the .npz reader refuses bad files in one line."""

from __future__ import annotations

import time
import zipfile

import numpy as np
import pytest

from accelsim.errors import SpecError
from accelsim.tensors import (LayerTensors, input_matrix, load_tensors, read_npz, save_tensors, weight_matrix,
                              weight_shape)
from accelsim.workload.graph import LayerGraph
from accelsim.workload.layer import Layer


def direct_conv(x, w, stride, padding, dilation, groups):
    """The textbook loop: out[o, p, q] = Σ_c,r,s x[g·C + c, p·sh + r·dh − top, q·sw + s·dw − left] · w[o, c, r, s]."""
    cin, h, wd = x.shape
    out_ch, cg, kr, ks = w.shape
    top, left, bottom, right = padding
    p_n = (h + top + bottom - dilation[0] * (kr - 1) - 1) // stride[0] + 1
    q_n = (wd + left + right - dilation[1] * (ks - 1) - 1) // stride[1] + 1
    out = np.zeros((out_ch, p_n, q_n), dtype=np.int64)
    per_group = out_ch // groups
    for o in range(out_ch):
        g = o // per_group
        for p in range(p_n):
            for q in range(q_n):
                acc = 0
                for c in range(cg):
                    for r in range(kr):
                        for s in range(ks):
                            i = p * stride[0] + r * dilation[0] - top
                            j = q * stride[1] + s * dilation[1] - left
                            if 0 <= i < h and 0 <= j < wd:
                                acc += int(x[g * cg + c, i, j]) * int(w[o, c, r, s])
                out[o, p, q] = acc
    return out


CONVS = {
    "plain": dict(c=3, h=6, w=7, out=4, kernel=(3, 3)),
    "strided-padded": dict(c=2, h=7, w=6, out=3, kernel=(3, 2), stride=(2, 3), padding=(1, 0, 2, 1)),
    "dilated": dict(c=2, h=9, w=8, out=2, kernel=(3, 3), dilation=(2, 3), padding=(2, 2, 2, 2)),
    "grouped": dict(c=6, h=5, w=5, out=9, kernel=(3, 3), groups=3, padding=(1, 1, 1, 1)),
    "depthwise": dict(c=4, h=6, w=6, out=4, kernel=(3, 3), groups=4, stride=(2, 2), padding=(1, 1, 1, 1)),
    "1x1": dict(c=5, h=4, w=3, out=2, kernel=(1, 1)),
}


@pytest.mark.parametrize("name", CONVS)
@pytest.mark.parametrize("batch", [1, 3])
def test_gemm_of_operands_equals_direct_convolution(name, batch):
    spec = dict(CONVS[name])
    rng = np.random.default_rng(hash(name) % 2**32)
    c, h, wd = spec.pop("c"), spec.pop("h"), spec.pop("w")
    layer = Layer("conv", "conv2d", in_shapes=((c, h, wd),), batch=batch, **spec)
    w = rng.integers(-5, 6, size=weight_shape(layer))
    x = rng.integers(-5, 6, size=(c, h, wd))
    wm, xm = weight_matrix(layer, w), input_matrix(layer, x)
    gemm = layer.gemm
    assert wm.shape == (gemm.count, gemm.K, gemm.N)
    assert xm.shape == (gemm.count, gemm.M, gemm.K)
    out = xm @ wm  # (G, B·P·Q, N)
    ref = direct_conv(x, w, layer.stride, layer.padding, layer.dilation, layer.groups)
    _, p, q = layer.out_shape
    # back to (out channels, P, Q): group-major channels, M ordered (b, p, q); every batch element equal
    got = out.reshape(gemm.count, batch, p, q, gemm.N).transpose(1, 0, 4, 2, 3).reshape(batch, layer.out, p, q)
    for b in range(batch):
        assert np.array_equal(got[b], ref)


def test_padding_zeros_are_real_gemm_zeros():
    layer = Layer("c", "conv2d", in_shapes=((1, 2, 2),), out=1, kernel=(3, 3), padding=(1, 1, 1, 1))
    xm = input_matrix(layer, np.ones((1, 2, 2)))
    assert xm.shape == (1, 4, 9)
    assert int(np.count_nonzero(xm)) == 16  # each output window sees all 4 real pixels, 5 padding zeros


def test_linear_and_matmul_operands():
    rng = np.random.default_rng(5)
    fc = Layer("fc", "linear", in_shapes=((3, 4, 6),), out=5, batch=2)
    w, x = rng.standard_normal((5, 6)), rng.standard_normal((3, 4, 6))
    out = input_matrix(fc, x) @ weight_matrix(fc, w)
    assert out.shape == (1, 2 * 12, 5)
    expected = np.einsum("abi,oi->abo", x, w).reshape(12, 5)
    np.testing.assert_allclose(out[0, :12], expected)
    np.testing.assert_allclose(out[0, 12:], expected)  # the sample repeated for batch element 2
    mm = Layer("mm", "matmul", in_shapes=((2, 3, 4), (2, 4, 5)))
    assert input_matrix(mm, np.zeros((2, 3, 4))).shape == (2, 3, 4)


def test_operand_shape_mismatch_is_an_error():
    fc = Layer("fc", "linear", in_shapes=((6,),), out=5)
    with pytest.raises(SpecError, match=r"layer 'fc' weight must have shape \[5, 6\], not \[6, 5\]"):
        weight_matrix(fc, np.zeros((6, 5)))
    with pytest.raises(SpecError, match="has no weights"):
        weight_shape(Layer("p", "pool", op="max", in_shapes=((2, 4, 4),), kernel=(2, 2), stride=(2, 2)))


def test_weight_matrix_of_resnet50_is_fast():
    from accelsim.workload import resolve_workload

    graph = resolve_workload("resnet50")
    rng = np.random.default_rng(0)
    weights = {layer.name: rng.standard_normal(weight_shape(layer), dtype=np.float32)
               for layer in graph if layer.kind in ("conv2d", "linear")}
    start = time.perf_counter()
    total = sum(weight_matrix(graph[name], w).size for name, w in weights.items())
    assert time.perf_counter() - start < 0.5
    assert total == sum(layer.params - (layer.out if layer.bias else 0) for layer in graph
                        if layer.kind in ("conv2d", "linear"))


# -- files ------------------------------------------------------------------------------------------
def small_graph() -> LayerGraph:
    g = LayerGraph("net", inputs={"x": (3, 8, 8)})
    g.add(Layer("conv1", "conv2d", in_shapes=((3, 8, 8),), out=4, kernel=(3, 3), padding=(1, 1, 1, 1)), ["x"])
    g.add(Layer("pool", "pool", op="max", in_shapes=((4, 8, 8),), kernel=(2, 2), stride=(2, 2)), ["conv1"])
    g.add(Layer("flat", "reshape", in_shapes=((4, 4, 4),), shape=(64,)), ["pool"])
    g.add(Layer("fc", "linear", in_shapes=((64,),), out=10), ["flat"])
    return g


def test_save_and_load_round_trip_deterministic(tmp_path):
    rng = np.random.default_rng(1)
    tensors = {"conv1.weight": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
               "conv1.input": rng.standard_normal((3, 8, 8)),
               "fc.weight": rng.integers(-8, 8, (10, 64)).astype(np.int8),
               "fc.weight.scale": np.array(0.5), "fc.weight.zero_point": np.array(0)}
    save_tensors(tmp_path / "a.npz", tensors)
    time.sleep(1.1)  # a zip timestamp would differ now
    save_tensors(tmp_path / "b.npz", dict(reversed(tensors.items())))
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    loaded = load_tensors(tmp_path / "a.npz", small_graph())
    assert set(loaded) == {"conv1", "fc"}
    assert isinstance(loaded["fc"], LayerTensors) and loaded["fc"].weight.dtype == np.int8
    assert np.array_equal(loaded["conv1"].input, tensors["conv1.input"])
    assert loaded["conv1"].scale is None and float(loaded["fc"].scale) == 0.5
    with np.load(tmp_path / "a.npz", allow_pickle=False) as npz:  # numpy reads it too
        assert np.array_equal(npz["fc.weight"], tensors["fc.weight"])


def write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("arrays, message", [
    ({"conv2.weight": np.zeros((4, 3, 3, 3))}, r"`conv2.weight` names no layer of net: 'conv2' \(did you mean 'conv1'\?\)"),
    ({"pool.weight": np.zeros((1,))}, r"`pool.weight`: layer 'pool' \(pool\) has no weights"),
    ({"fc.weight": np.zeros((64, 10))}, r"`fc.weight` has shape \[64, 10\]; layer 'fc' expects \[10, 64\]"),
    ({"conv1.input": np.zeros((3, 8, 8))}, r"`conv1.input` is given without `conv1.weight`"),
    ({"fc.bias": np.zeros((10,))}, r"`fc.bias` is not a tensor key"),
    ({"fc.weight": np.full((10, 64), np.nan)}, r"`fc.weight` contains NaN"),
    ({"fc.weight": np.full((10, 64), np.inf)}, r"`fc.weight` contains infinity"),
    ({"fc.weight": np.full((10, 64), "a")}, r"`fc.weight` has dtype <U1; tensors must be integers or floats"),
    ({"fc.weight": np.zeros((10, 64), dtype=complex)}, r"tensors must be integers or floats"),
    ({"fc.weight": np.array([None, 1], dtype=object)}, r"`fc.weight` is an object \(pickled\) array"),
])
def test_bad_tensor_files_are_one_line_errors(tmp_path, arrays, message):
    path = write_npz(tmp_path / "t.npz", **arrays)
    with pytest.raises(SpecError, match=message) as err:
        load_tensors(path, small_graph())
    assert str(err.value).startswith(str(path) + ": ")
    assert "\n" not in str(err.value)


def test_corrupt_and_missing_files(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip at all")
    with pytest.raises(SpecError, match="not a readable .npz file"):
        read_npz(bad)
    with pytest.raises(SpecError, match="cannot read the tensor file"):
        read_npz(tmp_path / "missing.npz")
    with pytest.raises(SpecError, match="not a regular file"):
        read_npz(tmp_path)
    good = write_npz(tmp_path / "g.npz", w=np.arange(100.0))
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[:200])
    with pytest.raises(SpecError):
        read_npz(cut)


def test_size_guards_read_the_header_only(tmp_path, monkeypatch):
    import accelsim.tensors as tensors

    path = write_npz(tmp_path / "t.npz", w=np.zeros((10, 64)))
    monkeypatch.setattr(tensors, "MAX_ARRAY_ELEMENTS", 100)
    with pytest.raises(SpecError, match=r"`w` has 640 elements, more than the limit of 2\*\*31"):
        read_npz(path)
    monkeypatch.setattr(tensors, "MAX_FILE_BYTES", 10)
    with pytest.raises(SpecError, match="more than the limit of 4 GiB"):
        read_npz(path)
    # a header announcing 2**32 elements is refused before any data is read
    monkeypatch.undo()
    huge = tmp_path / "huge.npz"
    with zipfile.ZipFile(huge, "w") as z:
        header = {"descr": "<f4", "fortran_order": False, "shape": (2**16, 2**16)}
        import io
        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(buf, header)
        z.writestr("fc.weight.npy", buf.getvalue())
    with pytest.raises(SpecError, match="4,294,967,296 elements"):
        read_npz(huge)
