import pytest
from hypothesis import given
from hypothesis import strategies as st

from accelsim.arch import PRESETS, ArrayConfig, MemorySpec, load_arch, resolve_arch, save_arch
from accelsim.errors import AccelsimError, SpecError


def test_presets_have_the_required_shapes():
    shapes = {name: (a.rows, a.cols) for name, a in PRESETS.items()}
    assert shapes == {"tiny": (4, 4), "sa8": (8, 8), "edge": (16, 16), "sa32": (32, 32), "sa128": (128, 128),
                      "tpuv1": (256, 256), "tpuv4": (128, 128)}
    tpu = PRESETS["tpuv1"]
    assert (tpu.dataflows, tpu.input_bits, tpu.weight_bits, tpu.acc_bits, tpu.clock_mhz) == (("ws",), 8, 8, 32, 700)
    assert tpu.double_buffered


def test_yaml_round_trip_is_exact(tmp_path):
    for arch in PRESETS.values():
        path = tmp_path / f"{arch.name}.yaml"
        save_arch(arch, path)
        assert load_arch(path) == arch
        assert resolve_arch(str(path)).digest == arch.digest


def test_derived_values():
    arch = ArrayConfig(rows=4, cols=8, input_bits=4, weight_bits=6, acc_bits=20)
    assert (arch.pes, arch.lanes, arch.product_bits) == (32, 8, 10)
    assert arch.with_changes(vector_lanes=3).lanes == 3
    assert arch.digest != arch.with_changes(overflow="saturate").digest


@pytest.mark.parametrize("change, message", [
    (dict(rows=0), "`ArrayConfig.rows` must be a positive integer, not 0"),
    (dict(cols=-3), "`ArrayConfig.cols` must be a positive integer, not -3"),
    (dict(overflow="clip"), "`ArrayConfig.overflow` must be one of wrap, saturate, not 'clip'"),
    (dict(acc_bits=12), "`ArrayConfig.acc_bits` must hold one product (16 bits for 8×8-bit operands), not 12"),
    (dict(acc_bits=64), "`ArrayConfig.acc_bits` must be at most 48, not 64"),
    (dict(clock_mhz=1e-300), "`ArrayConfig.clock_mhz` must be a number in [0.001, 1,000,000], not 1e-300"),
    (dict(dataflows=()), "`ArrayConfig.dataflows` must be a non-empty list of distinct dataflow names"),
    (dict(memory=MemorySpec().to_dict() | {"banks": 0}), "`ArrayConfig.memory.banks` must be a positive integer, not 0"),
])
def test_bad_configs_name_the_field(change, message):
    with pytest.raises(SpecError) as err:
        ArrayConfig(**(dict(rows=4, cols=4) | change))
    assert str(err.value) == message


def test_yaml_errors_name_file_line_and_field(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("rows: 4\ncols: 4\nmemory:\n  ifmap_kib: 64\n  bankz: 2\n")
    with pytest.raises(SpecError) as err:
        load_arch(path)
    assert str(err.value) == f"{path}:5: `ArrayConfig.memory.bankz` is not a known key (did you mean 'banks'?)"


@pytest.mark.parametrize("field, value, message", [
    ("dram_bytes_per_cycle", ".inf", "must be a number in [0.001, 1,000,000,000], not inf"),
    ("ifmap_kib", ".inf", "must be a number in (0, 1,073,741,824], not inf"),
    ("filter_kib", ".nan", "must be a number in (0, 1,073,741,824], not nan"),
    ("ofmap_kib", "0", "must be a number in (0, 1,073,741,824], not 0"),
    ("ofmap_kib", "99999999999999999999999", "must be a number in (0, 1,073,741,824], not 99999999999999999999999"),
    ("dram_bytes_per_cycle", "1.0e-300", "must be a number in [0.001, 1,000,000,000], not 1e-300"),
    ("dram_latency_cycles", "100000000000000000000", "must be an integer in [0, 4294967296], not 100000000000000000000"),
])
def test_infinite_memory_is_refused_with_a_true_message(tmp_path, field, value, message):
    path = tmp_path / "a.yaml"
    path.write_text(f"rows: 4\ncols: 4\nmemory:\n  {field}: {value}\n")
    with pytest.raises(SpecError) as err:
        load_arch(path)
    assert str(err.value) == f"{path}:4: `ArrayConfig.memory.{field}` {message}"


def test_unknown_preset_suggests():
    with pytest.raises(SpecError, match=r"unknown architecture 'sa12': .* \(did you mean 'sa128'\?\)"):
        resolve_arch("sa12")


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 300), st.floats(allow_nan=True),
                     st.text(max_size=5))
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)
_keys = st.sampled_from(["rows", "cols", "name", "dataflows", "input_bits", "weight_bits", "acc_bits",
                         "signed", "overflow", "double_buffered", "vector_lanes", "clock_mhz", "memory",
                         "version", "bogus"])


@given(st.dictionaries(_keys, _values, max_size=8) | _values)
def test_fuzzed_arch_dicts_load_or_raise_a_typed_error(data):
    try:
        arch = ArrayConfig.from_dict(data, file="fuzz.yaml")
    except AccelsimError as err:
        assert "\n" not in str(err)
    else:
        assert ArrayConfig.from_dict(arch.to_dict()) == arch


@given(st.sampled_from(sorted(PRESETS)), _keys, _values)
def test_one_mutated_field_loads_or_raises_a_typed_error(preset, key, value):
    data = PRESETS[preset].to_dict() | {key: value}
    try:
        ArrayConfig.from_dict(data)
    except AccelsimError:
        pass


def test_exponents_without_a_dot_are_numbers(tmp_path):
    """Found by a hostile audit: PyYAML reads 1e3 as text, so `ifmap_kib: 1e3` was refused as a string."""
    path = tmp_path / "a.yaml"
    path.write_text("rows: 4\ncols: 4\nmemory: {ifmap_kib: 1e3, filter_kib: 1.5E2, dram_bytes_per_cycle: 2e-1}\n")
    memory = load_arch(path).memory
    assert (memory.ifmap_kib, memory.filter_kib, memory.dram_bytes_per_cycle) == (1000.0, 150.0, 0.2)


def test_a_field_the_model_does_not_honour_is_refused_not_ignored():
    from accelsim.errors import UnsupportedError

    with pytest.raises(UnsupportedError, match=r"`ArrayConfig.memory.banks` = 4: SRAM banking is not modelled"):
        ArrayConfig.from_dict({"rows": 4, "cols": 4, "memory": {"banks": 4}})
