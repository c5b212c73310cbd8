"""`accelsim llm` and `accelsim serve` tried as a careless or hostile user would.

Each test failed before its fix: `serve -o` crashed drawing its figure and left half its files, an
interrupted write left some outputs, `--weight-bits 16` could mean int8, an fp8 datapath's default
could not run, float formats ran on integer arrays, 2:4 weights were stored sparse but multiplied dense
on arrays without N:M PEs, `--json` printed `Infinity`, options were ignored or accepted malformed, and
an absurd step cost overflowed the scheduler's clock with a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accelsim.cli import main
from accelsim.errors import SpecError
from accelsim.llm import plots
from accelsim.serve import Request, ServeConfig, ToyCosts, simulate_serving

TINY = {"model_type": "llama", "hidden_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "intermediate_size": 512, "vocab_size": 1000, "max_position_embeddings": 4096}
SYSTEM = """version: 1
name: {name}
cores:
  count: 2
  array:
    name: core
    rows: 32
    cols: 32
    dataflows: [ws]
    input_bits: 8
    weight_bits: 8
    acc_bits: 32
{extra}    memory: {{ifmap_kib: 256, filter_kib: 256, ofmap_kib: 128, dram_bytes_per_cycle: 64}}
dram: {{bytes_per_cycle: 128, capacity_gib: 8}}
"""
SHORT = ["--prompt", "32", "--generate", "4"]
SERVE = ["--rate", "10", "--requests", "3", "--input-tokens", "32", "--output-tokens", "4"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def error(capsys, *argv, code: int = 1) -> str:
    got, out, err = run(capsys, *argv)
    assert got == code and out == "" and len(err.strip().splitlines()) == 1, (got, err)
    assert err.startswith("accelsim: error: ")
    return err.strip()


@pytest.fixture
def tiny(tmp_path) -> Path:
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY))
    return path


def system(tmp_path, name: str, extra: str = "") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(SYSTEM.format(name=name, extra=extra))
    return path


# -- outputs ---------------------------------------------------------------------------------------
def test_serve_writes_its_three_files_and_the_json_printed(capsys, tiny, tmp_path):
    out = tmp_path / "out"
    code, _, err = run(capsys, "serve", tiny, *SERVE, "-o", out)
    assert code == 0 and err == ""
    assert sorted(p.name for p in out.iterdir()) == ["requests.csv", "serve.json", "serving.png"]
    code, printed, _ = run(capsys, "serve", tiny, *SERVE, "--json")
    assert printed == (out / "serve.json").read_text()


@pytest.mark.parametrize("command, figure", [("llm", "tpot_figure"), ("serve", "serving_figure")])
def test_an_interrupt_while_writing_leaves_no_file(capsys, tiny, tmp_path, monkeypatch, command, figure):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(plots, figure, interrupted)
    argv = [command, tiny, *(SHORT if command == "llm" else SERVE)]
    out = tmp_path / "new"
    assert error(capsys, *argv, "-o", out, code=130) == "accelsim: error: interrupted"
    assert not out.exists()
    old = tmp_path / "old"  # a forced rerun, interrupted, leaves the earlier run whole (no mix of two runs)
    old.mkdir()
    names = ["llm.json", "decode.csv", "tpot.png"] if command == "llm" else ["serve.json", "requests.csv",
                                                                               "serving.png"]
    for name in names:
        (old / name).write_text("earlier")
    error(capsys, *argv, "-o", old, "--force", code=130)
    assert sorted(p.name for p in old.iterdir()) == sorted(names)
    assert all((old / name).read_text() == "earlier" for name in names)


def test_an_interrupt_inside_an_import_is_an_interrupt(capsys, tiny, tmp_path, monkeypatch):
    def half_imported(*args, **kwargs):  # what Ctrl-C inside a C extension's initialisation raises
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as err:
            raise ImportError("initialization failed") from err

    monkeypatch.setattr(plots, "serving_figure", half_imported)
    assert error(capsys, "serve", tiny, *SERVE, "-o", tmp_path / "o", code=130) == "accelsim: error: interrupted"
    assert not (tmp_path / "o").exists()


# -- deployments against the datapath --------------------------------------------------------------
def test_sixteen_bits_is_the_datapaths_16_bit_float(capsys, tiny):
    code, out, _ = run(capsys, "llm", tiny, *SHORT, "--activations", "fp8_e4m3", "--kv-bits", "16", "--json")
    assert code == 0 and json.loads(out)["deployment"] == "weights fp8_e4m3, activations fp8_e4m3, KV bf16"
    err = error(capsys, "llm", tiny, *SHORT, "--arch", "sa32", "--weight-bits", "16")
    assert "--weight-bits 16 means the datapath's 16-bit float, but sa32 multiplies integers" in err


def test_an_fp8_datapath_runs_by_default_and_names_what_it_refuses(capsys, tiny, tmp_path):
    fp8 = system(tmp_path, "fp8sys", "    datapath: fp8_e4m3\n")
    code, out, _ = run(capsys, "llm", tiny, *SHORT, "--arch", fp8, "--kv", "int4", "--json")
    assert code == 0 and json.loads(out)["deployment"] == "weights fp8_e4m3, activations fp8_e4m3, KV int4"
    err = error(capsys, "llm", tiny, *SHORT, "--arch", fp8, "--kv", "int8")
    assert "--kv int8: fp8sys's core multiplies fp8_e4m3, which does not hold every int8 value" in err


@pytest.mark.parametrize("argv, message", [
    (["--arch", "sa32", "--weights", "fp8"], "--weights fp8 is a floating-point format, but sa32 multiplies integers"),
    (["--arch", "sa32", "--activations", "bf16"], "--activations bf16 is a floating-point format"),
    (["--activations", "fp16"], "--activations fp16: tpuv4-chip's tpuv4-mxu multiplies bf16, which does not hold"),
    (["--weight-nm", "2:4"], "--weight-nm 2:4 runs on N:M PEs that take 2:4 weights"),
    (["--arch", "sa32", "--weight-nm", "2:4"], "sa32 has no N:M PEs: its weights would be stored sparse but"),
])
@pytest.mark.parametrize("command", ["llm", "serve"])
def test_a_deployment_the_cores_cannot_run_is_refused_by_its_option(capsys, tiny, argv, message, command):
    if command == "serve" and "sa32" in argv:
        argv = [a.replace("sa32", "npu4-edge") for a in argv]  # an integer system with DRAM capacity
        message = message.replace("sa32", "npu4-edge's npu4-core")
    assert message in error(capsys, command, tiny, *(SHORT if command == "llm" else SERVE), *argv)


def test_two_four_weights_run_on_n_m_pes(capsys, tiny, tmp_path):
    nm = system(tmp_path, "nmsys", '    weight_nm: "2:4"\n')
    code, out, _ = run(capsys, "llm", tiny, *SHORT, "--arch", nm, "--weight-nm", "2:4", "--json")
    assert code == 0 and json.loads(out)["deployment"].endswith("2:4 weights")


# -- what is printed -------------------------------------------------------------------------------
def test_one_generated_token_is_valid_json_and_no_decode_phase(capsys, tiny):
    code, out, _ = run(capsys, "llm", tiny, "--prompt", "8", "--generate", "1", "--json")
    data = json.loads(out, parse_constant=lambda name: pytest.fail(f"{name} in --json"))
    assert code == 0 and data["decode"]["intensity_macs_per_byte"] is None
    code, out, _ = run(capsys, "llm", tiny, "--prompt", "8", "--generate", "1")
    assert "decode      no steps" in out and "inf" not in out


def test_a_control_character_in_a_model_name_is_printed_escaped(capsys, tmp_path):
    path = tmp_path / "evil\x1b[31m.json"
    path.write_text(json.dumps(TINY))
    code, out, _ = run(capsys, "llm", path, *SHORT)
    assert code == 0 and "\x1b" not in out and "evil\\x1b[31m on tpuv4-chip" in out
    code, out, _ = run(capsys, "serve", path, *SERVE)
    assert code == 0 and "\x1b" not in out


def test_the_serve_summary_says_what_was_rejected(capsys, tiny, tmp_path):
    trace = tmp_path / "t.jsonl"
    trace.write_text('{"id": "big", "arrival_s": 0, "input_tokens": 5000, "output_tokens": 2}\n'
                     '{"arrival_s": 0, "input_tokens": 8, "output_tokens": 2}\n')
    code, out, _ = run(capsys, "serve", tiny, "--trace", trace)
    assert code == 0
    assert ("requests: 2 total, 1 finished, 1 rejected (first: 'big': prompt + output (5,002 tokens) exceeds "
            "max_context (4,096))") in out


# -- options ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, message", [
    (["llm", "--tp", "2", "--link-gb-s", "1e-300"], "argument --link-gb-s: must be a number from 0.001"),
    (["llm", "--kernel-overhead-us", "1e17"], "argument --kernel-overhead-us: must be a number from 0 to 1e+06"),
    (["serve", "--rate", "1", "--link-latency-us", "1e12"], "argument --link-latency-us:"),
    (["serve", "--rate", "1", "--input-tokens", "5-"], "argument --input-tokens: must be N or LOW-HIGH"),
    (["serve", "--rate", "1", "--seed", "-1"], "argument --seed: must be an integer from 0"),
    (["serve", "--rate", "1", "--ttft-slo", "1e17"], "argument --ttft-slo: must be a number above 0 to 1e+09"),
])
def test_absurd_option_values_are_usage_errors(capsys, tiny, argv, message):
    assert message in error(capsys, argv[0], tiny, *argv[1:], code=2)


def test_poisson_options_beside_a_trace_are_refused_not_ignored(capsys, tiny, tmp_path):
    trace = tmp_path / "t.jsonl"
    trace.write_text('{"arrival_s": 0, "input_tokens": 8, "output_tokens": 2}\n')
    for option, value in (("--requests", "5"), ("--input-tokens", "64"), ("--output-tokens", "9"), ("--seed", "3")):
        err = error(capsys, "serve", tiny, "--trace", trace, option, value)
        assert f"{option} shapes the Poisson requests of --rate" in err


@pytest.mark.parametrize("argv, message", [
    (["--max-num-seqs", "4096"], "--max-num-batched-tokens must be at least --max-num-seqs (4,096), not 2,048"),
    (["--max-num-batched-tokens", "2000000000"], "--max-num-batched-tokens must be an integer from 1 to"),
    (["--kv-utilization", "1e-12"], "--kv-utilization 1e-12 of the"),
])
def test_a_scheduler_refusal_names_the_option(capsys, tiny, argv, message):
    assert message in error(capsys, "serve", tiny, *SERVE, *argv)


def test_a_clock_past_int64_is_refused_not_overflowed():
    requests = [Request("a", 0.0, 4, 3)]
    with pytest.raises(SpecError, match=r"simulated time passed 2\*\*63 cycles"):
        simulate_serving(requests, ToyCosts(base=2**62), ServeConfig(kv_blocks=4))
