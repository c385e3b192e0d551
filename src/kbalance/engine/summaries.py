"""Ensemble summaries streamed chunk by chunk: memory that does not grow with the members.

An ensemble's full result is members × years × cells for every variable (``Population``
for 10,000 members to 2070 would be 16 GB). What is usually wanted is smaller: the mean,
spread and range of each variable at every year and cell, and quantiles of a few
outcomes at a few years. Here each chunk is reduced where it ran (:class:`ChunkReducer`,
passed as ``reduce`` to :func:`kbalance.engine.ensemble.run_ensemble`) to

- its member count and, for every variable, year and cell, the chunk's mean, sum of
  squared deviations, minimum and maximum (the size of one member's result, times four);
- the per-member values of the *kept* outcomes only (``keep``: variable → years), which
  exact quantiles need;

and :class:`EnsembleSummary` (``collect`` of run_ensemble) folds the chunks in as they
arrive: the moments by the pairwise update of Chan, Golub and LeVeque (exact in
exact arithmetic, and without the cancellation of summed squares), the kept outcomes by
concatenation. Memory is then four members' worth of every variable plus the kept
outcomes (members × their years × their cells), whatever the ensemble's size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from kbalance.engine.ensemble import run_ensemble


@dataclass(frozen=True)
class ChunkSummary:
    """One chunk reduced: its member count, moments over its members and kept outcomes.

    count : int  members in the chunk
    mean, m2, low, high : Dataset  per variable, year and cell: the mean over the
        chunk's members, their sum of squared deviations from it, minimum and maximum
    kept : dict  variable → its per-member values at the kept years (member, year, …)
    """

    count: int
    mean: xr.Dataset
    m2: xr.Dataset
    low: xr.Dataset
    high: xr.Dataset
    kept: dict[str, xr.DataArray]


@dataclass(frozen=True)
class ChunkReducer:
    """``reduce`` for run_ensemble: a chunk's Dataset → its :class:`ChunkSummary`.

    keep : mapping  variable → years [year] whose per-member values are kept for
        quantiles (a picklable instance, so it runs where the chunk ran)
    """

    keep: tuple[tuple[str, tuple[int, ...]], ...] = ()

    @classmethod
    def of(cls, keep: Mapping[str, Sequence[int]] | None = None) -> ChunkReducer:
        """The reducer keeping ``keep`` (variable → years)."""
        return cls(tuple((name, tuple(int(y) for y in years)) for name, years in (keep or {}).items()))

    def __call__(self, result: xr.Dataset) -> ChunkSummary:
        mean = result.mean("member")
        kept = {name: result[name].sel(year=list(years)) for name, years in self.keep}
        return ChunkSummary(count=result.sizes["member"], mean=mean, m2=((result - mean) ** 2).sum("member"),
                            low=result.min("member"), high=result.max("member"), kept=kept)


@dataclass
class EnsembleSummary:
    """Chunk summaries folded into one as they arrive (``collect`` for run_ensemble).

    After the ensemble: :attr:`count` members, :meth:`mean`, :meth:`std`, :attr:`low`,
    :attr:`high` per variable, year and cell, and :meth:`quantiles` of the kept outcomes.
    """

    count: int = 0
    moments: xr.Dataset | None = None  # running mean
    m2: xr.Dataset | None = None  # running sum of squared deviations
    low: xr.Dataset | None = None
    high: xr.Dataset | None = None
    kept: dict[str, list[xr.DataArray]] = field(default_factory=dict)

    def add(self, chunk: ChunkSummary) -> None:
        """Fold one chunk in (pairwise update of the mean and sum of squared deviations)."""
        for name, values in chunk.kept.items():
            self.kept.setdefault(name, []).append(values)
        if self.moments is None:
            self.count, self.moments, self.m2 = chunk.count, chunk.mean, chunk.m2
            self.low, self.high = chunk.low, chunk.high
            return
        total = self.count + chunk.count
        delta = chunk.mean - self.moments
        self.moments = self.moments + delta * (chunk.count / total)
        self.m2 = self.m2 + chunk.m2 + delta ** 2 * (self.count * chunk.count / total)
        self.low, self.high = np.fmin(self.low, chunk.low), np.fmax(self.high, chunk.high)
        self.count = total

    def mean(self) -> xr.Dataset:
        """Mean over all members, per variable, year and cell."""
        return self.moments

    def std(self, ddof: int = 1) -> xr.Dataset:
        """Standard deviation over all members (``ddof`` 1: the sample's)."""
        return np.sqrt(self.m2 / max(self.count - ddof, 1))

    def outcomes(self, name: str) -> xr.DataArray:
        """The kept per-member values of ``name`` (member, year, …), members numbered 0…"""
        values = xr.concat(self.kept[name], dim="member")
        return values.assign_coords(member=np.arange(values.sizes["member"]))

    def quantiles(self, q: Sequence[float] = (0.05, 0.5, 0.95)) -> xr.Dataset:
        """Exact quantiles (numpy's linear method) of every kept outcome at its kept years."""
        return xr.Dataset({name: self.outcomes(name).quantile(list(q), dim="member") for name in self.kept})


def summarize_ensemble(parameters, keep: Mapping[str, Sequence[int]] | None = None, **options) -> EnsembleSummary:
    """run_ensemble streamed into an :class:`EnsembleSummary`: ``keep`` (variable →
    years [year]) names the outcomes kept per member for quantiles; ``options`` are
    run_ensemble's (scenario, until, variables, chunk_size, workers, dtype, engine, …)."""
    return run_ensemble(parameters, reduce=ChunkReducer.of(keep), collect=EnsembleSummary(), **options)


__all__ = ["ChunkReducer", "ChunkSummary", "EnsembleSummary", "summarize_ensemble"]
