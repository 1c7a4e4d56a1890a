"""Page furniture shared by every page: set-up, notices, errors, share link, exports."""
from __future__ import annotations

import logging
import re
import os
import traceback
from typing import Callable, Optional, TypeVar, Union

import plotly.graph_objects as go
import streamlit as st
import torch

from ..config import SimConfig
from ..export import config_json, figure_html, snntorch_code, trace_csv, trace_parquet
from ..explain import odd_corners
from ..budget import MemoryBudgetError, check_budget, export_bytes
from ..nirgraph import NIRImportError, describe_import, export_refusal, nir_bytes, nir_export_bytes
from ..service import admit, digest, load_state_dict_bytes, open_nir, run_config, uses_state_dict
from ..simulate import Trace
from .motion import watch_motion
from .present import apply_presentation
from .runner import USER_ERRORS, run_simulation

T = TypeVar("T")

__all__ = ["plain", "setup_page", "notices_panel", "error_panel", "export_panel", "run_or_stop",
           "upload_widgets", "simulate_with_uploads", "nir_upload"]

_LOG = logging.getLogger("rleaky_viz")


@st.cache_resource
def _configure_torch() -> bool:
    # One intra-op thread per run (RLEAKY_VIZ_TORCH_THREADS to change): many
    # sessions share the cores, each run's per-step ops are small, and more
    # threads per run only add hand-offs and oversubscribe the cores under load
    # (measured: see the README, "Running it for a class").
    try:
        torch.set_num_threads(max(1, int(os.environ.get("RLEAKY_VIZ_TORCH_THREADS", "1"))))
    except (RuntimeError, ValueError):
        pass
    return True


def _leave_pages_folder_mode() -> None:
    """Run app.py's ``st.navigation`` even for a deep link that is the server's first visit.

    Until some session has run ``st.navigation`` since the server started, Streamlit
    serves a link such as ``/Lesson?...`` straight from ``pages/`` in its older
    multipage mode: the page runs, but the sidebar lists the files ("app", no sections,
    no icons).  The first page to see that mode ends it and reruns, so ``app.py``
    declares the pages and runs the linked one.
    """
    try:
        from streamlit.runtime import Runtime
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a Streamlit without it has no such mode
        return
    if not getattr(PagesManager, "uses_pages_directory", False) or not Runtime.exists():
        return
    if type(Runtime.instance()) is not Runtime:
        return  # AppTest's stand-in runtime, which sets that mode again before every run
    PagesManager.uses_pages_directory = False
    st.rerun()


def setup_page(title: str, icon: str = "⚡") -> None:
    _leave_pages_folder_mode()
    st.set_page_config(page_title=f"{title} · rleaky-viz", page_icon=icon, layout="wide")
    _configure_torch()
    apply_presentation()  # ?present=1: projector-sized type
    watch_motion()  # caption contrast, no animation under prefers-reduced-motion, and its report


def notices_panel(cfg: SimConfig, trace: Optional[Trace] = None,
                  spectral_radius: Optional[float] = None) -> None:
    if trace is not None:
        for notice in trace.notices:
            st.info(notice, icon="ℹ️")
    if trace is not None:  # a state dict's β, θ, V and g, where it set them, as the run had them
        cfg = run_config(cfg, trace) or cfg
    corners = odd_corners(cfg, trace, radius=spectral_radius)
    if corners:
        with st.expander(f"Odd corners of the reference in this setting ({len(corners)})",
                         expanded=False):
            for note in corners:
                st.markdown(f"- {note}")


# What can make Streamlit's markdown active: links and images ([...](...)), autolinks
# (<...>, bare http:// and www.), LaTeX ($...$), colour and badge directives (:red[...]).
_MARKDOWN_ACTIVE = set("\\[]$<>")


def plain(text: str) -> str:
    """``text`` shown as it is by Streamlit's markdown: no links, images, LaTeX or colours.

    Messages can quote what a user typed or a link carried; escaping the few
    characters that make markdown active keeps a value such as
    ``![](https://...)`` inert while the rest of the message reads as written.
    """
    out = "".join("\\" + c if c in _MARKDOWN_ACTIVE else c for c in str(text))
    out = out.replace("://", ":\\/\\/")
    return re.sub(r"(?i)(www)\.", r"\1\\.", out)


