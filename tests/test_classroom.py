"""Classroom mode: ?present and ?lesson_controls, the time cursor, the Lesson page, colours and themes."""
import json
import re

import numpy as np
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from _apptest import app, charts, decode, figures

from rleaky_viz import PRESETS, SimConfig, simulate
from rleaky_viz import figures as F
from rleaky_viz.figures.style import OKABE_ITO
from rleaky_viz.lessons import LESSON_NOTES, lesson_presets
from rleaky_viz.ui.classroom import CONTROL_GROUPS, Classroom, parse_classroom
from rleaky_viz.ui.present import PRESENT_FONT
from rleaky_viz.ui.time_cursor import freeze_ranges, upto

CONFIG_KEYS = set(SimConfig().to_dict())





def named(fig: dict, name: str) -> dict:
    return next(t for t in fig["data"] if t.get("name") == name)


def config_widgets(at: AppTest) -> set[str]:
    """Keys of the sidebar's config widgets that are drawn."""
    keys = set()
    for kind in ("slider", "selectbox", "checkbox", "number_input", "text_input"):
        keys |= {w.key for w in at.get(kind) if w.key in CONFIG_KEYS}
    return keys


# ----------------------------------------------------------------------------- the flags
def test_parse_present_and_lesson_controls():
    room, errors = parse_classroom({"present": "1", "lesson_controls": "beta, threshold"})
    assert room == Classroom(True, ("beta", "threshold")) and errors == []
    assert room.query() == {"present": "1", "lesson_controls": "beta,threshold"}
    assert room.shows("beta") and not room.shows("amplitude")

    # a group name stands for its fields; an absent flag keeps what was given before
    room, errors = parse_classroom({"lesson_controls": "stimulus,beta"}, previous=room)
    assert room.present and room.controls == CONTROL_GROUPS["stimulus"] + ("beta",)
    room, _ = parse_classroom({"present": "0", "lesson_controls": "all"}, previous=room)
    assert room == Classroom() and room.query() == {}


def test_bad_flags_are_reported_and_leave_the_flag_as_it_was():
    before = Classroom(True, ("beta",))
    room, errors = parse_classroom({"present": "loud", "lesson_controls": "beta,bogus,Theta"},
                                   previous=before)
    assert room == before
    assert errors[0].startswith("present: use 1 (on) or 0 (off)")
    assert "'bogus', 'Theta'" in errors[1] and "lesson_controls" in errors[1]
    room, errors = parse_classroom({"lesson_controls": "bogus"})
    assert room.controls is None and len(errors) == 1


def test_lesson_controls_reduce_the_sidebar_and_fix_the_rest():
    at = app("pages/1_Neuron_explorer.py",
             {"lesson_controls": "beta,threshold", "amplitude": "0.6", "num_steps": "40"})
    assert not at.exception
    assert config_widgets(at) == {"beta", "threshold"}
    assert any("Lesson mode" in c.value for c in at.sidebar.caption)
    fig = figures(at)[0]
    assert np.allclose(decode(named(fig, "input")["y"]), 0.6)  # fixed by the link, not shown
    assert len(decode(named(fig, "membrane")["y"])) == 40
    # a lesson control still works, and the link keeps both the flag and the fixed values
    at.slider(key="beta").set_value(0.5).run()
    assert dict(at.query_params) == {"beta": "0.5", "amplitude": "0.6", "num_steps": "40",
                                     "lesson_controls": "beta,threshold"}


def test_lesson_controls_group_and_unknown_names():
    at = app("pages/1_Neuron_explorer.py", {"lesson_controls": "stimulus,bogus"})
    assert not at.exception
    shown = config_widgets(at)
    assert "stimulus" in shown and "amplitude" in shown and "beta" not in shown
    assert any("unknown control(s) 'bogus'" in w.value for w in at.sidebar.warning)


def _presentation_css(at) -> list:
    # every page also carries the accessibility styles (ui.motion); these are presentation's
    return [h for h in at.get("html") if "font-size: 22px" in h.proto.body]


