"""Figures written as plain specs, wrapped into a ``go.Figure`` without plotly's validation.

A Streamlit rerun rebuilds every figure on the page.  Built the usual way
(``go.Scatter(...)``, ``fig.add_trace``, ``make_subplots``,
``update_layout``), plotly validates and coerces every property on every
call, and a page paid tens of milliseconds for it per rerun, more than the
simulation.  The builders therefore write each figure as the dict plotly
would have produced (``{"type": "scatter", "x": ..., "line": {...}}``,
numpy arrays as they are) and :func:`figure` wraps it with
``go.Figure(spec, _validate=False)``: still a ``plotly.graph_objects.Figure``
(``fig.data[i].name``, ``fig.layout.title.text``, ``to_dict``, ``to_json``,
``write_html``, ``update_layout`` all work as before), only nothing is
checked while it is built.

Even unvalidated, building the plotly objects (every trace, the layout, the
default template copied into it) cost a page a few milliseconds a figure per
rerun, and a chart only needs the spec.  So :func:`figure` returns a
:class:`SpecFigure`: a ``go.Figure`` that holds the spec and builds its
plotly objects the first time anything of the figure is used
(``rleaky_viz.figures.wire.figure_json`` reads the spec of one not built).

What no longer raises at build time is checked by
``tests/test_figure_specs.py``: every builder's figure must pass plotly's
full validation (``go.Figure(fig.to_dict())``) unchanged, so a misspelt
property or an invalid value fails there.
"""
from __future__ import annotations

import re
import threading
from copy import deepcopy
from functools import lru_cache
from typing import Callable, Optional, Sequence, Union

import plotly.graph_objects as go

__all__ = ["figure", "subplot_layout", "axis_ids", "colorscale", "SpecFigure", "unbuilt_spec",
           "unbuilt_dict", "template_named", "trace_names"]

# numbered axes of a subplot grid: xaxis2, yaxis3, ... (xaxis/yaxis themselves are ordinary)
_SUBPLOT_AXIS = re.compile(r"[xy]axis[2-9]\d*|[xy]axis[1-9]\d+")


def figure(data: Sequence[dict], layout: dict, frames: Optional[Sequence[dict]] = None) -> go.Figure:
    """``go.Figure`` of trace dicts (each with its ``"type"``), a layout dict and optional frames.

    Nothing is validated or copied property by property.  Frames are dicts
    ``{"name": ..., "data": [...], "layout": {...}}``; plotly's constructor
    always validates frames, so they are attached unvalidated afterwards.
    The plotly objects are built on first use (:class:`SpecFigure`); an
    unknown trace type is refused here, as building would refuse it.
    """
    data = list(data)
    known = _trace_types()
    for trace in data:
        kind = trace.get("type", "scatter")
        if kind not in known:
            raise ValueError(f"unknown trace type {kind!r}; plotly's trace types are "
                             f"{', '.join(sorted(known))}")
    return SpecFigure(data, layout, list(frames) if frames else None)


@lru_cache(maxsize=None)
def _trace_types() -> frozenset:
    from plotly.validator_cache import ValidatorCache

    return frozenset(ValidatorCache.get_validator("", "data").class_strs_map)


_BUILD_LOCK = threading.RLock()


class SpecFigure(go.Figure):
    """A ``go.Figure`` built from its spec the first time it is used.

    Until then it holds only ``(data, layout, frames)``; any attribute it
    lacks (``fig.data``, ``fig.layout``, ``update_layout``, ``to_dict``...
    all read attributes that the build sets) builds it in place, exactly as
    :func:`figure` always did, and from then on it is an ordinary figure.
    A copy or a pickle is a plain ``go.Figure``.
    """

    def __init__(self, data: list, layout: dict, frames: Optional[list] = None):  # noqa: D107
        # the base constructor runs on first use (_build): nothing of plotly's is made here
        self.__dict__["_rleaky_spec"] = (data, layout, frames)

    def __getattr__(self, name: str):
        # reached only for what the instance does not have yet
        if name.startswith("__") or "_rleaky_spec" not in self.__dict__:
            raise AttributeError(name)
        with _BUILD_LOCK:  # two threads using one figure first build it once
            spec = self.__dict__.pop("_rleaky_spec", None)
            if spec is not None:
                _build(self, *spec)
        return object.__getattribute__(self, name)

    def __reduce__(self):
        return (go.Figure, super().__reduce__()[1])

    def to_dict(self) -> dict:
        """``go.Figure.to_dict()``; one not built yet answers from its spec (a copy, with the
        default template), without building (``st.plotly_chart`` asks for this)."""
        out = unbuilt_dict(self, _copied, lambda name: _copied(template_named(name)))
        if out is None:
            return super().to_dict()
        from _plotly_utils.utils import convert_to_base64

        convert_to_base64(out)  # as plotly's to_dict does: numeric arrays as base64 specs
        return out


