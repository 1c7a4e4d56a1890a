"""Frames for the live charts: every position of a dragged control, computed by the core first.

A Streamlit slider sends its value only when it is released, so a chart fed
by it jumps after the hand stops.  The live charts instead hold, in the
browser, one frame for each position of each live control (the schema's
:data:`~rleaky_viz.config.LIVE_FIELDS` that take part in the run: β, θ, V,
the input amplitude and offset).  While a control is dragged the browser
only switches between frames; on release the value goes to the sidebar and
the URL, and the authoritative run draws the same frame again.

Every frame comes from the core: all of them are ONE batched run
(:func:`rleaky_viz.sweeps.point_rollout`), batch element ``k`` with its
own parameter value, as sweeps run their grids.  Frame ``k`` of field ``f``
is ``simulate(cfg.replace(f=value_k))`` for the sample and neuron the chart
shows (spikes equal, membranes equal to float32 rounding: the batched run
does the same arithmetic).  Nothing here imports Streamlit or Plotly.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import numpy as np
import torch

from .config import LIVE_FIELDS, SimConfig, check_value, control
from .sweeps import point_rollout

__all__ = ["LIVE_FIELDS", "LIVE_POSITIONS", "MAX_LIVE_ELEMENT_STEPS", "LiveFrames", "live_fields",
           "live_values", "live_frames", "live_off_reason", "positions_for"]

# Positions of one live control: the control's own range on its step grid, at most this
# many values (and always the current one).
LIVE_POSITIONS = 81
# frames x neurons x steps of the batched run (each records ~8 float32 values per element)
MAX_LIVE_ELEMENT_STEPS = 2 ** 21
# frames x steps the browser is sent (three float32 series each, ~12 B, and the spikes):
# at the default 200 steps four controls get LIVE_POSITIONS each; longer runs get fewer.
# 81 positions over a slider ~280 px wide (live.css): a drag of 60 pointer moves across
# β's meets a new frame at every move (61 left two or three moves on the frame before);
# θ's slider has 60 values in all, so there two moves may share one
MAX_LIVE_FRAME_STEPS = 65_000
_FEWEST_POSITIONS = 5


def live_fields(cfg: SimConfig, allowed: Optional[Sequence[str]] = None) -> tuple[str, ...]:
    """The live fields that take part in ``cfg``'s run (and are in ``allowed``, if given)."""
    return tuple(n for n in LIVE_FIELDS if cfg.is_used(n) and (allowed is None or n in allowed))


def _decimals(step: float) -> int:
    return max(0, -math.floor(math.log10(step))) + 2 if step > 0 else 6


def live_values(cfg: SimConfig, name: str, count: int = LIVE_POSITIONS) -> list[float]:
    """The positions of ``name``'s live control: its widget range, current value included.

    Values lie on the widget's step grid (widened to hold a current value
    outside it, as the sidebar's slider is), evenly spread when there are
    more grid points than ``count``; each is a value the field accepts.
    """
    if name not in LIVE_FIELDS:
        raise ValueError(f"{name} is not a live field; the live fields are {', '.join(LIVE_FIELDS)}")
    return list(_positions(name, float(getattr(cfg, name)), max(2, int(count))))


@functools.lru_cache(maxsize=1024)
def _positions(name: str, current: float, count: int) -> tuple[float, ...]:
    """:func:`live_values` for a field's value (remembered: a rerun asks for the same ones)."""
    c = control(name)
    lo, hi, step = float(c.lo), float(c.hi), float(c.step)
    lo, hi = min(lo, current), max(hi, current)
    grid = int(round((hi - lo) / step)) + 1
    index = range(grid) if grid <= count else sorted({round(i * (grid - 1) / (count - 1))
                                                      for i in range(count)})
    places = _decimals(step)
    values = {round(lo + i * step, places) for i in index}
    values = {min(max(v, lo), hi) for v in values} | {current}
    out = []
    for v in sorted(values):
        try:
            out.append(float(check_value(name, v)))
        except ValueError:
            continue  # e.g. a grid point outside what the field accepts
    return tuple(sorted(set(out)))


