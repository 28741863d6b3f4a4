"""The measure rule language: hand-written truth tables, precedence, chains, missing data,
numpy == dask, and hostile input refused with a ConfigError (never evaluated)."""

from __future__ import annotations

import builtins

import dask.array as da
import numpy as np
import pytest

from biostress.errors import ConfigError, InputDataError
from biostress.landcover.legend import load_legend
from biostress.measures.rules import (
    MAX_LENGTH,
    Categorical,
    Rule,
    evaluate,
    known_variables,
    landcover_variables,
    validate_rule,
)

T, F = True, False


def ev(rule: str, **variables) -> np.ndarray:
    return np.asarray(Rule.parse(rule).evaluate(variables))


# ------------------------------------------------------------------ truth tables

def test_and_or_not_truth_table():
    a = np.array([0.0, 0.0, 1.0, 1.0])
    b = np.array([0.0, 1.0, 0.0, 1.0])
    assert ev("a > 0.5 and b > 0.5", a=a, b=b).tolist() == [F, F, F, T]
    assert ev("a > 0.5 or b > 0.5", a=a, b=b).tolist() == [F, T, T, T]
    assert ev("not a > 0.5", a=a, b=b).tolist() == [T, T, F, F]
    assert ev("not (a > 0.5 or b > 0.5)", a=a, b=b).tolist() == [T, F, F, F]


def test_precedence_and_binds_tighter_than_or():
    # x > 1 or (x < 0 and y > 0)
    x = np.array([2.0, -1.0, -1.0, 0.5])
    y = np.array([-1.0, 1.0, -1.0, 1.0])
    assert ev("x > 1 or x < 0 and y > 0", x=x, y=y).tolist() == [T, T, F, F]
    # (x > 1 or x < 0) and y > 0 differs on the first cell
    assert ev("(x > 1 or x < 0) and y > 0", x=x, y=y).tolist() == [F, T, F, F]
    # not binds tighter than and: (not x > 1) and y > 0
    assert ev("not x > 1 and y > 0", x=x, y=y).tolist() == [F, T, F, T]


def test_arithmetic_precedence():
    x = np.array([3.0, 2.0])
    assert ev("1 + 2 * x == 7", x=x).tolist() == [T, F]  # 1 + 6 = 7; 1 + 4 = 5
    assert ev("(1 + 2) * x == 9", x=x).tolist() == [T, F]
    assert ev("-x + 2 * 3 > 3.5", x=x).tolist() == [F, T]  # 3 > 3.5 no; 4 > 3.5 yes
    assert ev("x / 2 - 1 == 0.5", x=x).tolist() == [T, F]
    np.testing.assert_allclose(ev("x * 2 - 1", x=x), [5.0, 3.0])


def test_chained_comparison():
    x = np.array([0.1, 0.2, 0.5, 0.6])
    assert ev("0.1 < x <= 0.5", x=x).tolist() == [F, T, T, F]
    assert ev("0 <= x < 0.5 < 1", x=x).tolist() == [T, T, F, F]


def test_in_with_text_and_codes():
    owner = np.array(["public", "private", "unknown", "public"])
    assert ev('owner in ("public", "unknown")', owner=owner).tolist() == [T, F, T, T]
    assert ev('owner not in ("public",)', owner=owner).tolist() == [F, T, T, F]
    assert ev('owner == "private"', owner=owner).tolist() == [F, T, F, F]
    assert ev('owner != "private"', owner=owner).tolist() == [T, F, T, T]
    # the same as codes: 0 public, 1 private, 2 unknown, -1 no value
    coded = Categorical(np.array([0, 1, 2, -1]), ("public", "private", "unknown"))
    assert ev('owner in ("public", "unknown")', owner=coded).tolist() == [T, F, T, F]
    assert ev('owner == "private"', owner=coded).tolist() == [F, T, F, F]
    assert ev('owner != "private"', owner=coded).tolist() == [T, F, T, F]  # no value -> False
    assert ev('owner not in ("public",)', owner=coded).tolist() == [F, T, T, F]


def test_number_in_list():
    x = np.array([1.0, 2.0, 3.0, np.nan])
    assert ev("x in (1, 3)", x=x).tolist() == [T, F, T, F]
    assert ev("x not in (1, 3)", x=x).tolist() == [F, T, F, F]  # NaN never fits
    assert ev("x in (-1, 2)", x=np.array([-1.0, 2.0, 0.0])).tolist() == [T, T, F]


def test_nan_makes_every_comparison_false():
    x = np.array([np.nan, 1.0])
    for op, want in (("<", F), ("<=", T), (">", F), (">=", T), ("==", T), ("!=", F)):
        assert ev(f"x {op} 1", x=x).tolist() == [F, want], op


