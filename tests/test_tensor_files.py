"""Hostile tensor files and interrupted writes (found by the issue-10 hostile sweep)."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from accelsim.errors import SpecError
from accelsim.tensors import load_tensors, save_tensors
from accelsim.workload.graph import LayerGraph
from accelsim.workload.layer import Layer


def _graph():
    g = LayerGraph("t", inputs={"x": (4, 6, 6)})
    g.add(Layer("c1", "conv2d", in_shapes=((4, 6, 6),), out=8, kernel=(3, 3)), ["x"])
    return g


def _npy(array) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, allow_pickle=False)
    return buf.getvalue()


def test_a_corrupt_deflate_stream_is_one_line(tmp_path):
    good = tmp_path / "good.npz"
    save_tensors(good, {"c1.weight": np.random.default_rng(0).standard_normal((8, 4, 3, 3))})
    data = bytearray(good.read_bytes())
    data[100:300] = bytes(200)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(bytes(data))
    with pytest.raises(SpecError, match="not a readable .npz file") as err:
        load_tensors(bad, _graph())
    assert "\n" not in str(err.value)


def test_a_key_given_twice_is_refused(tmp_path):
    path = tmp_path / "dup.npz"
    with zipfile.ZipFile(path, "w") as z, pytest.warns(UserWarning):
        z.writestr("c1.weight.npy", _npy(np.ones((8, 4, 3, 3))))
        z.writestr("c1.weight.npy", _npy(np.zeros((8, 4, 3, 3))))
    with pytest.raises(SpecError, match="`c1.weight` is in the file twice"):
        load_tensors(path, _graph())


def test_a_huge_declared_array_is_refused_from_its_header_before_its_data(tmp_path):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (2**28,)})
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("c1.weight.npy", header.getvalue() + bytes(8 * 1024))  # the data need not even be there
    with pytest.raises(SpecError, match=r"has shape \[268435456\]; layer 'c1' expects \[8, 4, 3, 3\]"):
        load_tensors(path, _graph())


def test_an_interrupted_save_leaves_no_file(tmp_path, monkeypatch):
    target = tmp_path / "w.npz"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np.lib.format, "write_array", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_tensors(target, {"c1.weight": np.ones((8, 4, 3, 3))})
    assert list(tmp_path.iterdir()) == []
