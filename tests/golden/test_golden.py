"""Golden results: ``simulate --json`` of every bundled workload on tiny, edge, sa32 and sa128.

A failure here means a printed number moved. If that was the intent, regenerate with
``python tests/golden/regenerate.py`` and say in the commit why each changed file changed.
Keys added since the files were first pinned are listed in ``ADDED_KEYS`` and stripped from both
sides before the byte-for-byte comparison, so an addition never hides a change to an existing
number; their dense values are checked below. History: pinned at 1055703 (before issue 10);
regenerated once in issue 10 for the prologue bound of docs/memory.md (8 files, sa128 and one sa32
layer, −0.1% to −3.7% in total cycles), every other number byte-identical.
"""

from __future__ import annotations

import gzip
import json

import pytest

from .regenerate import cases, path, simulate_json

# Report fields added by issue 10 (precision and sparsity). Dense values of every older field stay
# byte-identical; these are new columns beside them.
ADDED_KEYS: frozenset[str] = frozenset({
    "dense_cycles", "issued_macs", "effective_macs", "gated_macs", "skipped_macs", "dram_metadata_bytes",
    "dram_ifmap_metadata_bytes", "dram_filter_metadata_bytes", "dram_ofmap_metadata_bytes",
    "precision", "sparsity",
    # issue 11 (energy): priced from the counts above, checked in tests/cost
    "energy_pj", "energy"})


def _strip(text: str) -> str:
    head, _, body = text.partition("\n")
    data = json.loads(body)

    def drop(obj):
        if isinstance(obj, dict):
            return {k: drop(v) for k, v in obj.items() if k not in ADDED_KEYS}
        if isinstance(obj, list):
            return [drop(v) for v in obj]
        return obj

    return f"{head}\n{json.dumps(drop(data), indent=1)}\n"


@pytest.mark.parametrize("case", list(cases()), ids=".".join)
def test_simulate_json_is_pinned(case):
    pinned = gzip.decompress(path(*case).read_bytes()).decode()
    text = simulate_json(*case)
    assert _strip(text) == _strip(pinned)
    # the added keys of a dense run say "dense": nothing skipped, gated or stored as metadata
    data = json.loads(text.partition("\n")[2])
    for layer in data["layers"]:
        assert (layer["dense_cycles"], layer["issued_macs"], layer["effective_macs"]) == (
            layer["cycles"], layer["macs"], layer["macs"])
        assert layer["gated_macs"] == layer["skipped_macs"] == 0
        assert layer["dram_ifmap_metadata_bytes"] == layer["dram_filter_metadata_bytes"] == 0
        if layer["unit"] == "array":
            assert layer["precision"] == {"input": "int8", "weight": "int8", "output": "int8", "accumulator": "int32"}
            assert layer["sparsity"] == {"mode": "none", "input_density": 1.0, "weight_density": 1.0,
                                         "source": "density (expected value)"}
    assert data["dense_cycles"] == data["total_cycles"] and data["dram_metadata_bytes"] == 0