def error_panel(error: BaseException, link: str, expected: bool = False) -> None:
    """A friendly panel in place of a raw traceback: what failed and a link that reproduces it.

    ``expected`` errors (a bad upload or expression, a run over budget) are
    the user's to fix and show just their message.
    """
    if expected:
        st.error(plain(str(error)), icon="⚠️")
        return
    # the traceback goes to the server's log for whoever runs it, never to the page
    _LOG.error("run failed; reproduce with %s", link, exc_info=error)
    st.error(f"Something went wrong while running this configuration: "
             f"{type(error).__name__}: {plain(error)}. The rest of the app still works: change a "
             "setting or open another page.", icon="🛑")
    st.markdown(f"[Open the configuration that failed]({link}) (the link reproduces it: "
                f"`{link}`)")
    with st.expander("Details for a bug report"):
        st.code("".join(traceback.format_exception_only(type(error), error)), language="text")


def _export_refusal(trace: Trace, export: str) -> Optional[str]:
    """Why an export of ``trace`` would not fit the memory budget, or None if it fits."""
    try:
        check_budget(trace.config, "run", exports=(export,))
    except MemoryBudgetError as e:
        return (f"Too large to export here: {e}. The command line writes it with a budget of "
                "your own: rleaky-viz simulate --max-mb ...")
    return None


def export_panel(trace: Trace, fig: Union[go.Figure, Callable[[], go.Figure], None], name: str) -> None:
    """Download buttons: traces (CSV, Parquet), config (JSON), figure (HTML), snnTorch code,
    and the layer as a NIR graph (off, saying why, where NIR's LIF cannot hold the setting).

    ``fig`` may be a function that makes the figure: it is called only when
    the HTML is asked for (the live figure with its frames costs more to build).

    Each is made only when clicked, and offered only when the run plus that
    export fits the server's memory budget (otherwise the button is off and
    says why).
    """
    cols = st.columns(6)
    def admitted(export: str, make: Callable[[], T]) -> Callable[[], T]:
        # written when clicked, inside the server's memory gate like any run
        def write() -> T:
            with admit(export_bytes(trace.config, export)):
                return make()
        return write

    buttons = [
        (cols[0], "Traces CSV", "csv", admitted("csv", lambda: trace_csv(trace)), f"{name}.csv",
         "text/csv"),
        (cols[1], "Traces Parquet", "parquet", admitted("parquet", lambda: trace_parquet(trace)),
         f"{name}.parquet", "application/octet-stream"),
        (cols[2], "Config JSON", "json", config_json(trace.config), f"{name}.json",
         "application/json"),
        (cols[3], "Figure HTML", "html",
         admitted("html", lambda: figure_html(fig() if callable(fig) else fig))
         if fig is not None else None,
         f"{name}.html", "text/html"),
        (cols[4], "snnTorch code", "code", admitted("code", lambda: snntorch_code(trace)),
         f"{name}_snntorch.py", "text/x-python"),
    ]
    for col, label, export, data, file_name, mime in buttons:
        if data is None:
            continue
        refusal = _export_refusal(trace, export)
        col.download_button(label, data=b"" if refusal else data, file_name=file_name, mime=mime,
                            key=f"{name}_export_{export}",
                            on_click="ignore", disabled=refusal is not None, help=refusal)
    _nir_button(cols[5], trace, name)


def _nir_button(col, trace: Trace, name: str) -> None:
    """The layer of the run (its weights as run) as a ``.nir`` file, made when clicked."""
    refusal = export_refusal(trace.config, trace.neuron)

    def write() -> bytes:
        with admit(nir_export_bytes(trace.config)):
            return nir_bytes(trace.config, neuron=trace.neuron)

    help_text = (f"Not available here: {refusal}." if refusal else
                 "The neuron or population as a NIR graph (a LIF node and its recurrent edge), "
                 "for snnTorch's import_nir and other NIR tools.")
    col.download_button("NIR graph", data=b"" if refusal else write, file_name=f"{name}.nir",
                        mime="application/x-hdf5", key=f"{name}_export_nir", on_click="ignore",
                        disabled=refusal is not None, help=help_text)


def run_or_stop(run: Callable[[], T], link: str, expected: tuple = USER_ERRORS) -> T:
    """``run()``, or, if it fails, the error panel in place and the page stops there.

    ``expected`` errors are the user's to fix (a bad upload, a run over the
    memory budget) and show just their message; anything else gets the
    friendly panel with a link that reproduces it, never a raw traceback.
    """
    try:
        return run()
    except expected as e:
        error_panel(e, link, expected=True)
    except Exception as e:
        error_panel(e, link)
    st.stop()