def test_functions_share_min_max_clip():
    v = {"share_paved_other": np.array([0.1, 0.4]), "a": np.array([1.0, 5.0]), "b": np.array([3.0, 2.0])}
    assert ev('share("paved_other") >= 0.3', **v).tolist() == [F, T]
    assert Rule.parse('share("paved_other") > 0').variables == {"share_paved_other"}
    np.testing.assert_allclose(ev("min(a, b)", **v), [1.0, 2.0])
    np.testing.assert_allclose(ev("max(a, b, 4)", **v), [4.0, 5.0])
    np.testing.assert_allclose(ev("clip(a, 2, 4)", **v), [2.0, 4.0])
    np.testing.assert_allclose(ev("clip(a - b, 0, 1)", **v), [0.0, 1.0])  # -2 -> 0; 3 -> 1


def test_result_is_broadcast_to_the_cells():
    out = ev("1 < 2", x=np.zeros((2, 3)))
    assert out.shape == (2, 3) and out.all()
    out = ev("x > 0 or True", x=np.zeros((2, 2)))
    assert out.shape == (2, 2) and out.all()


def test_variables_and_kind():
    r = Rule.parse('share("road") > 0.1 and light_proxy >= 0.3 and owner == "public"')
    assert r.variables == {"share_road", "light_proxy", "owner"}
    assert r.kind == "bool"
    assert Rule.parse("x * 2").kind == "num"


# ------------------------------------------------------------------ missing variables

def test_missing_error_names_the_variable():
    with pytest.raises(InputDataError, match="owner"):
        evaluate('x > 0 and owner == "public"', {"x": np.array([1.0])})


def test_missing_false_reports_and_makes_comparisons_false():
    x = np.array([1.0, -1.0])
    res = evaluate('x > 0 and owner == "public"', {"x": x}, missing="false")
    assert res.value.tolist() == [F, F]
    assert res.missing == ("owner",) and not res.complete
    res = evaluate('x > 0 or owner == "public"', {"x": x}, missing="false")
    assert res.value.tolist() == [T, F]
    # the comparison itself is False, so its negation is True (documented behaviour)
    res = evaluate('not (owner == "public")', {"x": x}, missing="false")
    assert res.value.tolist() == [T, T]
    # arithmetic on an absent variable stays absent: the comparison is False
    res = evaluate("y * 2 + x > 0", {"x": x}, missing="false")
    assert res.value.tolist() == [F, F] and res.missing == ("y",)
    # a number rule on an absent variable is NaN
    res = evaluate("y * 2", {"x": x}, missing="false")
    assert np.isnan(res.value).all() and res.value.shape == (2,)
    # all present: complete
    assert evaluate("x > 0", {"x": x}, missing="false").complete


def test_bad_missing_mode():
    with pytest.raises(ConfigError):
        evaluate("x > 0", {"x": np.ones(2)}, missing="maybe")


def test_runtime_type_errors_are_input_errors():
    with pytest.raises(InputDataError, match="text"):
        evaluate('x == "public"', {"x": np.array([1.0])})
    with pytest.raises(InputDataError, match="numbers"):
        evaluate("owner_text + 1 > 0", {"owner_text": np.array(["a"])})
    with pytest.raises(InputDataError, match="true/false"):
        evaluate("x and y > 0", {"x": np.array([1.0]), "y": np.array([1.0])})
    with pytest.raises(InputDataError, match="text"):
        evaluate("x in (1, 2)", {"x": np.array(["a"])})


# ------------------------------------------------------------------ numpy == dask

RULES = [
    'share("paved_other") >= 0.2 and owner == "public"',
    "0.2 < light_proxy <= 0.7 or not (runoff_depth > 10)",
    'clip(share("lawn_grass") * 2 - 0.1, 0, 1) > 0.5 and owner in ("public", "unknown")',
    "min(runoff_depth / 20, 1) + max(light_proxy, 0.1)",
    'roof != "pitched" and light_proxy != 0.5',
]


def test_dask_equals_numpy():
    rng = np.random.default_rng(7)
    shape = (8, 10)
    paved = rng.random(shape)
    paved[0, :3] = np.nan
    v = {
        "share_paved_other": paved,
        "share_lawn_grass": rng.random(shape),
        "light_proxy": np.round(rng.random(shape), 1),
        "runoff_depth": rng.random(shape) * 30,
        "owner": rng.choice(["public", "private", "unknown"], size=shape),
        "roof": rng.choice(["flat", "pitched", "unknown"], size=shape),
    }
    vd = {k: da.from_array(a, chunks=(4, 5)) for k, a in v.items()}
    for rule in RULES:
        want = evaluate(rule, v).value
        got = evaluate(rule, vd).value
        assert isinstance(got, da.Array), rule  # stays lazy
        np.testing.assert_array_equal(np.asarray(got.compute()), want, err_msg=rule)
    # coded categoricals in dask too
    codes = rng.integers(-1, 3, size=shape)
    cat_np = Categorical(codes, ("public", "private", "unknown"))
    cat_da = Categorical(da.from_array(codes, chunks=(4, 5)), ("public", "private", "unknown"))
    r = 'owner in ("public", "unknown") and share("paved_other") > 0.3'
    want = evaluate(r, {**v, "owner": cat_np}).value
    got = evaluate(r, {**vd, "owner": cat_da}).value.compute()
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(want, ((codes == 0) | (codes == 2)) & (paved > 0.3))


