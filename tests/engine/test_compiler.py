"""The fast engine's compiler: what it refuses, what it hoists, and the engine's hash."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from pysd.translators.structures import abstract_expressions as ae

from kbalance.engine import compiler
from kbalance.engine.compiler import Compiler, EngineError, compile_model, source_hash


def test_the_engine_refuses_constructs_it_does_not_compile():
    compiler_ = Compiler.__new__(Compiler)
    with pytest.raises(EngineError, match="SmoothStructure"):
        compiler_.expr(ae.SmoothStructure(1.0, 1.0, 1.0, 1))


def test_static_expressions_are_computed_once_per_run():
    source = compile_model().source
    # the age profile of migration reads constants only: one function, kept for the run
    assert "def _static_" in source and "s.static[" in source
    migration = next(line for line in source.splitlines() if "s.cache['out_migration_rate'] =" in line)
    assert "_static_" in migration and "np.transpose" not in migration


def test_every_model_variable_is_compiled_once():
    model = compile_model()
    assert model is compile_model()  # cached per process
    assert len(model.names) > 200 and set(model.stocks) <= set(model.dims)
    assert {"population", "innovation_base", "public_service_capital"} <= set(model.stocks)
    for py in model.dims:
        if py not in model.lookups:
            assert f"def v_{py}(s):" in model.source, py


def test_the_source_hash_covers_every_engine_module_and_the_generated_code(tmp_path, monkeypatch):
    engine = tmp_path / "engine"
    shutil.copytree(Path(compiler.__file__).parent, engine, ignore=shutil.ignore_patterns("__pycache__"))
    assert {"compiler.py", "runtime.py", "ensemble.py", "reference.py"} <= {p.name for p in engine.glob("*.py")}
    original = source_hash()
    monkeypatch.setattr(compiler, "__file__", str(engine / "compiler.py"))
    assert source_hash() == original  # the same files
    with open(engine / "ensemble.py", "a", encoding="utf-8") as f:
        f.write("\n")
    edited = source_hash()
    assert edited != original
    monkeypatch.setattr(compiler, "compile_model", lambda: SimpleNamespace(source="def v_x(s):\n    return 1\n"))
    assert source_hash() != edited


def test_the_population_flow_reuses_its_net_flow_and_boundary_transfers_run_only_when_scheduled():
    source = compile_model().source.splitlines()
    flow = source[source.index("def flow_population(s):") + 1]
    net = next(line for line in source if "s.cache['population_net_flow'] =" in line)
    token = re.findall(r"_cse_\d+\(s\)", flow)
    assert "v_entries" not in flow and len(token) == 1 and f"full({token[0]}, " in net
    loss = next(line for line in source if "s.cache['boundary_transfer_loss'] =" in line)
    assert "if_then_else(" in loss and "np.where" not in loss


def test_constants_data_and_stocks_are_read_directly_and_auxiliaries_through_their_function():
    model = compile_model()
    births = next(line for line in model.source.splitlines() if "s.cache['births'] =" in line)
    assert "s.state['population']" in births and "v_population(s)" not in births
    assert "v_age_specific_fertility(s)" in births  # an auxiliary, memoized per step
    ageing = next(line for line in model.source.splitlines() if "s.cache['ageing'] =" in line)
    assert "s.c['ageing_share']" in ageing and "v_ageing_share(s)" not in ageing
    for py in ("population", "ageing_share"):
        assert f"def v_{py}(s):" in model.source  # still there for the outputs asked for
