import pytest

from accelsim.errors import SpecError
from accelsim.workload import GemmView, Layer


def conv(**kw):
    base = dict(name="c", kind="conv2d", in_shapes=((16, 14, 14),), out=32, kernel=(3, 3), padding=(1, 1, 1, 1))
    return Layer(**(base | kw))


def test_conv_shapes_loops_and_counts():
    layer = conv(stride=(2, 2), bias=True)
    assert layer.out_shape == (32, 7, 7)
    assert layer.loops == dict(B=1, G=1, K=32, C=16, P=7, Q=7, R=3, S=3)
    assert layer.gemm == GemmView(M=49, N=32, K=144, count=1)
    assert layer.macs == 49 * 32 * 144
    assert layer.params == 32 * 16 * 9 + 32


def test_dilation_and_asymmetric_padding():
    layer = conv(dilation=(2, 2), padding=(2, 0, 2, 0))
    assert layer.out_shape == (32, 14, 10)  # rows keep size, columns lose 2·(3−1)


def test_depthwise_and_grouped_convs_are_exact():
    dw = conv(out=16, groups=16)
    assert dw.loops["G"] == 16 and dw.loops["K"] == 1 and dw.loops["C"] == 1
    assert dw.gemm == GemmView(M=196, N=1, K=9, count=16)
    assert dw.macs == 16 * 196 * 9 and dw.params == 16 * 9
    grouped = conv(groups=4)
    assert grouped.macs == conv().macs // 4 and grouped.params == conv().params // 4


def test_batch_folds_into_m_for_shared_weights_but_not_for_matmul():
    assert conv(batch=4).gemm.M == 4 * 196
    attn = Layer("s", "matmul", in_shapes=((12, 128, 64), (12, 128, 64)), transpose_b=True, batch=2)
    assert attn.out_shape == (12, 128, 128)
    assert attn.gemm == GemmView(M=128, N=128, K=64, count=24)
    assert attn.params == 0


def test_linear_over_tokens():
    fc = Layer("fc", "linear", in_shapes=((128, 768),), out=3072, bias=True)
    assert fc.out_shape == (128, 3072)
    assert fc.gemm == GemmView(M=128, N=3072, K=768)
    assert fc.params == 768 * 3072 + 3072


def test_non_gemm_layers_have_vector_work():
    pool = Layer("p", "pool", op="max", in_shapes=((64, 112, 112),), kernel=(3, 3), stride=(2, 2),
                 padding=(1, 1, 1, 1))
    assert pool.out_shape == (64, 56, 56) and pool.macs == 0
    assert pool.vector_ops == 64 * 56 * 56 * 9
    gap = Layer("g", "pool", op="global_avg", in_shapes=((2048, 7, 7),))
    assert gap.out_shape == (2048, 1, 1) and gap.kernel == (7, 7) and gap.vector_ops == 2048 * 49
    add = Layer("a", "eltwise", op="add", in_shapes=((8, 4), (8, 4)))
    softmax = Layer("s", "eltwise", op="softmax", in_shapes=((8, 4),))
    add_constant = Layer("b", "eltwise", op="add", in_shapes=((8, 4),))  # e.g. a bias
    assert (add.vector_ops, softmax.vector_ops, add_constant.vector_ops) == (32, 32 * 5, 32)
    odd = Layer("x", "placeholder", op="NonMaxSuppression", in_shapes=((8, 4),), shape=(3, 7))
    assert odd.out_shape == (3, 7) and odd.vector_ops == 0 and odd.macs == 0
    cat = Layer("k", "concat", axis=1, in_shapes=((4, 10, 8), (4, 1, 8)))
    assert cat.out_shape == (4, 11, 8) and cat.vector_ops == 0


@pytest.mark.parametrize("kw, message", [
    (dict(kernel=(17, 3)), "`layer 'c'.kernel` row window 17 (kernel 17, dilation 1) exceeds the padded input size 16"),
    (dict(groups=3), "`layer 'c'.groups` 3 groups must divide the input channels (16) and the output channels (32)"),
    (dict(in_shapes=((16, 14),)), "`layer 'c'.in_shapes` a conv2d input must be (channels, height, width), not [16, 14]"),
    (dict(out=0), "`layer 'c'.out` must be a positive integer, not 0"),
    (dict(stride=(0, 1)), "`layer 'c'.stride` must be an integer or a list of 2 positive integers, not [0, 1]"),
    (dict(weight_structure="4:2"), "`layer 'c'.weight_structure` must be 'N:M' with 0 < N < M ≤ 16, not '4:2'"),
    (dict(kind="conv3d"), "`layer 'c'.kind` must be one of conv2d, linear, matmul, pool, eltwise, reshape, concat, placeholder, not 'conv3d' (did you mean 'conv2d'?)"),
])
def test_bad_layers_raise_spec_errors_naming_the_field(kw, message):
    with pytest.raises(SpecError) as err:
        conv(**kw)
    assert str(err.value) == message


def test_matmul_and_reshape_shape_errors():
    with pytest.raises(SpecError, match=r"matmul shapes \[4, 8\] and transposed \[4, 9\] do not agree"):
        Layer("m", "matmul", in_shapes=((4, 8), (4, 9)), transpose_b=True)
    with pytest.raises(SpecError, match=r"cannot reshape \[4, 8\] \(32 elements\) to \[5, 6\] \(30 elements\)"):
        Layer("r", "reshape", in_shapes=((4, 8),), shape=(5, 6))


def test_dict_round_trip():
    layer = conv(stride=(2, 1), weight_density=0.5, weight_structure="2:4")
    assert Layer.from_dict(layer.to_dict()) == layer
    assert hash(Layer.from_dict(layer.to_dict())) == hash(layer)


@pytest.mark.parametrize("kw, message", [
    (dict(in_shapes=((2**32, 2**32),), out=4, batch=2),
     "input 0 (2 × [4294967296, 4294967296]) has 36,893,488,147,419,103,232 elements"),
    (dict(in_shapes=((4, 2**40),), out=2**40), "the weight tensor has 1,208,925,819,614,629,174,706,176 elements"),
    (dict(in_shapes=((2**30, 4),), out=2**35), "the output (1 × [1073741824, 34359738368]) has"),
])
def test_tensors_beyond_2_64_elements_are_refused(kw, message):
    with pytest.raises(SpecError, match=r"more than the limit of 2\*\*64 \(accelsim.workload.layer.MAX_ELEMENTS\)$") as err:
        Layer("fc", "linear", **kw)
    assert message in str(err.value)


def test_a_tensor_of_exactly_2_64_elements_is_fine():
    layer = Layer("fc", "linear", in_shapes=((2**32, 2**32),), out=2**32)
    assert layer.macs == 2**96 and layer.params == 2**64


@pytest.mark.parametrize("layer, text", [
    (Layer("attn", "matmul", in_shapes=((12, 128, 64), (12, 64, 128))), "12 x (128x64 @ 64x128)"),
    (Layer("qk", "matmul", in_shapes=((2, 12, 128, 64), (2, 12, 128, 64)), transpose_b=True), "24 x (128x64 @ 64x128)"),
    (Layer("fc", "linear", in_shapes=((4, 128, 64),), out=10), "512x64 @ 64x10"),
    (conv(groups=4), "16x14x14 -> 32@3x3/1 g4"),
    (Layer("r", "eltwise", op="relu", in_shapes=((4, 8, 8),)), "4x8x8"),
])
def test_shape_text_is_readable(layer, text):
    assert layer.shape_text == text