def _uploaded(label: str, types: list[str], key: str) -> Optional[bytes]:
    """One file uploader's bytes; a file of another kind is refused in place, by name.

    The file's name is checked here rather than by ``st.file_uploader(type=...)``:
    Streamlit enforces that while it reads the widget's state, before the page
    runs, so a client that sends another name (not a browser) got an exception
    instead of a message.
    """
    upload = st.file_uploader(f"{label} ({', '.join('.' + t for t in types)})", key=key)
    if upload is None:
        return None
    if not any(upload.name.lower().endswith("." + t) for t in types):
        shown = upload.name[:60].replace("\x00", "?")
        st.error(plain(f"{shown!r} is not allowed here: the file name must end in "
                       f"{' or '.join('.' + t for t in types)}."), icon="⚠️")
        return None
    return upload.getvalue()


def upload_widgets(cfg: SimConfig, key: str, nir=None) -> tuple[Optional[bytes], Optional[bytes]]:
    """The uploaders the config asks for: an input CSV, an snnTorch state dict.

    Returns ``(csv_bytes, pt_bytes)``; ``None`` where nothing is uploaded.  Their
    keys are ``<key>_csv`` and ``<key>_pt``; the export buttons' are
    ``<name>_export_<format>``, so a page may use one name for both.  With
    ``nir`` (the page, a ``navigation.Page``) a NIR graph can be opened too
    (key ``<key>_nir``, :func:`nir_upload`); while it is, its weights are the
    state dict.
    """
    csv = pt = None
    imported = nir_upload(nir, key) if nir is not None else None
    if cfg.stimulus == "csv":
        csv = _uploaded("Input current CSV (one column for every neuron, or one per neuron)",
                        ["csv"], f"{key}_csv")
    if uses_state_dict(cfg):
        if imported is not None:
            pt = imported
        else:
            pt = _uploaded("snnTorch RLeaky state dict (.pt, loaded with weights_only=True)",
                           ["pt", "pth"], f"{key}_pt")
    return csv, pt


def _nir_key(key: str) -> str:
    return f"_nir:{key}"


def nir_upload(page, key: str) -> Optional[bytes]:
    """An uploader for a NIR graph; an opened graph becomes ``page``'s config.

    A new file is read by ``nirgraph.from_nir``: on success its config is
    applied (the sidebar shows it) and the page runs again; a file that
    cannot be represented gets its message, naming the node or parameter.
    Returns the weights of the graph in use, as state-dict bytes (None when
    the graph needs none, or no graph is open).  Removing the file closes it.
    """
    from .sidebar import apply_config

    with st.expander("Open a NIR graph (.nir)", expanded=_nir_key(key) in st.session_state):
        data = _uploaded("NIR graph holding a recurrent LIF layer, as snnTorch's export_to_nir "
                         "writes it", ["nir"], f"{key}_nir")
        opened = st.session_state.get(_nir_key(key))
        if data is None:
            st.session_state.pop(_nir_key(key), None)
            return None
        if opened is not None and opened["digest"] == digest(data):
            st.caption(plain(f"Exploring the NIR graph: {opened['text']}"))
            return opened["pt"]
        try:
            cfg, pt = open_nir(data)
        except (NIRImportError, MemoryBudgetError) as e:  # the file, or a busy server (try again)
            st.session_state.pop(_nir_key(key), None)  # the uploader no longer shows the old one
            st.error(plain(str(e)), icon="⚠️")
            return None
        state = load_state_dict_bytes(pt) if pt is not None else {}
        st.session_state[_nir_key(key)] = {"digest": digest(data), "text": describe_import(cfg, state),
                                           "pt": pt}
        apply_config(cfg, page)
        st.rerun()


def simulate_with_uploads(page, cfg: SimConfig, key: str, *, uploads: bool = False,
                          nir: bool = False):
    """The uploaders ``cfg`` asks for (keys ``<key>_csv``, ``<key>_pt``; with ``nir``, a NIR
    graph's, ``<key>_nir``), then its cached run.

    A run that fails shows the error panel in place, with ``page``'s link to
    this view, and the page stops there (:func:`run_or_stop`).  With
    ``uploads=True`` returns ``(trace, (csv_bytes, pt_bytes))``, for views
    that run the same setting again (the live chart's frames).
    """
    csv, pt = upload_widgets(cfg, key, nir=page if nir else None)
    trace = run_or_stop(lambda: run_simulation(cfg, csv_bytes=csv, pt_bytes=pt), page.url(cfg))
    return (trace, (csv, pt)) if uploads else trace
