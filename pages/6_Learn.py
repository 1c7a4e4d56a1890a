"""Learn: train beta, threshold and the recurrent weights with surrogate gradients."""
import streamlit as st

from rleaky_viz.figures import loss_curve_figure, param_trajectory_figure, raster_figure
from rleaky_viz.config import control
from rleaky_viz.learn import TEACHER_START, TrainSettings
from rleaky_viz.navigation import PAGES
from rleaky_viz.describe import describe_losses, describe_params, describe_population
from rleaky_viz.statistics import spike_words
from rleaky_viz.ui import (run_or_stop, run_simulation,
                           setup_page, sidebar)
from rleaky_viz.ui.charts import chart
from rleaky_viz.ui.motion import reduced_motion
from rleaky_viz.ui.runner import run_trained, run_training

PAGE = PAGES["learn"]
setup_page("Learn", "🎯")
cfg = sidebar(PAGE, ("Learning", "Neuron", "Network", "Stimulus", "Run"),
              choices={"recurrence": ("linear", "one_to_one", "none")}, title="Learn")

st.title("Learn")
st.markdown("Gradient descent (Adam) on the parameters whose `learn_*` flag is on, with the "
            "surrogate gradient standing in for the spike's derivative. Same seed, same result.")

left, mid, right = st.columns(3)
target = left.selectbox("target", ("rate", "spike_train"), key="learn_target",
                        format_func={"rate": "firing rate per neuron",
                                     "spike_train": "a teacher's spike train"}.get)
if target == "rate":
    rate = mid.slider("target rate (spikes / step)", 0.0, 1.0, 0.1, 0.01, key="learn_rate")
    teacher = {}
else:
    rate = 0.1
    teacher = {}
    for name, start in TEACHER_START.items():
        c = control(name)
        teacher[name] = mid.slider(f"teacher {c.symbol}", c.lo, c.hi, start, c.step,
                                   key=f"learn_teacher_{name}")
    st.caption(f"The teacher is the same network with these {' and '.join(control(n).symbol for n in teacher)}; "
               "the loss compares both "
               "spike trains after smoothing them with a 5-step exponential kernel.")
epochs = right.number_input("epochs", 1, 500, 60, key="learn_epochs")
lr = right.number_input("learning rate", 0.0001, 1.0, 0.02, format="%.4f", key="learn_lr")

settings = TrainSettings(cfg, target, float(rate), tuple(sorted(teacher.items())), int(epochs),
                         float(lr))
buttons = st.columns([1, 1, 4])
start = buttons[0].button("Train", type="primary", key="learn_train")
buttons[1].button("Stop", key="learn_stop",
                  help="Stops (pauses) training after the current epoch; the network and curves of "
                       "the epochs done so far are kept and shown. Train starts again from the start.")

if start:
    progress = st.progress(0.0, text="Training…")
    live = st.empty()  # the loss so far, redrawn every 5 epochs (not under reduced motion)
    still = reduced_motion()

    def on_epoch(epoch, result):
        st.session_state["learn_result"] = (settings, result)
        progress.progress((epoch + 1) / settings.epochs,
                          text=f"Epoch {epoch + 1} of {settings.epochs}: loss {result.losses[-1]:.4g}")
        if not still and (epoch % 5 == 0 or epoch + 1 == settings.epochs):
            with live.container():
                chart(loss_curve_figure(result.losses), f"learn_live_{epoch}",
                      describe_losses(result.losses))
        return True

    result = run_or_stop(lambda: run_training(cfg, **settings.options(), on_epoch=on_epoch),
                         PAGE.url(cfg), expected=(ValueError,))
    st.session_state["learn_result"] = (settings, result)
    progress.empty()
    live.empty()

saved = st.session_state.get("learn_result")
trained = saved[0] if saved is not None else settings
before = run_or_stop(lambda: run_simulation(trained.config), PAGE.url(cfg))  # cached
teacher_run = (run_or_stop(lambda: run_simulation(trained.teacher_config), PAGE.url(cfg))
               if trained.target == "spike_train" else None)

if saved is None:
    st.info("Press **Train** to start. Below: the network as it is now, and what it should learn.")
else:
    result = saved[1]
    if trained != settings:
        st.info("The settings changed since the last training: press **Train** to train again. "
                "Below is the last result.")
    if len(result.losses) < trained.epochs and not start:
        st.warning(f"Stopped after {len(result.losses)} of {trained.epochs} epochs.")
    m = st.columns(3)
    m[0].metric("loss: first epoch", f"{result.losses[0]:.4g}")
    m[1].metric("loss: last epoch", f"{result.losses[-1]:.4g}",
                delta=f"{result.losses[-1] - result.losses[0]:.3g}", delta_color="inverse")
    m[2].metric("epochs", len(result.losses))
    chart(loss_curve_figure(result.losses), "learn_loss", describe_losses(result.losses))
    chart(param_trajectory_figure(result.params), "learn_params", describe_params(result.params))

left, right = st.columns(2)
chart(raster_figure(before), "learn_before", describe_population(before), where=left)
left.caption(f"Before training: {spike_words(before)}.")
if saved is not None and saved[1].state_dict:
    after = run_or_stop(lambda: run_trained(trained.config, saved[1].state_dict), PAGE.url(cfg))
    chart(raster_figure(after), "learn_after", describe_population(after), where=right)
    right.caption(f"After training ({len(saved[1].losses)} epochs): {spike_words(after)}.")
elif trained.target == "rate":
    right.markdown(f"**Target:** {trained.target_rate:g} spikes per step for every neuron "
                   f"({trained.target_rate * trained.config.num_steps:g} spikes each in "
                   f"{trained.config.num_steps} steps).")
if teacher_run is not None:
    chart(raster_figure(teacher_run), "learn_teacher", describe_population(teacher_run))
    st.caption(f"The teacher's spikes (the target): {spike_words(teacher_run)}.")
st.markdown(f"Link to this configuration: `{PAGE.url(cfg)}`")
