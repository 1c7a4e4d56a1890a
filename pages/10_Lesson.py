"""Lesson: the presets one at a time, each with what to look for and a question for the class."""
import streamlit as st

from rleaky_viz.figures import conv_frames_figure, main_figure_kind, neuron_figure, raster_figure
from rleaky_viz.navigation import PAGES
from rleaky_viz.ui import (apply_config, run_or_stop, run_simulation, setup_page)
from rleaky_viz.ui.panels import plain
from rleaky_viz.lessons import LESSON_NOTES, lesson_presets
from rleaky_viz.ui.classroom import classroom, classroom_errors
from rleaky_viz.config import LIVE_FIELDS
from rleaky_viz.describe import describe_conv_frames, describe_population, describe_trace
from rleaky_viz.ui.charts import chart
from rleaky_viz.ui.live import live_chart
from rleaky_viz.ui.motion import still_figure
from rleaky_viz.ui.present import present_figure
from rleaky_viz.ui.url import UrlSection
from rleaky_viz.ui.time_cursor import (advance_time_cursor, freeze_ranges, reset_time_cursor, time_cursor,
                                       upto)

setup_page("Lesson", "🎓")
lessons = lesson_presets()
names = [p.name for p in lessons]
if "lesson_step" not in st.session_state:
    # arrival: the step in the link (?step=tonic), else where this session left the lesson
    wanted = st.query_params.get("step")
    st.session_state["lesson_step"] = (names.index(wanted) if wanted in names
                                       else min(st.session_state.get("_lesson_at", 0), len(names) - 1))


def go_to(index: int) -> None:
    st.session_state["lesson_step"] = min(max(0, index), len(lessons) - 1)
    reset_time_cursor("lesson")  # each preset starts with its whole run shown


i = st.session_state["_lesson_at"] = st.session_state["lesson_step"]
nav = st.columns([1, 4, 1], vertical_alignment="bottom")
nav[0].button("← Previous", key="lesson_prev", on_click=go_to, args=(i - 1,), disabled=i == 0,
              width="stretch")
nav[1].selectbox("Step", range(len(lessons)), key="lesson_step", label_visibility="collapsed",
                 format_func=lambda j: f"{j + 1} of {len(lessons)}: {lessons[j].title}",
                 on_change=lambda: go_to(st.session_state["lesson_step"]))
nav[2].button("Next →", key="lesson_next", on_click=go_to, args=(i + 1,),
              disabled=i == len(lessons) - 1, width="stretch")
for problem in classroom_errors():
    st.warning(plain(problem))

preset = lessons[i]
page = PAGES[preset.page]
# what the class changed with the live controls, kept in the link (?step=tonic&beta=0.8)
tweaks = UrlSection(f"_lesson_live:{preset.name}", "", LIVE_FIELDS)
if not st.session_state.get("_lesson_tweaks_read"):
    st.session_state["_lesson_tweaks_read"] = True
    for problem in tweaks.load({k: st.query_params.get(k) for k in st.query_params.keys()}):
        st.warning(plain(problem))
try:
    cfg = preset.config.replace(**tweaks.values())
except ValueError as e:
    st.warning(plain(f"the link's changes were not applied: {e}"))
    tweaks.set({})
    cfg = preset.config
st.query_params.from_dict({"step": preset.name, **classroom().query(), **tweaks.query()})
st.title(f"{i + 1}. {preset.title}")
st.markdown(preset.idea)
look, ask = LESSON_NOTES.get(preset.name, (None, None))
if look:
    st.markdown(f"**Look for:** {look}")

trace = run_or_stop(lambda: run_simulation(cfg), preset.url())

kind = main_figure_kind(cfg)  # the CLI's `figure --kind auto` draws the same
live = False
if kind == "conv":
    fig, alt = still_figure(conv_frames_figure(trace)), describe_conv_frames(trace)
elif kind == "raster":
    fig, alt = raster_figure(trace), describe_population(trace)
else:
    fig, alt = neuron_figure(trace), describe_trace(trace)
    t = time_cursor(trace.num_steps, key="lesson")
    if t < trace.num_steps - 1:
        fig = freeze_ranges(neuron_figure(upto(trace, t)), fig, trace.num_steps)
        alt = f"Up to step {t}. " + describe_trace(upto(trace, t))
    else:  # drag β, θ, V or the input: the chart follows; a release keeps the change here
        live = live_chart(page, cfg, trace, key="lesson_live", fig=present_figure(fig), alt=alt,
                          on_release=lambda name, value: tweaks.update(name, value, preset.config))
if not live:
    chart(present_figure(fig), "lesson_chart", alt)
if tweaks.values():
    changed = " · ".join(f"`{k} = {v}`" for k, v in tweaks.values().items())
    st.caption(f"Changed from the preset: {changed}. The notes on this page describe the "
               "preset's own setting.")
    st.button("Back to the preset", key="lesson_untweak", on_click=tweaks.set, args=({},))
if ask:
    st.info(f"**Ask the class:** {ask}", icon="❓")

# every field that differs from the library defaults: the preset's changes and its page's defaults
settings = " · ".join(f"`{k} = {v}`" for k, v in cfg.to_query().items())
st.caption(f"Settings (all that differ from the defaults): {settings}")
where = page.path.replace("_", " ")
if st.button(f"Open in the {where} →", key="lesson_open", type="primary"):
    apply_config(cfg, page)
    st.switch_page(preset.page_file)
st.markdown(f"Link to this preset in the {where}: [{preset.url()}]({preset.url()})")
if kind == "neuron":
    advance_time_cursor(trace.num_steps, key="lesson")