def test_flags_last_the_session_across_pages_and_can_be_turned_off():
    at = app("app.py", {"present": "1", "lesson_controls": "beta"})
    assert len(_presentation_css(at)) == 1
    at.switch_page("pages/2_Population.py").run()  # the query is gone; the session remembers
    assert not at.exception
    assert config_widgets(at) == {"beta"}
    assert len(_presentation_css(at)) == 1
    assert at.query_params["present"] == "1" and at.query_params["lesson_controls"] == "beta"
    fig = figures(at)[0]
    assert fig["layout"]["font"]["size"] == PRESENT_FONT

    at = app("pages/2_Population.py", {"present": "0", "lesson_controls": "all"})
    assert len(_presentation_css(at)) == 0 and "beta" in config_widgets(at)
    assert "font" not in figures(at)[0]["layout"]
    assert "present" not in at.query_params


def test_present_enlarges_chart_type_without_touching_the_export():
    at = app("pages/1_Neuron_explorer.py", {"present": "1", "num_steps": "30"})
    assert not at.exception
    for fig in figures(at):
        assert fig["layout"]["font"]["size"] == PRESENT_FONT
    html = next(b for b in at.get("download_button") if b.proto.label == "Figure HTML")
    assert html is not None  # the export is the original figure (present_figure copies)


# ----------------------------------------------------------------------------- the time cursor
def test_upto_and_freeze_ranges():
    trace = simulate(SimConfig(num_steps=50, amplitude=0.4))
    part = upto(trace, 9)
    assert part.num_steps == 10 and part.spk.shape[1:] == trace.spk.shape[1:]
    assert (part.mem == trace.mem[:10]).all()
    with pytest.raises(ValueError, match="t must be from 0 to 49"):
        upto(trace, 50)
    full = F.breakdown_figure(trace)
    frozen = freeze_ranges(F.breakdown_figure(part), full, trace.num_steps)
    assert list(frozen.layout.xaxis.range) == [-0.5, 49.5]
    lo, hi = frozen.layout.yaxis.range
    stacked = np.sum([np.clip(np.asarray(t.y), 0, None) for t in full.data if t.type == "bar"], axis=0)
    assert hi >= stacked.max() and lo <= 0


def test_time_cursor_step_reset_play():
    at = app("pages/1_Neuron_explorer.py", {"num_steps": "25", "amplitude": "0.4"})
    cursor = at.slider(key="explorer_t")
    assert cursor.value == 24 and cursor.label == "show up to step t"
    full_mem = decode(named(figures(at)[0], "membrane")["y"])
    assert len(full_mem) == 25

    at.button(key="explorer_t_reset").click().run()
    assert at.slider(key="explorer_t").value == 0
    at.button(key="explorer_t_step").click().run()
    at.button(key="explorer_t_step").click().run()
    assert at.slider(key="explorer_t").value == 2
    main, breakdown = figures(at)[:2]
    assert np.array_equal(decode(named(main, "membrane")["y"]), full_mem[:3])
    assert main["layout"]["xaxis"]["range"] == [-0.5, 24.5]  # the axis keeps the whole run
    assert main["layout"]["yaxis2"]["autorange"] is False
    assert len(decode(named(breakdown, "membrane")["y"])) == 3

    at.button(key="explorer_t_play").click().run()  # plays to the end, one rerun per frame
    assert not at.exception
    assert at.slider(key="explorer_t").value == 24
    assert at.button(key="explorer_t_play").label == "▶ Play"
    assert len(decode(named(figures(at)[0], "membrane")["y"])) == 25
    assert at.button(key="explorer_t_step").disabled


def test_time_cursor_follows_changes_of_the_run_length():
    at = app("pages/1_Neuron_explorer.py", {"num_steps": "30"})
    at.slider(key="explorer_t").set_value(10).run()
    at.number_input(key="num_steps").set_value(50).run()
    assert at.slider(key="explorer_t").value == 10  # kept where it was
    at.number_input(key="num_steps").set_value(8).run()
    assert at.slider(key="explorer_t").value == 7  # clamped to the new end
    at.number_input(key="num_steps").set_value(60).run()
    assert at.slider(key="explorer_t").value == 59  # it was at the end: it stays there


# ----------------------------------------------------------------------------- the lesson
def test_lesson_covers_every_preset_once():
    names = [p.name for p in lesson_presets()]
    assert sorted(names) == sorted(PRESETS) and len(names) == len(set(names))
    assert set(LESSON_NOTES) <= set(PRESETS)


