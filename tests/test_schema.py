"""One schema: every control, group, sweep axis, B field and mystery slider derives from SimConfig.

The field metadata in ``rleaky_viz/config.py`` (and the surrogate registry in
``rleaky_viz/core/surrogate.py``) is the one place that knows a field's
group, label, widget, range, step, visibility and roles.  These tests prove
the derivation two ways: the schema is consistent (each derived view holds
what it should), and a scan of the code finds no list outside the schema that
names several fields (a copy that could drift from it).
"""
from __future__ import annotations

import ast
import math
from dataclasses import fields
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from rleaky_viz.config import (COMPARE_FIELDS, CONTROLS, DISTANCE_FIELDS, GROUPS, LEGACY_SURROGATE_PARAM,
                               MYSTERY_FIELDS, SURROGATE_FIELDS, SWEEPABLE, SimConfig, control,
                               field_spec, fields_in)
from rleaky_viz.core.surrogate import REGISTRY, SURROGATES, make_surrogate
from rleaky_viz.mystery import MYSTERY_RANGES, guess_slider
from rleaky_viz.navigation import PAGES
from rleaky_viz.ui.classroom import CONTROL_GROUPS, parse_classroom

ROOT = Path(__file__).resolve().parent.parent
NAMES = {f.name for f in fields(SimConfig)}
MARKER = "not config fields"


# ----------------------------------------------------------------------------- the scan
def _acceptable(name: str, value) -> bool:
    """A config value (a preset, a pinned setting) or a narrowing of a field's choices."""
    try:
        SimConfig(**{name: value})
        return True
    except (ValueError, TypeError):
        pass
    choices = field_spec(name)["choices"]
    return bool(choices) and isinstance(value, (tuple, list)) and bool(value) \
        and all(v in choices for v in value)


def field_lists(source: str) -> list[tuple[int, list[str]]]:
    """(line, names) of each literal in ``source`` that names several config fields.

    A tuple, list or set with two or more field names is one; so is a dict
    whose keys are mostly field names when any of their values is not a
    value of that field (labels, ranges, symbols: knowledge about fields,
    where a preset's values are settings).  Not counted: the ``choices=`` and
    ``fixed=`` arguments (a page narrowing or pinning a setting), and lines
    that say why their names are not config fields (``# ... not config fields``).
    """
    tree = ast.parse(source)
    lines = source.splitlines()
    exempt = {id(kw.value) for node in ast.walk(tree) if isinstance(node, ast.Call)
              for kw in node.keywords if kw.arg in ("choices", "fixed")}
    found = []
    for node in ast.walk(tree):
        if MARKER in lines[node.lineno - 1] if hasattr(node, "lineno") else False:
            continue
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            names = [e.value for e in node.elts if isinstance(e, ast.Constant) and e.value in NAMES]
            if len(names) >= 2:
                found.append((node.lineno, names))
        elif isinstance(node, ast.Dict) and id(node) not in exempt:
            pairs = [(k.value, v) for k, v in zip(node.keys, node.values)
                     if isinstance(k, ast.Constant) and k.value in NAMES]
            if len(pairs) < 2 or 2 * len(pairs) < len(node.keys):
                continue
            for name, value in pairs:
                try:
                    literal = ast.literal_eval(value)
                except ValueError:
                    found.append((node.lineno, [n for n, _ in pairs]))
                    break
                if not _acceptable(name, literal):
                    found.append((node.lineno, [n for n, _ in pairs]))
                    break
    return found


def scanned_files() -> list[Path]:
    package = ROOT / "rleaky_viz"
    files = [p for p in package.rglob("*.py")
             if p != package / "config.py" and (package / "core") not in p.parents]
    return sorted(files) + sorted((ROOT / "pages").glob("*.py")) + [ROOT / "app.py"]


def test_no_list_outside_the_schema_names_fields():
    found = [f"{path.relative_to(ROOT)}:{line}: {names}"
             for path in scanned_files() for line, names in field_lists(path.read_text())]
    assert not found, "field knowledge outside the schema (derive it from config):\n" + "\n".join(found)


@pytest.mark.parametrize("source, expected", [
    ("FIELDS = ('beta', 'threshold')", 1),
    ("LABELS = {'beta': 'β (decay)', 'threshold': 'θ'}", 1),
    ("RANGES = {'beta': (0.0, 1.0, 0.01), 'V': (-2.0, 2.0, 0.05)}", 1),
    ("for name in ['amplitude', 'offset']: pass", 1),
    ("GRID = {'beta': values(), 'amplitude': more()}", 1),
    ("PRESET = {'beta': 0.8, 'threshold': 1.5, 'reset_mechanism': 'zero'}", 0),
    ("sidebar(page, groups, choices={'recurrence': ('none', 'linear'), 'stimulus': ('step',)})", 0),
    ("COLORS = {'threshold': '#D55E00', 'rate': 'blue', 'input': 'x', 'leak': 'y', 'spikes': 'z'}", 0),
    ("x = cfg.beta + getattr(cfg, 'threshold')", 0),
    ("KEYS = ('recurrent.weight', 'beta', 'V')  # state-dict keys, not config fields", 0),
])
def test_the_scan_finds_field_lists(source, expected):
    assert len(field_lists(source)) == expected, source


