"""Sub-expressions shared between equations: computed once per step, or put back as code."""

from __future__ import annotations

from types import SimpleNamespace

from kbalance.engine.subexpressions import SharedExpressions, memoized, resolve_shared


def test_a_sub_expression_used_twice_is_computed_once_per_step_and_one_used_once_is_inlined():
    shared = {"_cse_0": "(a + b)", "_cse_1": "(_cse_0(s) * c)", "_cse_2": "(d - e)"}
    source = resolve_shared("x = _cse_1(s)\ny = _cse_0(s)\nz = _cse_2(s)\n", shared)
    assert source.startswith("x = (_cse_0(s) * c)\ny = _cse_0(s)\nz = (d - e)\n")
    assert "def _cse_0(s):" in source and "s.cache['_cse_0'] = (a + b)" in source
    assert "def _cse_1(s)" not in source and "def _cse_2(s)" not in source


def test_the_same_code_gets_the_same_placeholder():
    shared = SharedExpressions()
    first = shared.placeholder("(a + b)")
    assert shared.placeholder("(a + b)") == first != shared.placeholder("(a - b)")
    assert shared.resolve(f"x = {first}\ny = {first}\n").count("def _cse_0(s):") == 1
    assert shared.resolve(f"x = {first}\n") == "x = (a + b)\n"


def test_a_memoized_function_computes_its_code_once_and_keeps_it_where_asked():
    namespace: dict = {"calls": []}
    exec(memoized("_static_0", "static", "calls.append(1) or 2.0"), namespace)  # noqa: S102 (generated)
    s = SimpleNamespace(static={}, cache={})
    assert namespace["_static_0"](s) == 2.0 and namespace["_static_0"](s) == 2.0
    assert namespace["calls"] == [1] and s.static == {"_static_0": 2.0} and s.cache == {}
