"""Ensembles on the fast engine: chunks of members on local processes or a Dask cluster.

Members are independent, so an ensemble is split into chunks of ``chunk_size`` members,
each run by :func:`kbalance.engine.runtime.run_fast` where it is sent; the numbers do not
depend on where a chunk runs.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
import xarray as xr

from kbalance.engine.compiler import compile_model
from kbalance.engine.runtime import check_dtype, check_engine, generated_functions, run_fast
from kbalance.errors import InvalidValueError
from kbalance.model.scenarios import Scenario, read_scenario

#: glibc's malloc settings (mallopt): serve allocations below this size from the heap
#: [bytes] (32 MiB, glibc's largest), and give the heap's free top back to the system only
#: beyond this size [bytes].
_MMAP_THRESHOLD, _TRIM_THRESHOLD = 32 * 2**20, 2**30


def _keep_freed_memory() -> None:
    """Let this process reuse the memory numpy frees instead of returning it to the system
    (glibc; elsewhere nothing changes).

    A step allocates and frees dozens of arrays of a few MB each. By default glibc gives
    such arrays fresh pages, or returns the heap's free top to the system, so the next
    step faults every page in and zeroes it again, 10-20 % of a worker's time. Set in the
    ensemble's worker processes only, which run nothing else; their resident memory then
    stays at the peak of a chunk.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's malloc.h
    # set both: setting either one stops glibc adjusting the other to the sizes in use
    mallopt(m_mmap_threshold, _MMAP_THRESHOLD)
    mallopt(m_trim_threshold, _TRIM_THRESHOLD)


def _start_worker(fused: bool) -> None:
    """Initializer of a local worker process: malloc settings, then the compiled model
    (forked workers inherit it, and the fused kernels compiled in the parent)."""
    _keep_freed_memory()
    generated_functions(compile_model(fused))


def _run_chunk(job: tuple):
    parameters, constants, until, variables, reduce, dtype, engine = job
    result = run_fast(parameters, constants, until, variables, dtype, engine)
    return result if reduce is None else reduce(result)


def _chunks(parameters: pd.DataFrame | None, chunk_size: int) -> list[pd.DataFrame | None]:
    if parameters is None:
        return [None]
    return [parameters.iloc[i:i + chunk_size] for i in range(0, len(parameters), chunk_size)]


def run_ensemble(parameters: pd.DataFrame | None, scenario=None, until: int = 2070,
                 variables: Sequence[str] = ("national population",), chunk_size: int = 250,
                 workers: int | None = None, scheduler: str | None = None,
                 progress: bool = False, reduce: Callable | None = None, dtype: str | np.dtype = "float64",
                 engine: str = "numpy", collect=None):
    """Run an ensemble with the fast engine.

    parameters : DataFrame, optional  members × parameter values; columns are model
        constant names ("mortality index drift") or "name[element]"; None runs one member
        with the model's values
    scenario : Scenario or str, optional  lever settings (a shipped name or a file)
    until : int  last year [year]
    variables : model variable names to return
    chunk_size : int  members per chunk; bounds memory
    workers : int, optional  local processes (default: the number of cores; 1 runs in
        this process)
    scheduler : str, optional  address of a Dask scheduler ("tcp://host:8786"); chunks
        then run on that cluster
    progress : bool  print progress to standard error
    reduce : callable, optional  applied to each chunk's Dataset where the chunk ran
        (a picklable top-level function); keeps memory small for large ensembles
    dtype : "float64" (default) or "float32": the type the members are computed in
        (see :func:`run_fast`)
    engine : "numpy" (default), "fused" or "auto": the execution path (see :func:`run_fast`)
    collect : optional  an object whose ``add`` takes each chunk's result (reduced when
        ``reduce`` is given) as it arrives, in member order, instead of keeping them all
        (kbalance.engine.summaries.EnsembleSummary streams means and quantiles this way)

    Returns a Dataset over (member, year, subscripts…), with ``reduce`` the list of
    reduced chunks in member order, or with ``collect`` that object. Members are
    independent, so the numbers do not depend on where a chunk runs.
    """
    if scenario is None:
        constants: dict[str, float] = {}
    elif isinstance(scenario, Scenario):
        constants = dict(scenario.constants)
    else:
        constants = dict(read_scenario(scenario).constants)
    if parameters is not None:
        parameters = parameters.reset_index(drop=True)
    if chunk_size < 1:
        raise InvalidValueError("run_ensemble", "chunk_size", chunk_size, "a positive integer")
    dtype = check_dtype(dtype, "run_ensemble").name
    fused = check_engine(engine, "run_ensemble")
    engine = "fused" if fused else "numpy"
    jobs = [(chunk, constants, until, tuple(variables), reduce, dtype, engine)
            for chunk in _chunks(parameters, chunk_size)]
    total = 1 if parameters is None else len(parameters)
    done = 0

    def report(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            print(f"\rfast engine: {done:,}/{total:,} members", end="" if done < total else "\n",
                  file=sys.stderr, flush=True)

    def size(job) -> int:
        return 1 if job[0] is None else len(job[0])

    results: list = []

    def keep(job, result) -> None:
        if collect is None:
            results.append(result)
        else:
            collect.add(result)
        report(size(job))

    if scheduler:
        from dask.distributed import Client

        with Client(scheduler) as client:
            futures = client.map(_run_chunk, jobs, pure=False)
            for job, future in zip(jobs, futures):  # in member order
                keep(job, future.result())
    else:
        workers = workers or os.cpu_count() or 1
        if workers == 1 or len(jobs) == 1:
            for job in jobs:
                keep(job, _run_chunk(job))
        else:
            if fused:  # compile the kernels here once: forked workers inherit them
                run_fast(None, constants, compile_model().initial_time + 1, variables[:1], dtype, engine)
            with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), initializer=_start_worker,
                                     initargs=(fused,)) as pool:
                for job, result in zip(jobs, pool.map(_run_chunk, jobs)):
                    keep(job, result)
    if collect is not None:
        return collect
    if reduce is not None:
        return results
    merged = xr.concat(results, dim="member") if len(results) > 1 else results[0]
    return merged.assign_coords(member=np.arange(merged.sizes["member"]))


__all__ = ["run_ensemble"]