# ------------------------------------------------------------------ hostile input

HOSTILE = [
    "__import__('os')",
    "__import__('os').system('echo pwned')",
    "().__class__",
    "().__class__.__bases__[0].__subclasses__()",
    "open('x')",
    "open('/etc/passwd').read()",
    "lambda: 1",
    "(lambda x: x)(1)",
    "x.real",
    "x[0]",
    "[c for c in 'ab']",
    "{k: 1 for k in 'ab'}",
    "(c for c in 'ab')",
    "__builtins__",
    "_private > 1",
    "eval('1')",
    "exec('x = 1')",
    "getattr(x, 'y')",
    "x if y else z",
    "(y := 1)",
    "x ** 2 > 1",
    "x is None",
    "f'{x}'",
    "b'bytes' == x",
    "None == x",
    "min(x=1)",
    "max(*x)",
    "share(x)",
    "share('a', 'b')",
    "clip(x)",
    "x; import os",
    "import os",
    "x = 1",
    "",
    "   ",
    "x >",
    "x\x00 > 1",
    "owner > 'public'",
    "owner == 'pubic'",
    "roof == 1",
    "setting in ('urban', 'city')",
    "1 and x > 1",
    "'text' and x > 1",
    "x in y",
    "x in (y, z)",
    "x in (1, 2) and z in ()",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_or_invalid_rules_are_refused(text):
    with pytest.raises(ConfigError):
        Rule.parse(text)


def test_long_and_deeply_nested_rules_are_refused():
    long = " or ".join(["x > 1"] * 400)
    assert len(long) > MAX_LENGTH
    with pytest.raises(ConfigError, match="longer than"):
        Rule.parse(long)
    deep = [
        "(" * 60 + "x > 1" + ")" * 60,
        "not " * 100 + "x > 1",
        "-" * 300 + "x > 1",
        "max(1, " * 45 + "x" + ")" * 45 + " > 1",
        "x" + " + x" * 300 + " > 1",  # a long flat chain is a deep tree
        "(" * 1000 + "x",
    ]
    for text in deep:
        assert len(text) <= MAX_LENGTH
        with pytest.raises(ConfigError):
            Rule.parse(text)


def test_non_text_rule_is_refused():
    with pytest.raises(ConfigError):
        Rule.parse(123)  # type: ignore[arg-type]


def test_evaluation_never_uses_eval_or_exec(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("eval/exec must not be used")

    monkeypatch.setattr(builtins, "eval", boom)
    monkeypatch.setattr(builtins, "exec", boom)
    r = Rule.parse('share("road") > 0.1 and owner == "public"')
    out = r.evaluate({"share_road": np.array([0.2, 0.0]), "owner": np.array(["public", "public"])})
    assert out.tolist() == [T, F]


# ------------------------------------------------------------------ vocabulary

def test_validate_rule_unknown_variable_with_suggestion():
    known = known_variables()
    validate_rule('share("paved_other") > 0.1 and heat_mitigation < 0.4', known)
    with pytest.raises(ConfigError, match="heat_mitigation"):
        validate_rule("heat_mitigaton < 0.4", known)  # typo: suggests the right name
    with pytest.raises(ConfigError, match="share_parking"):
        validate_rule('share("parking") > 0.1', known)


def test_known_variables_cover_the_legend_and_indicators():
    legend = load_legend()
    known = known_variables(legend)
    for key in legend.keys:
        assert f"share_{key}" in known
    for name in ("heat_mitigation", "runoff_depth", "light_proxy", "nitrogen_exceedance", "distance_natura2000_m",
                 "owner", "roof", "setting", "green", "impervious", "water"):
        assert name in known


def test_landcover_variables_hand_computed():
    legend = load_legend()
    n = len(legend.classes)
    fr = np.zeros((n, 1, 3), dtype=np.float32)
    k = legend.keys.index
    # cell 0: 0.5 building + 0.5 lawn; cell 1: 0.2 water + 0.3 road + 0.5 trees; cell 2 outside
    fr[k("building"), 0, 0] = 0.5
    fr[k("lawn_grass"), 0, 0] = 0.5
    fr[k("water"), 0, 1] = 0.2
    fr[k("road"), 0, 1] = 0.3
    fr[k("trees_woodland"), 0, 1] = 0.5
    fr[:, 0, 2] = np.nan
    v = landcover_variables(fr, legend)
    np.testing.assert_allclose(v["green"], [[0.5, 0.5, np.nan]])
    np.testing.assert_allclose(v["impervious"], [[0.5, 0.3, np.nan]])
    np.testing.assert_allclose(v["water"], [[0.0, 0.2, np.nan]])
    np.testing.assert_allclose(v["share_road"], [[0.0, 0.3, np.nan]])
    vd = landcover_variables(da.from_array(fr, chunks=(n, 1, 2)), legend)
    np.testing.assert_allclose(vd["green"].compute(), v["green"])
    with pytest.raises(InputDataError):
        landcover_variables(fr[:3], legend)
