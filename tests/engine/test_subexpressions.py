"""Sub-expressions shared between equations: computed once per step, or put back as code."""

from __future__ import annotations

from kbalance.engine.subexpressions import SharedExpressions, resolve_shared


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
