"""Golden results: ``simulate --json`` of every bundled workload on tiny, edge, sa32 and sa128, and of
each precision, sparsity and mapping feature on a real network (``regenerate.FEATURES``).

A failure here means a printed number moved. If that was the intent, regenerate with
``python tests/golden/regenerate.py`` and say in the commit why each changed file changed. Every key
is pinned, energy included. History: pinned at 1055703 (before issue 10); regenerated in issue 10
for the prologue bound of docs/memory.md (8 files, sa128 and one sa32 layer, −0.1% to −3.7% in total
cycles); regenerated in issue 17 to pin energy, the mapping rule and the assumptions list (until then
added keys were stripped before comparing; every older number stayed byte-identical) and to add the
feature cases, whose sparse traffic is after the residency fix of issue 17; and once more in issue 17's
review for IS convolutions, which read their input tensor once when it stays resident (16 IS files:
cycles up to −9.6%, DRAM bytes up to −54.7%; every WS and OS number unchanged).
"""

from __future__ import annotations

import gzip
import json

import pytest

from .regenerate import cases, path, simulate_json


@pytest.mark.parametrize("case", list(cases()), ids=lambda c: ".".join(filter(None, c)))
def test_simulate_json_is_pinned(case):
    pinned = gzip.decompress(path(*case).read_bytes()).decode()
    text = simulate_json(*case)
    assert text == pinned
    if case[3]:
        return
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
