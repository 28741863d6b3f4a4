"""A small, safe rule language for where a measure fits in a grid cell.

A rule is one expression such as ``share("paved_other") >= 0.2 and owner == "public"``. It is
parsed with :func:`ast.parse` (``mode="eval"``) and the tree is walked against a whitelist; it is
never handed to ``eval``/``exec`` or compiled. Evaluation is vectorised: every variable is a
per-cell array (numpy or dask; the result has the same type) or a scalar.

Grammar (Python expression syntax, only these parts):

- ``and``, ``or``, ``not``; comparisons ``== != < <= > >=`` (also chained: ``0.1 < x <= 0.5``)
  and ``in`` / ``not in`` with a tuple or list of constants: ``owner in ("public", "unknown")``;
- arithmetic ``+ - * /`` and unary ``-``; numbers, text in quotes, ``True``/``False``;
- variable names (lower_snake_case, not starting with ``_``);
- the functions ``share("class_key")`` (the variable ``share_<class_key>``), ``min(a, b, ...)``,
  ``max(a, b, ...)`` and ``clip(x, lo, hi)``.

Everything else (attributes, subscripts, lambdas, comprehensions, other calls, keyword arguments,
``if``-expressions, ``**``, ``is``) is refused with a :class:`~biostress.errors.ConfigError`, as
are rules longer than :data:`MAX_LENGTH` characters or nested deeper than :data:`MAX_DEPTH`.

Semantics: a comparison is ``False`` in cells where a number operand is NaN (also for ``!=``).
A categorical variable (``owner``, ``roof``, ``setting``) is an array of text or a
:class:`Categorical` (integer codes + labels). With ``missing="false"`` an absent variable makes
every comparison that uses it ``False``, counts as ``False`` where it stands alone as a condition,
and makes arithmetic on it absent; the :class:`Evaluation` lists the absent variables so the caller
can say "unknown: no ownership data" instead of "does not fit".
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any, Literal

import numpy as np

from ..errors import ConfigError, InputDataError

MAX_LENGTH = 2000  # characters
MAX_DEPTH = 40  # nesting levels of the syntax tree
MAX_NODES = 600  # syntax-tree nodes
MAX_CHOICES = 64  # constants in an ``in (...)`` list

FUNCTIONS: dict[str, tuple[int, int | None]] = {"share": (1, 1), "min": (2, None), "max": (2, None),
                                                 "clip": (3, 3)}
_NAME = re.compile(r"[a-z][a-z0-9_]*")

#: categorical variables and their allowed labels
CATEGORIES: dict[str, tuple[str, ...]] = {
    "owner": ("public", "private", "unknown"),
    "roof": ("flat", "pitched", "unknown"),
    "setting": ("urban", "rural"),
}

#: indicator rasters of the pipeline usable in rules (name -> meaning, units)
INDICATOR_VARIABLES: dict[str, str] = {
    "green_share": "share of green cover, 0-1",
    "canopy_share": "share of tree canopy, 0-1",
    "impervious_share": "share of sealed cover, 0-1",
    "habitat_quality": "InVEST habitat quality, 0-1",
    "habitat_degradation": "InVEST habitat degradation score",
    "heat_mitigation": "InVEST UCM heat mitigation index, 0-1 (1 = coolest)",
    "cooling_capacity": "InVEST UCM cooling capacity, 0-1",
    "runoff_depth": "runoff for the design storm, mm",
    "depression_depth": "depth of the local depression, m",
    "drought_vulnerability": "drought vulnerability, 0-1",
    "nitrogen_exceedance": "N deposition above the critical load, mol N/ha/yr",
    "light_proxy": "artificial light proxy, 0-1",
    "noise_road_proxy": "road noise proxy, dB",
    "connectivity_current": "connectivity (circuit current)",
    "fragmentation_habitat": "habitat fragmentation index",
    "species_richness": "number of species recorded",
    "guide_species_key_networks": "count of guide species with a key-population network at the cell",
}

#: further per-cell context the caller may supply (absent ones are reported as unknown)
CONTEXT_VARIABLES: dict[str, str] = {
    "green": "summed share of the legend classes flagged green, 0-1",
    "impervious": "summed share of the legend classes flagged impervious, 0-1",
    "water": "summed share of the legend classes flagged water, 0-1",
    "distance_natura2000_m": "distance to the nearest Natura 2000 site, m",
    "distance_water_m": "distance to the nearest open water, m",
    "school_share": "share of the cell inside school grounds, 0-1",
    "culvert_share": "share of the cell over a culverted (piped) watercourse, 0-1",
    "owner": "land ownership: 'public', 'private' or 'unknown'",
    "roof": "roof shape of the buildings in the cell: 'flat', 'pitched' or 'unknown'",
    "setting": "'urban' or 'rural'",
}

Kind = Literal["bool", "num", "str", "cat", "any"]


@dataclass(frozen=True)
class Categorical:
    """A categorical per-cell variable stored as integer codes: ``labels[code]`` is the label of a
    cell; a code outside ``0..len(labels)-1`` (e.g. -1) means no value (never equal to a label)."""

    codes: Any
    labels: tuple[str, ...]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.codes.shape)

    def equals(self, label: str) -> Any:
        if label not in self.labels:
            return np.zeros_like(self.codes, dtype=bool)
        return self.codes == self.labels.index(label)


@dataclass(frozen=True)
class Evaluation:
    """Result of :func:`evaluate`: ``value`` (per-cell bool or number array) and the variables
    the rule needed but that were absent (``missing="false"`` only)."""

    value: Any
    missing: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.missing


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


def _fail(text: str, what: str, hint: str | None = None) -> ConfigError:
    short = text if len(text) <= 80 else text[:77] + "..."
    return ConfigError(f"Rule {short!r}: {what}",
                       hint=hint or "Use comparisons, and/or/not, + - * /, variable names and the "
                                    "functions share(), min(), max(), clip(); see docs/measures.md.")


_OPS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
        ast.In: "in", ast.NotIn: "not in"}
_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


class _Checker:
    """Walks a parsed tree, refuses everything outside the whitelist and infers a static kind."""

    def __init__(self, text: str, categories: Mapping[str, Sequence[str]]) -> None:
        self.text = text
        self.categories = categories
        self.variables: set[str] = set()
        self.nodes = 0

    def fail(self, what: str, hint: str | None = None) -> ConfigError:
        return _fail(self.text, what, hint)

    def check(self, node: ast.AST, depth: int = 0) -> Kind:
        self.nodes += 1
        if depth > MAX_DEPTH:
            raise self.fail(f"nested more than {MAX_DEPTH} levels deep.", "Write a flatter rule.")
        if self.nodes > MAX_NODES:
            raise self.fail(f"more than {MAX_NODES} terms.", "Write a shorter rule.")
        d = depth + 1
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool):
                return "bool"
            if isinstance(v, int | float):
                return "num"
            if isinstance(v, str):
                return "str"
            raise self.fail(f"the constant {v!r} is not allowed (only numbers, text and True/False).")
        if isinstance(node, ast.Name):
            return self._name(node.id)
        if isinstance(node, ast.BoolOp):
            for v in node.values:
                self._condition(v, self.check(v, d))
            return "bool"
        if isinstance(node, ast.UnaryOp):
            k = self.check(node.operand, d)
            if isinstance(node.op, ast.Not):
                self._condition(node.operand, k)
                return "bool"
            if isinstance(node.op, ast.USub | ast.UAdd):
                self._number(k, "unary minus")
                return "num"
            raise self.fail("the operator '~' is not allowed; use 'not'.")
        if isinstance(node, ast.BinOp):
            sym = _BINOPS.get(type(node.op))
            if sym is None:
                raise self.fail(f"the operator {type(node.op).__name__} is not allowed (only + - * /).")
            self._number(self.check(node.left, d), sym)
            self._number(self.check(node.right, d), sym)
            return "num"
        if isinstance(node, ast.Compare):
            return self._compare(node, d)
        if isinstance(node, ast.Call):
            return self._call(node, d)
        raise self.fail(f"{_describe(node)} is not allowed.")

    def _name(self, name: str) -> Kind:
        if name.startswith("_"):
            raise self.fail(f"names starting with '_' are not allowed ({name!r}).")
        if not _NAME.fullmatch(name):
            raise self.fail(f"variable names are lower_snake_case ({name!r}).")
        if name in FUNCTIONS:
            raise self.fail(f"{name!r} is a function: call it, e.g. {name}(...).")
        self.variables.add(name)
        return "cat" if name in self.categories else "any"

    def _condition(self, node: ast.AST, kind: Kind) -> None:
        if kind in ("num", "str", "cat"):
            raise self.fail(f"{ast.unparse(node)!r} is not a condition (true/false).",
                            "Compare it, e.g. 'x > 0' or 'owner == \"public\"'.")

    def _number(self, kind: Kind, op: str) -> None:
        if kind in ("str", "cat"):
            raise self.fail(f"'{op}' needs numbers, not text.")

    def _labels_ok(self, var: str, labels: Iterable[Any]) -> None:
        allowed = self.categories[var]
        for lab in labels:
            if not isinstance(lab, str):
                raise self.fail(f"{var} is categorical: compare it with text, e.g. {var} == {allowed[0]!r}.")
            if lab not in allowed:
                raise self.fail(f"{var} has no value {lab!r}.", f"Use one of {list(allowed)}.")

    def _compare(self, node: ast.Compare, d: int) -> Kind:
        operands = [node.left, *node.comparators]
        for i, op in enumerate(node.ops):
            if isinstance(op, ast.In | ast.NotIn) and i != len(node.ops) - 1:
                raise self.fail("an 'in (...)' list must end the comparison; join conditions with 'and'.")
        kinds: list[Kind] = [self.check(node.left, d)]
        for i, op in enumerate(node.ops):
            sym = _OPS.get(type(op))
            if sym is None:
                raise self.fail(f"the comparison {type(op).__name__} is not allowed (no 'is').")
            left, right = operands[i], operands[i + 1]
            lk = kinds[i]
            if sym in ("in", "not in"):
                consts = self._choices(right)
                if lk == "cat":
                    self._labels_ok(left.id, consts)  # type: ignore[attr-defined]
                elif lk in ("num", "bool") and any(isinstance(c, str) for c in consts):
                    raise self.fail(f"a number cannot be 'in' a list of text ({ast.unparse(node)!r}).")
                elif lk == "str":
                    raise self.fail(f"text constant on the left of 'in' ({ast.unparse(node)!r}).")
                kinds.append("any")
                continue
            rk = self.check(right, d)
            kinds.append(rk)
            for a, other, ka, kb in ((left, right, lk, rk), (right, left, rk, lk)):
                if ka == "cat":
                    var = a.id  # type: ignore[attr-defined]
                    if sym not in ("==", "!="):
                        raise self.fail(f"{var} is categorical: only == != and in work.")
                    if not (isinstance(other, ast.Constant) and isinstance(other.value, str)):
                        raise self.fail(f"compare {var} with a text constant, e.g. "
                                        f"{var} == {self.categories[var][0]!r}.")
                    self._labels_ok(var, [other.value])
                if ka == "str":
                    if sym not in ("==", "!="):
                        raise self.fail(f"text can only be compared with == != or in ({ast.unparse(node)!r}).")
                    if kb in ("num", "bool", "str"):
                        raise self.fail(f"text compared with a constant or a number ({ast.unparse(node)!r}).")
        return "bool"

    def _choices(self, node: ast.AST) -> list[Any]:
        if not isinstance(node, ast.Tuple | ast.List):
            raise self.fail("'in' needs a list of constants, e.g. owner in (\"public\", \"unknown\").")
        if not 1 <= len(node.elts) <= MAX_CHOICES:
            raise self.fail(f"'in' needs 1 to {MAX_CHOICES} constants.")
        out = []
        for e in node.elts:
            self.nodes += 1
            if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.USub) and isinstance(e.operand, ast.Constant) \
                    and isinstance(e.operand.value, int | float) and not isinstance(e.operand.value, bool):
                out.append(-e.operand.value)
                continue
            if not (isinstance(e, ast.Constant) and isinstance(e.value, str | int | float)):
                raise self.fail("'in' needs a list of constants (numbers or text).")
            out.append(e.value)
        return out

    def _call(self, node: ast.Call, d: int) -> Kind:
        if not isinstance(node.func, ast.Name):
            raise self.fail(f"{_describe(node.func)} cannot be called; only {sorted(FUNCTIONS)}.")
        fn = node.func.id
        if fn not in FUNCTIONS:
            raise self.fail(f"the function {fn!r} is not allowed; only {sorted(FUNCTIONS)}.")
        if node.keywords:
            raise self.fail(f"{fn}() takes no keyword arguments.")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise self.fail(f"{fn}() takes no *arguments.")
        lo, hi = FUNCTIONS[fn]
        n = len(node.args)
        if n < lo or (hi is not None and n > hi):
            want = f"{lo}" if lo == hi else f"at least {lo}"
            raise self.fail(f"{fn}() takes {want} argument(s), got {n}.")
        if fn == "share":
            a = node.args[0]
            if not (isinstance(a, ast.Constant) and isinstance(a.value, str) and _NAME.fullmatch(a.value)):
                raise self.fail("share() takes one land-cover class key in quotes, e.g. share(\"paved_other\").")
            self.nodes += 1
            self.variables.add(f"share_{a.value}")
            return "num"
        for a in node.args:
            self._number(self.check(a, d + 1), fn)
        return "num"


def _bracket_depth(text: str) -> int:
    """Deepest nesting of ( [ { outside quoted text (brackets alone add no tree nodes)."""
    depth = deepest = 0
    quote = ""
    for ch in text:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]}":
            depth -= 1
    return deepest


def _describe(node: ast.AST) -> str:
    names = {ast.Attribute: "attribute access (x.y)", ast.Subscript: "indexing (x[...])",
             ast.Lambda: "lambda", ast.ListComp: "a comprehension", ast.SetComp: "a comprehension",
             ast.DictComp: "a comprehension", ast.GeneratorExp: "a generator", ast.IfExp: "'x if c else y'",
             ast.NamedExpr: "':='", ast.Starred: "'*'", ast.Dict: "a dict", ast.Set: "a set",
             ast.Tuple: "a tuple (outside 'in')", ast.List: "a list (outside 'in')", ast.JoinedStr: "an f-string",
             ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield"}
    return names.get(type(node), type(node).__name__)


@dataclass(frozen=True, eq=False)
class Rule:
    """A parsed, checked rule. ``variables`` are the variable names it reads (``share("x")`` reads
    ``share_x``); ``kind`` is ``"bool"`` for a condition, ``"num"`` for a number."""

    text: str
    variables: frozenset[str]
    kind: Kind
    tree: ast.Expression

    @classmethod
    def parse(cls, text: str, categories: Mapping[str, Sequence[str]] | None = None) -> Rule:
        """Parse and check ``text``; raises :class:`ConfigError` for anything outside the language."""
        if not isinstance(text, str):
            raise ConfigError(f"A rule must be text, got {type(text).__name__}.")
        if len(text) > MAX_LENGTH:
            raise _fail(text, f"longer than {MAX_LENGTH} characters ({len(text)}).", "Write a shorter rule.")
        if not text.strip():
            raise _fail(text, "is empty.")
        if _bracket_depth(text) > MAX_DEPTH:
            raise _fail(text, f"has brackets nested more than {MAX_DEPTH} deep.", "Write a flatter rule.")
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as e:
            raise _fail(text, f"does not parse: {e.msg}.") from None
        except (RecursionError, MemoryError, ValueError):
            raise _fail(text, "is nested too deeply or is not valid text.", "Write a flatter rule.") from None
        checker = _Checker(text, CATEGORIES if categories is None else categories)
        try:
            kind = checker.check(tree.body)
        except RecursionError:
            raise _fail(text, "is nested too deeply.", "Write a flatter rule.") from None
        return cls(text, frozenset(checker.variables), kind, tree)

    def missing(self, variables: Mapping[str, Any]) -> tuple[str, ...]:
        """The variables the rule reads that ``variables`` lacks (sorted)."""
        return tuple(sorted(v for v in self.variables if v not in variables))

    def evaluate(self, variables: Mapping[str, Any], missing: Literal["error", "false"] = "error") -> Any:
        """Per-cell value (bool array for a condition). See :func:`evaluate` for ``missing``."""
        return evaluate(self, variables, missing).value


def validate_rule(text: str, known_variables: Iterable[str],
                  categories: Mapping[str, Sequence[str]] | None = None) -> Rule:
    """Parse ``text`` and check that it only reads ``known_variables``; raises ConfigError."""
    rule = Rule.parse(text, categories)
    known = set(known_variables)
    unknown = sorted(rule.variables - known)
    if unknown:
        tips = []
        for u in unknown:
            close = difflib.get_close_matches(u, sorted(known), n=1)
            tips.append(f"{u!r} (did you mean {close[0]!r}?)" if close else repr(u))
        raise _fail(text, f"unknown variable(s) {', '.join(tips)}.",
                    "Use the variables listed in docs/measures.md (share_<class key>, indicators, context).")
    return rule


# --------------------------------------------------------------------------------------------
# evaluation (numpy or dask: only ufuncs and operators, which dask dispatches lazily)
# --------------------------------------------------------------------------------------------

def _is_text(x: Any) -> bool:
    return isinstance(x, str) or getattr(getattr(x, "dtype", None), "kind", "") in ("U", "S", "O")


def _isnan(x: Any) -> Any:
    if isinstance(x, float):
        return np.isnan(x)
    if getattr(getattr(x, "dtype", None), "kind", "") in ("f", "c"):
        return np.isnan(x)
    return False


class _Evaluator:
    def __init__(self, rule: Rule, variables: Mapping[str, Any], missing: str) -> None:
        self.rule = rule
        self.vars = variables
        self.missing_mode = missing
        self.absent: set[str] = set()

    def fail(self, what: str) -> InputDataError:
        return InputDataError(f"Rule {self.rule.text!r}: {what}",
                              hint="Give numbers for numeric variables and text (or Categorical codes) "
                                   "for owner/roof/setting.")

    def run(self, node: ast.AST) -> Any:  # noqa: C901 - one branch per node type
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self.lookup(node.id)
        if isinstance(node, ast.Call):
            fn = node.func.id  # type: ignore[attr-defined]
            if fn == "share":
                return self.lookup(f"share_{node.args[0].value}")  # type: ignore[attr-defined]
            args = [self.run(a) for a in node.args]
            if any(a is _MISSING for a in args):
                return _MISSING
            for a in args:
                self.numeric(a, fn)
            if fn == "min":
                return reduce(np.minimum, args)
            if fn == "max":
                return reduce(np.maximum, args)
            x, lo, hi = args
            return np.minimum(np.maximum(x, lo), hi)
        if isinstance(node, ast.BinOp):
            a, b = self.run(node.left), self.run(node.right)
            if a is _MISSING or b is _MISSING:
                return _MISSING
            sym = _BINOPS[type(node.op)]
            self.numeric(a, sym)
            self.numeric(b, sym)
            if isinstance(node.op, ast.Add):
                return a + b
            if isinstance(node.op, ast.Sub):
                return a - b
            if isinstance(node.op, ast.Mult):
                return a * b
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.true_divide(a, b)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not):
                return np.logical_not(self.condition(self.run(node.operand)))
            a = self.run(node.operand)
            if a is _MISSING:
                return _MISSING
            self.numeric(a, "unary minus")
            return -a if isinstance(node.op, ast.USub) else a
        if isinstance(node, ast.BoolOp):
            vals = [self.condition(self.run(v)) for v in node.values]
            f = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            return reduce(f, vals)
        if isinstance(node, ast.Compare):
            return self.compare(node)
        raise self.fail(f"cannot evaluate {type(node).__name__}")  # unreachable after checking

    def lookup(self, name: str) -> Any:
        if name in self.vars:
            v = self.vars[name]
            if v is None:
                raise self.fail(f"the variable {name!r} is None; leave it out instead.")
            return v
        if self.missing_mode == "error":
            raise InputDataError(f"Rule {self.rule.text!r} needs the variable {name!r}, which is not available.",
                                 hint="Provide it, or evaluate with missing='false' to report it as unknown.")
        self.absent.add(name)
        return _MISSING

    def numeric(self, x: Any, op: str) -> None:
        if _is_text(x) or isinstance(x, Categorical):
            raise self.fail(f"'{op}' needs numbers, but got text.")

    def condition(self, x: Any) -> Any:
        if x is _MISSING:
            return False
        if isinstance(x, bool | np.bool_):
            return x
        if getattr(getattr(x, "dtype", None), "kind", "") == "b":
            return x
        raise self.fail("a variable used as a condition must hold true/false; compare it, e.g. 'x > 0'.")

    def compare(self, node: ast.Compare) -> Any:
        operands = [self.run(node.left)] + [None] * len(node.comparators)
        result: Any = True
        for i, op in enumerate(node.ops):
            a = operands[i]
            comp = node.comparators[i]
            sym = _OPS[type(op)]
            if sym in ("in", "not in"):
                consts = [-e.operand.value if isinstance(e, ast.UnaryOp) else e.value  # type: ignore[attr-defined]
                          for e in comp.elts]  # type: ignore[attr-defined]
                r = False if a is _MISSING else self.isin(a, consts)
                if sym == "not in" and a is not _MISSING:
                    keep = self.valid(a) if isinstance(a, Categorical) else np.logical_not(_isnan(a))
                    r = np.logical_and(keep, np.logical_not(r))
                result = np.logical_and(result, r)
                continue
            b = self.run(comp)
            operands[i + 1] = b
            if a is _MISSING or b is _MISSING:
                result = np.logical_and(result, False)
                continue
            result = np.logical_and(result, self.compare_pair(a, sym, b))
        return result

    @staticmethod
    def valid(c: Categorical) -> Any:
        return (c.codes >= 0) & (c.codes < len(c.labels))

    def isin(self, a: Any, consts: list[Any]) -> Any:
        if isinstance(a, Categorical):
            return reduce(np.logical_or, [a.equals(c) for c in consts])
        text = _is_text(a)
        if any(isinstance(c, str) for c in consts) and not text:
            raise self.fail("a number cannot be compared with text.")
        if text and any(not isinstance(c, str) for c in consts):
            raise self.fail("text cannot be compared with a number.")
        return reduce(np.logical_or, [a == c for c in consts])

    def compare_pair(self, a: Any, sym: str, b: Any) -> Any:
        if isinstance(a, Categorical) or isinstance(b, Categorical):
            cat, other = (a, b) if isinstance(a, Categorical) else (b, a)
            if not isinstance(other, str):
                raise self.fail("a categorical variable can only be compared with text.")
            eq = cat.equals(other)
            return eq if sym == "==" else self.valid(cat) & np.logical_not(eq)
        if _is_text(a) or _is_text(b):
            if not (_is_text(a) and _is_text(b)):
                raise self.fail("text cannot be compared with a number.")
            return (a == b) if sym == "==" else (a != b)
        if sym == "==":
            return a == b
        if sym == "!=":
            return np.logical_and(a != b, np.logical_not(np.logical_or(_isnan(a), _isnan(b))))
        return {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}[sym](a, b)


def _template(rule: Rule, variables: Mapping[str, Any]) -> Any:
    names = [n for n in sorted(rule.variables) if n in variables] + list(variables)
    for n in names:
        v = variables[n]
        if isinstance(v, Categorical):
            return v.codes
        if getattr(v, "shape", ()) != ():
            return v
    return None


def evaluate(rule: Rule | str, variables: Mapping[str, Any],
             missing: Literal["error", "false"] = "error") -> Evaluation:
    """Evaluate ``rule`` on per-cell ``variables`` (name -> numpy/dask array, scalar or
    :class:`Categorical`). ``missing="error"`` raises :class:`InputDataError` for an absent
    variable; ``missing="false"`` treats its comparisons as False and lists it in
    ``Evaluation.missing``. The value is broadcast to the shape of the variables."""
    if missing not in ("error", "false"):
        raise ConfigError(f"missing must be 'error' or 'false', got {missing!r}.")
    r = rule if isinstance(rule, Rule) else Rule.parse(rule)
    ev = _Evaluator(r, variables, missing)
    value = ev.run(r.tree.body)
    tmpl = _template(r, variables)
    if r.kind == "bool" or isinstance(value, bool | np.bool_) or getattr(getattr(value, "dtype", None), "kind", "") == "b":
        value = ev.condition(value)
        if tmpl is not None:
            value = np.logical_or(np.zeros_like(tmpl, dtype=bool), value)
        else:
            value = np.asarray(value, dtype=bool)
    else:
        if value is _MISSING:
            value = np.nan
        if tmpl is not None:
            value = np.zeros_like(tmpl, dtype=np.float64) + value
        else:
            value = np.asarray(value, dtype=np.float64)
    return Evaluation(value, tuple(sorted(ev.absent)))


# --------------------------------------------------------------------------------------------
# the variable vocabulary of the measure catalogue
# --------------------------------------------------------------------------------------------

def known_variables(legend: Any = None) -> dict[str, str]:
    """All variable names a measure rule may read (name -> meaning): ``share_<key>`` for every
    class of ``legend`` (default: the built-in legend), the indicators and the context variables."""
    if legend is None:
        from ..landcover.legend import load_legend

        legend = load_legend()
    out = {f"share_{c.key}": f"share of the cell covered by '{c.key}' ({c.name_en}), 0-1" for c in legend.classes}
    out.update(INDICATOR_VARIABLES)
    out.update(CONTEXT_VARIABLES)
    return out


def landcover_variables(fractions: Any, legend: Any) -> dict[str, Any]:
    """Rule variables from a land-cover stack ``fractions`` (n_classes, H, W): ``share_<key>`` per
    class and the flag sums ``green``, ``impervious``, ``water`` (NaN shares count as 0 in the sums,
    NaN stays NaN outside the area). Works on numpy and dask."""
    if fractions.shape[0] != len(legend.classes):
        raise InputDataError(f"The land-cover stack has {fractions.shape[0]} bands but the legend "
                             f"{legend.path} has {len(legend.classes)} classes.")
    out: dict[str, Any] = {f"share_{c.key}": fractions[i] for i, c in enumerate(legend.classes)}
    total = fractions.sum(axis=0)  # NaN outside the area
    for flag in ("green", "impervious", "water"):
        idx = [i for i, c in enumerate(legend.classes) if getattr(c, flag)]
        s = reduce(lambda x, y: x + y, [np.nan_to_num(fractions[i]) for i in idx]) if idx else 0.0
        out[flag] = np.where(np.isnan(total), np.nan, s + np.zeros_like(total))
    return out
