import pytest
from hypothesis import given
from hypothesis import strategies as st

from accelsim.errors import SpecError
from accelsim.specio import Fields, load_yaml, read_yaml_file


def test_duplicate_keys_name_both_lines():
    with pytest.raises(SpecError, match=r"^x.yaml:3: duplicate key 'rows' \(first on line 1\)$"):
        load_yaml("rows: 1\ncols: 2\nrows: 3\n", "x.yaml")


def test_syntax_error_names_file_and_line():
    with pytest.raises(SpecError, match=r"^bad.yaml:3: invalid YAML: did not find expected ',' or '\]'$"):
        load_yaml("a: 1\nb: [1, 2\n", "bad.yaml")


def test_non_utf8_and_missing_file(tmp_path):
    with pytest.raises(SpecError, match="is not UTF-8 text"):
        load_yaml(b"a: \xff", "f.yaml")
    with pytest.raises(SpecError, match=r"nope.yaml: cannot read file: No such file"):
        read_yaml_file(tmp_path / "nope.yaml")


def test_unknown_key_suggests_the_closest_known_one():
    f = Fields(load_yaml("rows: 4\ncolss: 4\n"), where="arch", file="a.yaml")
    f.int("rows")
    f.int("colss", 1)
    f.raw("cols", None)
    f2 = Fields(load_yaml("rows: 4\ncolss: 4\n"), where="arch", file="a.yaml")
    f2.int("rows")
    f2.raw("cols", None)
    with pytest.raises(SpecError, match=r"^a.yaml:2: `arch.colss` is not a known key \(did you mean 'cols'\?\)$"):
        f2.done()


def test_typed_getters_reject_bools_and_wrong_types():
    f = Fields({"n": True, "x": "1.5", "s": 3, "t": [1, 0]}, where="w")
    with pytest.raises(SpecError, match="`w.n` must be a positive integer, not True"):
        f.int("n")
    with pytest.raises(SpecError, match=r"`w.x` must be a finite number > 0, not '1.5'"):
        f.number("x")
    with pytest.raises(SpecError, match="`w.s` must be a non-empty string, not 3"):
        f.str("s")
    with pytest.raises(SpecError, match=r"`w.t` must be an integer or a list of 2 positive integers, not \[1, 0\]"):
        f.int_tuple("t", 2)


def test_self_referencing_yaml_is_a_spec_error():
    with pytest.raises(SpecError, match=r"^r.yaml:1: invalid YAML: found unconstructable recursive node$"):
        load_yaml("a: &x [*x]\n", "r.yaml")


@given(st.text(max_size=200))
def test_any_text_parses_or_raises_spec_error(text):
    try:
        load_yaml(text, "fuzz.yaml")
    except SpecError as err:
        assert str(err).startswith("fuzz.yaml")
        assert "\n" not in str(err)


def _alias_bomb(levels: int) -> str:
    """Nested anchors: level i repeats level i-1 nine times, so the text stands for 9**levels values."""
    lines = ["  l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "meta:\n" + "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_quickly():
    import time

    start = time.perf_counter()
    with pytest.raises(SpecError, match=r"^b.yaml:8: invalid YAML: its aliases expand to more than 1,000,000 "
                                        r"values \(limit: accelsim.specio.MAX_YAML_VALUES\)$"):
        load_yaml(_alias_bomb(12), "b.yaml")  # 9**12 ≈ 3e11 values
    assert time.perf_counter() - start < 1.0


def test_aliases_below_the_limit_still_load():
    data = load_yaml(_alias_bomb(5))  # 9**5 = 59049 values
    assert len(data["meta"]["l4"]) == 9 and data["meta"]["l4"][8][8][8][8] == ["x"] * 9


def test_an_endless_input_is_refused_not_read_forever(capsys):
    from accelsim.cli import main

    assert main(["workload", "info", "/dev/zero"]) == 1  # was: read until memory ran out
    assert capsys.readouterr().err == ("accelsim: error: /dev/zero: is larger than 67,108,864 bytes, "
                                       "the limit for a YAML spec\n")
