"""`simulate`'s human table: DRAM metadata has a column and the totals line whenever any layer moves some.

Issue 17 §2: resnet18 `--weight-format bitmap` moved 1.5 MB of bitmaps the table did not show (only
the JSON had them); an N:M run showed `meta KiB` among its sparsity columns.
"""

from __future__ import annotations

import json
from fractions import Fraction

from accelsim.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def columns(out: str) -> tuple[list[str], dict[str, dict[str, str]]]:
    """The table's header and rows by layer name (cells split on two or more spaces)."""
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("layer "))
    header = lines[at].split("  ")
    header = [h.strip() for h in header if h.strip()]
    rows = {}
    for line in lines[at + 2:]:
        if not line.strip():
            break
        cells = [c.strip() for c in line.split("  ") if c.strip()]
        rows[cells[0]] = dict(zip(header, cells))
    return header, rows


def kib(n: int) -> str:
    return f"{round(Fraction(n, 1024)):,}"


def test_a_compressed_format_shows_its_metadata_in_the_table_and_the_totals(capsys):
    out = run(capsys, "simulate", "resnet18", "--weight-format", "bitmap")
    result = json.loads(run(capsys, "simulate", "resnet18", "--weight-format", "bitmap", "--json"))
    header, rows = columns(out)
    assert header[7:10] == ["DRAM KiB", "meta KiB", "energy µJ"]
    conv1 = next(r for r in result["layers"] if r["name"] == "conv1")
    # 3·64·7·7 = 9,408 int8 weights, all non-zero: 9,408 bytes of values and 9,408 bits of bitmap
    assert (conv1["dram_filter_bytes"], conv1["dram_filter_metadata_bytes"]) == (9408, 1176)
    assert rows["conv1"]["DRAM KiB"] == kib(150528 + 9408 + 802816) == "940"
    assert rows["conv1"]["meta KiB"] == "1"
    for layer in result["layers"]:
        meta = sum(layer.get(f"dram_{op}_metadata_bytes", 0) for op in ("ifmap", "filter", "ofmap"))
        assert rows[layer["name"]]["meta KiB"] == kib(meta)
    assert (result["dram_bytes"], result["dram_metadata_bytes"]) == (21_982_376, 1_515_160)
    assert out.splitlines()[-1].endswith(", DRAM 23,497,536 bytes (21,982,376 values + 1,515,160 metadata)")
    assert result["total_cycles"] == 2_311_932 and "in 2,311,932 cycles" in out.splitlines()[-1]


def test_a_dense_run_has_no_metadata_column_and_says_its_dram_bytes(capsys):
    out = run(capsys, "simulate", "resnet18")
    result = json.loads(run(capsys, "simulate", "resnet18", "--json"))
    header, _ = columns(out)
    assert "meta KiB" not in header and header[-1] == "energy µJ"
    assert result["dram_metadata_bytes"] == 0 and result["total_cycles"] == 2_242_867
    assert out.splitlines()[-1].endswith(f", DRAM {result['dram_bytes']:,} bytes")
    ideal = json.loads(run(capsys, "simulate", "resnet18", "--ideal-memory", "--json"))  # each tensor once
    assert run(capsys, "simulate", "resnet18", "--ideal-memory").splitlines()[-1].endswith(
        f", DRAM {ideal['dram_bytes']:,} bytes") and 0 < ideal["dram_bytes"] < result["dram_bytes"]


def test_an_nm_run_puts_its_metadata_in_the_same_place(capsys):
    argv = ("simulate", "resnet18", "--weight-sparsity", "2:4", "--weight-nm", "2:4")
    out = run(capsys, *argv)
    result = json.loads(run(capsys, *argv, "--json"))
    header, rows = columns(out)
    assert header[7:10] == ["DRAM KiB", "meta KiB", "energy µJ"] and header.count("meta KiB") == 1
    assert header[10:] == ["dense cycles", "effective", "gated", "skipped"]
    conv1 = next(r for r in result["layers"] if r["name"] == "conv1")
    assert rows["conv1"]["meta KiB"] == kib(conv1["dram_filter_metadata_bytes"]) == "1"
    meta, values = result["dram_metadata_bytes"], result["dram_bytes"]
    assert meta > 0
    total = [line for line in out.splitlines() if line.startswith("total: ")]
    assert total[0].endswith(f", DRAM {values + meta:,} bytes ({values:,} values + {meta:,} metadata)")