def test_the_core_does_not_read_the_config():
    # the scan leaves out the core: its names are the neuron's own (snnTorch's)
    for path in (ROOT / "rleaky_viz" / "core").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").endswith("config"), path


# ----------------------------------------------------------------------------- the schema
def test_every_field_has_a_group_and_a_consistent_control():
    assert set(fields_in(*GROUPS)) == NAMES
    for group in GROUPS:
        assert fields_in(group), group
    for name in NAMES:
        c, spec = control(name), field_spec(name)
        assert c.group in GROUPS and c.control in CONTROLS and c.label and c.help, name
        if c.control in ("slider", "number"):
            # the widget offers only what the config accepts, and starts inside it
            assert spec["lo"] <= c.lo < c.hi <= spec["hi"], name
            assert c.step is None or 0 < c.step <= c.hi - c.lo, name
            assert c.lo <= c.default <= c.hi, name
            assert isinstance(c.lo, int) == c.integer or not c.integer, name
        if c.control == "select":
            assert c.default in c.choices, name


def test_sweep_compare_mystery_and_distance_roles():
    for name in SWEEPABLE:
        c, (lo, hi) = control(name), field_spec(name)["sweep"]
        assert c.control == "slider" and c.lo <= lo < hi <= c.hi, name
    assert set(COMPARE_FIELDS) <= NAMES and len(COMPARE_FIELDS) <= 8  # two rows of four controls
    for name, (lo, hi, start) in MYSTERY_FIELDS.items():
        c = control(name)
        slider = guess_slider(name)
        assert c.lo <= slider[0] <= lo < hi <= slider[1] <= c.hi, name
        assert slider[0] <= start <= slider[1] and slider[2] == c.step, name
        # the hidden values lie on the slider's grid, so a perfect guess is reachable
        for end in (lo, hi, start):
            k = (end - slider[0]) / c.step
            assert abs(k - round(k)) < 1e-6, (name, end)
        assert MYSTERY_RANGES[name] == (lo, hi, c.step)
    for name, values in DISTANCE_FIELDS.items():
        spec = field_spec(name)
        assert values and all(spec["lo"] <= v <= spec["hi"] for v in values), name


def test_classroom_groups_are_the_schema_groups():
    assert {g.lower() for g in GROUPS} == set(CONTROL_GROUPS)
    for group in GROUPS:
        assert CONTROL_GROUPS[group.lower()] == fields_in(group)


# ----------------------------------------------------------------------------- surrogates
def test_each_surrogate_parameter_is_its_own_field():
    assert set(SURROGATE_FIELDS) == set(REGISTRY)
    for surrogate, info in REGISTRY.items():
        assert SURROGATE_FIELDS[surrogate] == tuple(f"{surrogate}_{p.name}" for p in info.params)
        assert SURROGATES[surrogate] == {p.name: p.default for p in info.params}
        for p in info.params:
            name = f"{surrogate}_{p.name}"
            spec = field_spec(name)
            assert spec["default"] == p.default and (spec["lo"], spec["hi"]) == (p.lo, p.hi)
            assert control(name).control == "number" and (control(name).lo, control(name).hi) == p.widget[:2]
            # shown (and used) exactly when its surrogate is chosen
            for other in REGISTRY:
                assert SimConfig(surrogate=other).is_used(name) == (other == surrogate), (name, other)
    surrogate_names = {n for names in SURROGATE_FIELDS.values() for n in names}
    assert surrogate_names <= set(fields_in("Neuron"))


def test_a_parameter_reaches_the_run_and_differs_only_from_its_default():
    cfg = SimConfig(surrogate="SSO", SSO_mean=0.25)
    assert cfg.surrogate_params == {"mean": 0.25}
    assert make_surrogate(cfg.surrogate, cfg.surrogate_params).params == {"mean": 0.25, "variance": 0.2}
    assert SimConfig(surrogate="atan").surrogate_params == {}
    # another surrogate's parameter is not this run's: links drop it
    assert SimConfig.from_query({"surrogate": "atan", "SSO_mean": "0.25"}) == SimConfig()
    with pytest.raises(ValueError, match="fast_sigmoid_slope"):
        SimConfig(surrogate="fast_sigmoid", fast_sigmoid_slope=1e6)