def _copied(obj):
    """A deep copy of a spec: its dicts, lists and arrays copied, its strings and numbers shared."""
    if isinstance(obj, dict):
        return {k: _copied(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_copied(v) for v in obj] if isinstance(obj, list) else tuple(_copied(v) for v in obj)
    if hasattr(obj, "copy") and hasattr(obj, "dtype"):  # a numpy array (or scalar)
        return obj.copy()
    return deepcopy(obj) if not isinstance(obj, (str, int, float, bool, type(None))) else obj


def unbuilt_dict(fig, convert: Callable, template: Callable[[str], dict]) -> Optional[dict]:
    """A :class:`SpecFigure` not built yet as plotly's ``{"data", "layout"[, "frames"]}``,
    each part passed through ``convert``, without building it; None for any other figure.

    ``template(name)`` gives the default template as the layout should hold it (plotly
    puts it into a new figure's layout unless the spec has one).  None too when the
    default is a template object, not a name: then only the built figure knows.
    """
    spec = unbuilt_spec(fig)
    if spec is None:
        return None
    import plotly.io as pio

    name = pio.templates.default
    if name is not None and not isinstance(name, str):
        return None
    data, layout, frames = spec
    own = layout.get("template")
    out = {"data": convert(list(data)),
           "layout": convert({k: v for k, v in layout.items() if k != "template"})}
    if own is not None:
        out["layout"]["template"] = convert(own)
    elif name is not None:
        out["layout"]["template"] = template(name)
    if frames:
        out["frames"] = convert(list(frames))
    return out


@lru_cache(maxsize=8)
def template_named(name: str) -> dict:
    """plotly's registered template ``name`` as a new figure's layout holds it (shared: copy it)."""
    return go.Figure()._layout.get("template")


def trace_names(fig: go.Figure) -> tuple:
    """The names of ``fig``'s traces (None where one has none), read from the spec of a
    :class:`SpecFigure` not built yet, so asking does not build it."""
    spec = unbuilt_spec(fig)
    if spec is None:
        return tuple(t.name for t in fig.data)
    return tuple(t.get("name") for t in spec[0])


def unbuilt_spec(fig) -> Optional[tuple]:
    """``(data, layout, frames)`` of a :class:`SpecFigure` not built yet, else None."""
    return getattr(fig, "__dict__", {}).get("_rleaky_spec")


def _build(fig: go.Figure, data: list, layout: dict, frames: Optional[list]) -> None:
    axes = {k: v for k, v in layout.items() if _SUBPLOT_AXIS.fullmatch(k)}
    plain = {k: v for k, v in layout.items() if k not in axes} if axes else layout
    go.Figure.__init__(fig, {"data": list(data), "layout": plain}, _validate=False)
    if axes:
        try:
            _attach_axes(fig, axes)
        except (AttributeError, ImportError, TypeError):  # plotly's internals moved:
            # let the constructor validate the axes (about a millisecond more)
            go.Figure.__init__(fig, {"data": list(data), "layout": layout}, _validate=False)
    if frames:
        try:
            fig._frame_objs = tuple(_frame(f) for f in frames)
        except (AttributeError, TypeError, KeyError):  # plotly's internals moved: validate
            go.Figure.__init__(fig, {"data": list(data), "layout": layout, "frames": list(frames)},
                               _validate=False)


def _attach_axes(fig: go.Figure, axes: dict) -> None:
    """Put ``xaxis2``, ``yaxis3``... into ``fig``'s layout without validating them.

    plotly's Layout validates numbered subplot axes even with
    ``_validate=False`` (they go through ``_set_subplotid_prop``), which
    was a third of building a four-row figure.  Here each is registered as
    a subplot property of the layout, as ``_set_subplotid_prop`` does, and
    its dict stored in the figure's layout properties, where
    ``fig.layout.xaxis2``, ``update_xaxes`` and ``to_dict`` read it.
    """
    layout = fig.layout
    for key, value in axes.items():
        layout._valid_props.add(key)
        layout._subplotid_props.add(key)
        fig._layout[key] = deepcopy(value)
        # the axis object, as plotly builds it for a compound property: a view
        # that reads its properties from the layout's
        axis = layout._get_validator(key).data_class(_parent=layout, plotly_name=key)
        axis._plotly_name = key
        layout._compound_props[key] = axis
    # the one-column grid make_subplots records, so that row=/col= arguments
    # (fig.update_yaxes(..., row=2, col=1), add_vline(row="all")) keep working
    from plotly._subplots import SubplotRef

    rows = 1 + sum(1 for key in axes if key.startswith("x"))
    fig.__dict__["_grid_ref"] = [
        [[SubplotRef(subplot_type="xy", layout_keys=(f"xaxis{s}", f"yaxis{s}"),
                     trace_kwargs={"xaxis": f"x{s}", "yaxis": f"y{s}"})]]
        for s in ("" if r == 1 else str(r) for r in range(1, rows + 1))]


def _frame(spec: dict) -> go.Frame:
    """An unvalidated ``go.Frame`` whose ``frame.data[i]`` can still be read.

    ``go.Figure`` validates frames even with ``_validate=False`` (its frames
    validator takes no such flag), at the cost of validating every trace of
    every frame.  An unvalidated Frame keeps the spec as given (``to_dict``
    reads it from there), but plotly cannot build ``frame.data`` for it
    (the data validator has no ``data_class``), so the trace views it would
    have built are made here: each reads its properties from the frame.
    """
    from plotly.validator_cache import ValidatorCache

    frame = go.Frame(spec, _validate=False)
    traces = ValidatorCache.get_validator("", "data")
    frame._compound_array_props["data"] = [
        traces.get_trace_class(t.get("type", "scatter"))(_parent=frame)
        for t in frame._props.get("data", [])]
    return frame


@lru_cache(maxsize=None)
def _named_scale(name: str) -> tuple:
    from _plotly_utils.basevalidators import ColorscaleValidator

    return tuple(tuple(p) for p in ColorscaleValidator("colorscale", "heatmap").validate_coerce(name))


def colorscale(scale: Union[str, list]) -> list:
    """A colour scale as the ``[[position, colour], ...]`` list validation would make of it.

    Named scales (``"Viridis"``, ``"RdBu_r"``) are Python-side names: plotly.js
    knows only some of them and none with ``_r``, so validation expands them;
    unvalidated figures expand them here (once per name, then from a cache).
    """
    if isinstance(scale, str):
        return [list(p) for p in _named_scale(scale)]
    return scale


def axis_ids(row: int) -> tuple[str, str]:
    """The x and y axis ids of subplot row ``row`` (1-based): ``("x", "y")``, ``("x2", "y2")``..."""
    suffix = "" if row == 1 else str(row)
    return f"x{suffix}", f"y{suffix}"


def subplot_layout(rows: int, row_heights: Sequence[float], vertical_spacing: float,
                   shared_x: bool = True) -> dict:
    """The axes of ``make_subplots(rows, 1, shared_xaxes=shared_x, ...)``, as a layout dict.

    Row 1 is at the top.  Each row ``r`` gets ``xaxis{r}``/``yaxis{r}``
    anchored to each other (``xaxis``/``yaxis`` for row 1), with the
    vertical domains ``make_subplots`` computes: the rows share
    ``1 - vertical_spacing·(rows - 1)`` in proportion to ``row_heights``.
    With ``shared_x`` every x axis but the bottom one matches the bottom one
    and hides its tick labels.  A trace goes on row ``r`` with
    ``dict(zip(("xaxis", "yaxis"), axis_ids(r)))``.
    """
    if len(row_heights) != rows:
        raise ValueError(f"row_heights must have {rows} values, got {len(row_heights)}")
    total = float(sum(row_heights))
    heights = [(1.0 - vertical_spacing * (rows - 1)) * (h / total) for h in row_heights]
    layout: dict = {}
    bottom_x, _ = axis_ids(rows)
    top = 1.0
    # each row's bottom edge, summed from the bottom row up as make_subplots
    # sums it (so the domains are the same floats)
    up = heights[::-1]
    starts = [sum(up[:k]) + k * vertical_spacing for k in range(rows)][::-1]
    for r in range(1, rows + 1):
        x_id, y_id = axis_ids(r)
        lo = starts[r - 1]
        hi = min(lo + heights[r - 1], top)
        xaxis = {"anchor": y_id, "domain": [0.0, 1.0]}
        if shared_x and r != rows:
            xaxis.update(matches=bottom_x, showticklabels=False)
        layout[f"xaxis{'' if r == 1 else r}"] = xaxis
        layout[f"yaxis{'' if r == 1 else r}"] = {"anchor": x_id, "domain": [max(lo, 0.0), hi]}
    return layout