def live_off_reason(cfg: SimConfig, fields: Sequence[str]) -> Optional[str]:
    """Why the charts cannot follow a drag in this setting, or None when they can."""
    if not fields:
        return "no live control takes part in this setting"
    per = cfg.neuron_count * cfg.num_steps * len(fields)
    if per * _FEWEST_POSITIONS > MAX_LIVE_ELEMENT_STEPS:
        return (f"the frames of {cfg.neuron_count:,} neurons x {cfg.num_steps:,} steps would be "
                f"too large to hold (at most {MAX_LIVE_ELEMENT_STEPS:,} neuron-steps for "
                f"{_FEWEST_POSITIONS} positions of each control): reduce time steps or neurons")
    if cfg.num_steps * len(fields) * _FEWEST_POSITIONS > 8 * MAX_LIVE_FRAME_STEPS:
        return (f"{cfg.num_steps:,} steps are too many frames to send to the browser (at most "
                f"{8 * MAX_LIVE_FRAME_STEPS // (len(fields) * _FEWEST_POSITIONS):,} steps "
                f"with {len(fields)} live controls): reduce time steps")
    return None


def positions_for(cfg: SimConfig, fields: Sequence[str], positions: int = LIVE_POSITIONS) -> int:
    """How many positions each live control gets in this setting (see the limits above)."""
    n = max(1, len(fields))
    fit = min(MAX_LIVE_ELEMENT_STEPS // (cfg.neuron_count * cfg.num_steps * n),
              MAX_LIVE_FRAME_STEPS // (cfg.num_steps * n))
    return max(_FEWEST_POSITIONS, min(int(positions), fit))


@dataclass
class LiveFrames:
    """One frame per position of each live control, for one neuron of one sample.

    ``values[f]`` are field ``f``'s positions and ``current[f]`` the index of
    the config's own value among them.  ``series(f, k)`` is the dict that
    ``figures.neuron.neuron_series`` gives for ``simulate(config(f, k))``,
    and ``steady(f, k)`` that run's no-spike steady state, where the
    overlay applies (else None).
    """

    cfg: SimConfig
    neuron: int
    batch: int
    fields: tuple
    values: dict
    current: dict
    arrays: dict = field(repr=False)     # name -> (frames, T) numpy arrays
    thresholds: np.ndarray = field(repr=False)
    steadies: list = field(repr=False)
    first: dict = field(repr=False)      # field -> index of its first frame
    overlay: bool = False                # whether the steady states were asked for

    def config(self, name: str, k: int) -> SimConfig:
        return self.cfg.replace(**{name: self.values[name][k]})

    def _row(self, name: str, k: int) -> int:
        if name not in self.values:
            raise KeyError(f"{name} is not live here; the live fields are {', '.join(self.fields)}")
        if not 0 <= k < len(self.values[name]):
            raise IndexError(f"{name} has {len(self.values[name])} positions, not {k}")
        return self.first[name] + k

    def series(self, name: str, k: int, native: bool = False) -> dict:
        """The frame as ``neuron_series`` gives a run: float64 copies of the float32 values
        (``native=True``: the float32 values themselves, the same numbers)."""
        r = self._row(name, k)
        out = {key: a[r] if (native or a.dtype == np.bool_) else a[r].astype(np.float64)
               for key, a in self.arrays.items()}
        out["threshold"] = float(self.thresholds[r])
        return out

    def steady(self, name: str, k: int) -> Optional[float]:
        return self.steadies[self._row(name, k)]

    @property
    def frame_count(self) -> int:
        return sum(len(v) for v in self.values.values())


def _reusable(old: Optional["LiveFrames"], cfg: SimConfig, name: str, neuron: int, batch: int,
              overlay: bool) -> dict:
    """The rows of ``old`` that hold frames of ``name`` for ``cfg``, by value: where ``old``
    has the same neuron, sample and overlay and a config equal to ``cfg`` in every field but
    ``name`` (a control's frames do not depend on where it stands), else none."""
    if old is None or name not in old.values:
        return {}
    if (old.neuron, old.batch, old.overlay) != (int(neuron), int(batch), bool(overlay)):
        return {}
    here = old.values[name][0]
    if old.cfg.with_checked(**{name: here}) != cfg.with_checked(**{name: here}):
        return {}
    return {v: old.first[name] + k for k, v in enumerate(old.values[name])}


def live_frames(cfg: SimConfig, neuron: int = 0, batch: int = 0, *,
                fields: Optional[Sequence[str]] = None, upload: Optional[np.ndarray] = None,
                state_dict: Optional[Mapping[str, torch.Tensor]] = None,
                overlay: bool = False, positions: int = LIVE_POSITIONS,
                reuse: Optional["LiveFrames"] = None) -> LiveFrames:
    """Every frame of the live controls ``fields`` (default: :func:`live_fields`), in one run.

    ``overlay``: also give each frame its steady-state line where the
    analytic overlay applies to that frame's setting (``theory``).
    ``reuse``: the frames of an earlier setting with the same uploads (the
    one before a release): the frames of a control whose config differs
    from ``cfg`` only in that control's own value are taken from it, not run
    again (after a release of β, β's frames are unchanged; a value new to its positions
    is run).
    Raises ``ValueError`` (naming what to reduce) where :func:`live_off_reason` says no.
    """
    from .core.rule import StepRule
    from .theory import analytic_overlay, overlay_applies

    fields = live_fields(cfg) if fields is None else tuple(fields)
    for name in fields:
        if name not in LIVE_FIELDS:
            raise ValueError(f"{name} is not a live field; the live fields are {', '.join(LIVE_FIELDS)}")
    reason = live_off_reason(cfg, fields)
    if reason:
        raise ValueError(f"no live frames: {reason}")
    if not 0 <= int(neuron) < cfg.neuron_count:
        raise ValueError(f"neuron must be in 0..{cfg.neuron_count - 1}, got {neuron!r}")
    positions = positions_for(cfg, fields, positions)
    values = {name: live_values(cfg, name, positions) for name in fields}
    current = {name: values[name].index(float(getattr(cfg, name))) for name in fields}
    names = list(fields)
    # each frame: run now (a point), or taken from `reuse` (a row of it)
    known = {n: _reusable(reuse, cfg, n, neuron, batch, overlay) for n in names}
    base = [float(getattr(cfg, n)) for n in names]
    points, new_rows, old_rows, old_from, first = [], [], [], [], {}
    for i, name in enumerate(names):
        first[name] = len(new_rows) + len(old_rows)
        for v in values[name]:
            row = len(new_rows) + len(old_rows)
            if v in known[name]:
                old_rows.append(row)
                old_from.append(known[name][v])
                continue
            p = list(base)
            p[i] = v
            points.append(tuple(p))
            new_rows.append(row)
    new_arrays, new_thresholds, new_steadies = {}, np.zeros(0), []
    if points:
        x, out, module = point_rollout(cfg, names, points, upload=upload, state_dict=state_dict,
                                       sample=batch)
        applied = StepRule(module).reset_applied(out.spk, out.reset)
        T, G = x.shape[0], x.shape[1]

        def pick(t: torch.Tensor) -> np.ndarray:  # (T, G, *shape) -> (G, T) of the shown neuron
            return t.detach().reshape(T, G, -1)[:, :, int(neuron)].to("cpu").numpy().T.copy()

        new_arrays = {"input": pick(x), "spk": pick(out.spk), "mem": pick(out.mem),
                      "recurrent": pick(out.recurrent), "base": pick(out.base),
                      "decision": pick(out.decision), "reset_applied": pick(applied)}
        theta = torch.as_tensor(module.threshold, dtype=torch.float64).detach().to("cpu")
        new_thresholds = theta.broadcast_to((G, *cfg.neuron_shape)).reshape(G, -1)[:, int(neuron)].numpy()
        new_steadies = [None] * G
        if overlay:
            for r, p in enumerate(points):
                cfg_r = cfg.with_checked(**dict(zip(names, p)))
                if overlay_applies(cfg_r):
                    value = float(analytic_overlay(cfg_r)["steady_state"])
                    new_steadies[r] = value if math.isfinite(value) else None
    if not old_rows:
        arrays, thresholds, steadies = new_arrays, new_thresholds, new_steadies
    else:  # the rows in field order, from both
        total = len(new_rows) + len(old_rows)
        arrays = {}
        for key, a in reuse.arrays.items():
            rows = np.empty((total,) + a.shape[1:], dtype=a.dtype)
            rows[old_rows] = a[old_from]
            if new_rows:
                rows[new_rows] = new_arrays[key]
            arrays[key] = rows
        thresholds = np.empty(total, dtype=np.float64)
        thresholds[old_rows] = reuse.thresholds[old_from]
        steadies = [None] * total
        for dst, src in zip(old_rows, old_from):
            steadies[dst] = reuse.steadies[src]
        if new_rows:
            thresholds[new_rows] = new_thresholds
            for dst, v in zip(new_rows, new_steadies):
                steadies[dst] = v
    return LiveFrames(cfg=cfg, neuron=int(neuron), batch=int(batch), fields=tuple(names),
                      values=values, current=current, arrays=arrays, thresholds=thresholds,
                      steadies=steadies, first=first, overlay=bool(overlay))