@pytest.mark.parametrize("surrogate, value, field", [
    ("atan", "3.5", "atan_alpha"), ("fast_sigmoid", "10", "fast_sigmoid_slope"),
    ("spike_rate_escape", "12", "spike_rate_escape_slope"), ("SSO", "0.5", "SSO_variance"),
    ("SFS", "30", "SFS_slope"), ("LSO", "0.3", "LSO_slope"),
])
def test_the_legacy_surrogate_param_link_key_still_reads(surrogate, value, field):
    query = {"surrogate": surrogate, LEGACY_SURROGATE_PARAM: value}
    cfg = SimConfig.from_query(query)
    assert getattr(cfg, field) == float(value)
    assert LEGACY_SURROGATE_PARAM not in cfg.to_query() and cfg.to_query()[field] == f"{float(value)}"
    old = {"surrogate": surrogate, LEGACY_SURROGATE_PARAM: float(value)}
    assert SimConfig.from_dict(old) == cfg  # a config JSON written before the change
    assert SimConfig.from_dict({LEGACY_SURROGATE_PARAM: None}) == SimConfig()


def test_a_bad_legacy_value_is_named_and_the_rest_of_the_link_kept():
    errors: list = []
    cfg = SimConfig.from_query({"surrogate": "atan", LEGACY_SURROGATE_PARAM: "1e9", "beta": "0.5"},
                               errors=errors)
    assert cfg.beta == 0.5 and cfg.atan_alpha == 2.0
    assert len(errors) == 1 and errors[0].startswith(LEGACY_SURROGATE_PARAM) and "atan_alpha" in errors[0]
    # surrogates without parameters ignore it, as before
    assert SimConfig.from_query({"surrogate": "heaviside", LEGACY_SURROGATE_PARAM: "3"}) == \
        SimConfig(surrogate="heaviside")


def test_a_lesson_naming_the_legacy_control_shows_the_surrogate_parameters():
    room, errors = parse_classroom({"lesson_controls": f"beta,{LEGACY_SURROGATE_PARAM}"})
    assert not errors and "beta" in room.controls and "SSO_variance" in room.controls


# ----------------------------------------------------------------------------- the sidebar
def _sidebar_keys(at) -> list[str]:
    keys = []
    for kind in ("slider", "number_input", "selectbox", "checkbox", "text_input"):
        keys += [w.key for w in at.sidebar.get(kind) if w.key in NAMES]
    return keys


@pytest.mark.parametrize("surrogate", [s for s, info in REGISTRY.items() if info.params])
def test_the_sidebar_shows_the_chosen_surrogates_own_parameters(surrogate):
    at = AppTest.from_file(str(ROOT / PAGES["neuron"].file), default_timeout=60)
    at.query_params.update({"surrogate": surrogate, "num_steps": "20"})
    at.run()
    assert not at.exception
    keys = _sidebar_keys(at)
    shown = [k for k in keys if any(k in names for names in SURROGATE_FIELDS.values())]
    assert shown == list(SURROGATE_FIELDS[surrogate])
    # each is drawn from its schema entry: label and range from the registry
    for name in shown:
        w = at.number_input(key=name)
        assert w.label == control(name).label and (w.min, w.max) == (control(name).lo, control(name).hi)
    first = SURROGATE_FIELDS[surrogate][0]
    value = control(first).lo + control(first).step
    at.number_input(key=first).set_value(value).run()
    assert not at.exception
    assert at.query_params[first] == [f"{value}"] or at.query_params[first] == f"{value}"


def test_the_sidebar_draws_the_groups_a_page_asks_for_in_schema_order():
    at = AppTest.from_file(str(ROOT / PAGES["gradients"].file), default_timeout=60)
    at.query_params["num_steps"] = "20"
    at.run()
    assert not at.exception
    keys = _sidebar_keys(at)
    assert {"loss", "learn_beta", "beta", "amplitude", "num_steps"} <= set(keys)
    for kind in ("slider", "number_input", "selectbox", "checkbox"):
        drawn = [w.key for w in at.sidebar.get(kind) if w.key in NAMES]
        assert drawn == [n for n in fields_in(*GROUPS) if n in drawn], kind
    assert [e.label for e in at.sidebar.expander] == [g for g in GROUPS
                                                      if any(control(k).group == g for k in keys)]


def test_a_control_appears_only_where_its_field_is_used():
    at = AppTest.from_file(str(ROOT / PAGES["neuron"].file), default_timeout=60)
    at.query_params.update({"recurrence": "none", "stimulus": "pulse", "num_steps": "20"})
    at.run()
    cfg = SimConfig(recurrence="none", stimulus="pulse", num_steps=20)
    keys = set(_sidebar_keys(at))
    assert "V" not in keys and {"period", "width"} <= keys and "onset" not in keys
    assert all(cfg.is_used(k) for k in keys)
