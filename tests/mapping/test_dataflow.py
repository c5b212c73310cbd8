import numpy as np
import pytest

from accelsim.arch import ArrayConfig
from accelsim.errors import MappingError, SpecError, UnsupportedError
from accelsim.mapping import DataflowSpec, Mapping, dataflow_names, load_dataflow, tile_sizes
from accelsim.sim import numerics, run_reference_gemm
from accelsim.sim.timing import gemm_timeline
from accelsim.workload import GemmView, Layer


def test_bundled_dataflows():
    assert {"ws", "os", "is"} <= set(dataflow_names())
    ws, os_, is_ = (load_dataflow(n) for n in ("ws", "os", "is"))
    assert (ws.stationary, ws.rows, ws.cols, ws.temporal) == ("W", "K", "N", "M")
    assert (os_.stationary, os_.rows, os_.cols, os_.temporal) == ("O", "M", "N", "K")
    assert (is_.stationary, is_.rows, is_.cols, is_.temporal) == ("I", "K", "M", "N")


USER_DATAFLOWS = {
    # output stationary with M on the columns and N on the rows
    "os_t": "version: 1\nname: os_t\nstationary: O\nrows: N\ncols: M\ntemporal: K\nloop_order: [N, M]\n",
    # weight stationary visiting the K chunks in the outer loop
    "ws_k": "version: 1\nname: ws_k\nstationary: W\nrows: K\ncols: N\ntemporal: M\nloop_order: [K, N]\n",
}


@pytest.mark.parametrize("name", sorted(USER_DATAFLOWS))
def test_a_user_dataflow_runs_on_both_engines_without_engine_code(tmp_path, name):
    path = tmp_path / f"{name}.yaml"
    path.write_text(USER_DATAFLOWS[name])
    dataflow = load_dataflow(str(path))
    arch = ArrayConfig(rows=3, cols=4, dataflows=(name,), overflow="saturate", acc_bits=18)
    rng = np.random.default_rng(3)
    for m, n, k in [(7, 5, 9), (1, 9, 1), (4, 4, 4)]:
        a, w = numerics.random_operands(rng, m, n, k, arch, extremes=0.5)
        run = run_reference_gemm(a, w, arch, dataflow)
        chunk = arch.rows if dataflow.mode == "stationary" else None
        assert (run.outputs[0] == numerics.expected_gemm(a, w, arch, chunk)).all()
        assert run.cycles == gemm_timeline(Mapping(GemmView(m, n, k), dataflow, arch)).total


@pytest.mark.parametrize("text, error, message", [
    ("version: 1\nname: x\nstationary: W\nrows: K\ncols: M\ntemporal: N\nloop_order: [K, M]\n", SpecError,
     ":3: `dataflow.stationary` with rows K and cols M the stationary operand must be I, not W"),
    ("version: 1\nname: x\nstationary: W\nrows: K\ncols: K\ntemporal: N\nloop_order: [K, M]\n", SpecError,
     ":6: `dataflow.temporal` rows, cols and temporal must be M, N and K once each, not K, K, N"),
    ("version: 1\nname: x\nstationary: W\nrows: N\ncols: K\ntemporal: M\nloop_order: [K, N]\n", UnsupportedError,
     "the reduction dimension K on the columns is not supported"),
    ("version: 1\nname: x\nstationary: O\nrows: M\ncols: N\ntemporal: K\nloop_order: [M, K]\n", SpecError,
     ":7: `dataflow.loop_order` must order the spatial dimensions M and N, not ['M', 'K']"),
])
def test_bad_dataflows(tmp_path, text, error, message):
    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(error) as err:
        load_dataflow(str(path))
    assert message in str(err.value)


def test_unknown_dataflow_suggests():
    with pytest.raises(SpecError, match=r"unknown dataflow 'wss' .*\(did you mean 'ws'\?\)"):
        load_dataflow("wss")


def test_mapping_counts_folds_and_rejects_unsupported_dataflows():
    assert tile_sizes(9, 3) == [(3, 3)] and tile_sizes(2, 8) == [(2, 1)]
    layer = Layer("fc", "linear", in_shapes=((10, 9),), out=7)
    arch = ArrayConfig(rows=4, cols=3, dataflows=("ws",))
    assert Mapping.for_layer(layer, load_dataflow("ws"), arch).fold_count == 3 * 3
    with pytest.raises(MappingError, match=r"architecture 'custom' does not support dataflow 'os' \(it supports ws\)"):
        Mapping.for_layer(layer, load_dataflow("os"), arch)
    with pytest.raises(MappingError, match="not a GEMM"):
        Mapping.for_layer(Layer("r", "eltwise", op="relu", in_shapes=((4,),)), load_dataflow("ws"), arch)


def test_spec_round_trip():
    for name in dataflow_names():
        spec = load_dataflow(name)
        assert DataflowSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize("name", ["ws", "os", "is", *sorted(USER_DATAFLOWS)])
def test_n_m_support_is_the_dataflow_specs_one_rule(tmp_path, name):
    """Every consumer asks ``DataflowSpec.supports_nm``: a user's copy of WS (other loop order) runs
    N:M weights, every other dataflow is refused with the same reason, by name."""
    if name in USER_DATAFLOWS:
        (tmp_path / f"{name}.yaml").write_text(USER_DATAFLOWS[name])
        dataflow = load_dataflow(str(tmp_path / f"{name}.yaml"))
    else:
        dataflow = load_dataflow(name)
    assert dataflow.supports_nm == (name in ("ws", "ws_k"))
    arch = ArrayConfig(rows=4, cols=4, dataflows=(name,), weight_nm="2:4")
    layer = Layer("fc", "linear", in_shapes=((8, 16),), out=4, weight_structure="2:4")
    if dataflow.supports_nm:
        mapping = Mapping.for_layer(layer, dataflow, arch, memory=False)
        assert (mapping.nm_groups, mapping.size("K")) == ((2, 4), 8)
        return
    with pytest.raises(UnsupportedError, match=f"K on the rows, not '{name}'"):
        Mapping.for_layer(layer, dataflow, arch, memory=False)