def test_lesson_steps_through_every_preset_with_its_chart():
    at = app("app.py")
    at.switch_page("pages/10_Lesson.py").run()
    assert not at.exception
    assert at.button(key="lesson_prev").disabled
    seen = []
    for i, preset in enumerate(lesson_presets()):
        if i:
            at.button(key="lesson_next").click().run()
        assert not at.exception and not at.error
        assert at.title[0].value == f"{i + 1}. {preset.title}"
        assert at.query_params["step"] == preset.name
        assert any(preset.idea[:40] in m.value for m in at.markdown)
        charts = figures(at)
        assert len(charts) == 1
        kind = {"neuron": "Neuron 0", "population": "Spike raster", "conv": ""}[preset.page]
        assert kind in charts[0]["layout"]["title"]["text"]
        assert any(preset.url() in m.value for m in at.markdown)  # the link to open it
        seen.append(preset.name)
    assert at.button(key="lesson_next").disabled
    assert seen == [p.name for p in lesson_presets()]
    at.button(key="lesson_prev").click().run()
    assert at.title[0].value.startswith(f"{len(seen) - 1}. ")


def test_lesson_link_opens_a_step_and_the_button_opens_the_explorer():
    at = app("app.py")
    at.query_params["step"] = "winner_take_all"
    at.switch_page("pages/10_Lesson.py").run()
    assert at.title[0].value.endswith("Winner-take-all inhibition")
    at.button(key="lesson_open").click().run()
    assert not at.exception
    assert at.title[0].value == "Population"
    cfg = PRESETS["winner_take_all"].config
    assert at.checkbox(key="inhibition").value is True
    assert at.number_input(key="num_neurons").value == cfg.num_neurons
    at.switch_page("pages/10_Lesson.py").run()  # coming back: where the lesson was left
    assert at.title[0].value.endswith("Winner-take-all inhibition")


def test_lesson_time_cursor_and_jump():
    at = app("pages/10_Lesson.py", {"step": "strict_threshold"})
    at.button(key="lesson_t_reset").click().run()
    at.button(key="lesson_t_step").click().run()
    assert len(decode(named(figures(at)[0], "membrane")["y"])) == 2
    at.selectbox(key="lesson_step").set_value(0).run()  # jump: the next preset shows its whole run
    assert at.title[0].value == "1. Tonic spiking"
    assert len(decode(named(figures(at)[0], "membrane")["y"])) == PRESETS["tonic"].config.num_steps


# ----------------------------------------------------------------------------- colours and themes
_OKABE = {c.lower() for c in OKABE_ITO.values()}
_NEUTRAL = {"#7f7f7f", "white"}


def _rgb(colour: str) -> str:
    m = re.fullmatch(r"rgba?\((\d+),\s*(\d+),\s*(\d+)(?:,\s*[\d.]+)?\)", colour.replace(" ", ""))
    return "#%02x%02x%02x" % tuple(int(v) for v in m.groups()) if m else colour.lower()


def _colours(fig: go.Figure) -> set[str]:
    found = set()
    for trace in fig.data:
        for part in ("line", "marker"):
            obj = getattr(trace, part, None)
            colour = getattr(obj, "color", None) if obj is not None else None
            if isinstance(colour, str):
                found.add(_rgb(colour))
            line = getattr(obj, "line", None) if part == "marker" and obj is not None else None
            if line is not None and isinstance(line.color, str):
                found.add(_rgb(line.color))
    return found


def test_line_colours_are_okabe_ito():
    trace = simulate(SimConfig(recurrence="linear", num_neurons=6, num_steps=60, amplitude=0.5))
    for fig in (F.neuron_figure(trace), F.breakdown_figure(trace), F.traces_figure(trace, range(6)),
                F.rate_figure(trace)):
        assert _colours(fig) <= _OKABE | _NEUTRAL, fig.layout.title.text


@pytest.mark.parametrize("file", ["pages/1_Neuron_explorer.py", "pages/2_Population.py",
                                  "pages/3_Conv_grid.py", "pages/10_Lesson.py"])
def test_charts_follow_the_app_theme(file):
    """Every chart uses Streamlit's theme (light or dark) and sets no background of its own."""
    at = app(file, {"num_steps": "30"})
    assert not at.exception
    for el in charts(at):
        assert el.theme == "streamlit"
        layout = el.spec["layout"]
        assert "paper_bgcolor" not in layout and "plot_bgcolor" not in layout
