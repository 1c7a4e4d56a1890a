"""The ``rleaky-viz`` command: start the app, or run and draw headless.

    rleaky-viz                                   start the app (as ``rleaky-viz app``)
    rleaky-viz app [--port P] [--host H] [--theme light|dark]
    rleaky-viz simulate [--config F | --preset NAME] [--set FIELD=VALUE ...] --out F.csv|F.parquet
    rleaky-viz figure   [--config F | --preset NAME] [--set FIELD=VALUE ...] [--kind K] --out F.html
    rleaky-viz nir      [--config F | --preset NAME | --nir F] [--set FIELD=VALUE ...] --out F.nir
    rleaky-viz presets

``--nir FILE`` starts a run (or an export) from a NIR graph that holds a
recurrent LIF layer (``rleaky_viz.nirgraph.from_nir``: the config, and the
weights it cannot hold, which go to the run as its state dict); ``nir``
writes the layer a config builds as a NIR graph (``nirgraph.write_nir``).

``--set`` values are read exactly as URL query values are
(:meth:`SimConfig.from_query`), so ``--set reset_delay=false`` is a bool and
``--set num_steps=500`` an int.  Every mistake the user can make (an unknown
field, a value out of bounds, a missing file, an unwritable output) ends
with exit status 2 and one line on stderr that says what is wrong and what
is allowed; no traceback.

A run that takes longer than half a second shows its progress on stderr:
``simulate(cfg, progress=...)`` runs it through ``core.unroll_chunks``,
which gives exactly the tensors of one ``unroll`` over the whole sequence.
"""
from __future__ import annotations

import argparse
import difflib
import os
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import Callable, Optional, Sequence, TextIO

__all__ = ["main", "build_parser", "CliError", "config_from_args", "FIGURE_KINDS", "find_app"]

PROG = "rleaky-viz"
# Refuse runs whose memory (the run and the file written from it, estimated by
# service.estimate_bytes) exceeds this, as the app does with RLEAKY_VIZ_MEMORY_MB.
DEFAULT_MAX_MB = 1024
_ROWS_WORTH_A_NOTE = 200_000
# Progress shows once a run has gone on this long (seconds); RLEAKY_VIZ_PROGRESS_AFTER=0
# shows it for every run (a CI log, a test).
_PROGRESS_AFTER_S = 0.5


class CliError(Exception):
    """A mistake of the user's: reported as one line, exit status 2."""


# ----------------------------------------------------------------------------- the app
def find_app() -> Optional[Path]:
    """``app.py`` of the checkout this package comes from (next to the package folder)."""
    import rleaky_viz

    candidate = Path(rleaky_viz.__file__).resolve().parent.parent / "app.py"
    return candidate if candidate.is_file() else None


def _cmd_app(args) -> int:
    app = find_app()
    if app is None:
        import rleaky_viz

        root = Path(rleaky_viz.__file__).resolve().parent.parent
        raise CliError(f"cannot find app.py in {root}: the app runs from a source checkout "
                       "(git clone, then pip install -e .), not from an installed wheel")
    from .devserver import app_command

    command = app_command(args.port, args.host, [f"theme.base={args.theme}"] if args.theme else (),
                          app=app)
    print(f"{PROG}: serving {app.name} on http://{args.host or 'localhost'}:{args.port} "
          "(Ctrl+C stops)", file=sys.stderr)
    sys.stderr.flush()
    os.chdir(app.parent)  # from the checkout, so that its .streamlit/config.toml applies
    if os.name == "posix":
        # streamlit takes this process's place: Ctrl+C and a service manager's
        # SIGTERM reach the server itself, and no orphan is left behind
        os.execv(sys.executable, command)
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 130


# ----------------------------------------------------------------------------- configs
def _recorded() -> tuple[str, ...]:
    from .core import RECORDABLE

    return RECORDABLE


def _field_names() -> list[str]:
    from .config import SimConfig

    return [f.name for f in fields(SimConfig)]


def _parse_sets(items: Sequence[str]) -> dict[str, str]:
    names = _field_names()
    query: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise CliError(f"--set {_short(item)}: write FIELD=VALUE, e.g. --set beta=0.8")
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise CliError(f"--set: unknown field {_short(key)}; {hint}fields: {', '.join(names)}")
        query.pop(key, None)  # the last --set of a field wins, and keeps its place in the order
        query[key] = value
    return query


def config_from_args(args):
    """The ``SimConfig`` that ``--config``/``--preset`` and ``--set`` describe."""
    from .config import SimConfig
    from .presets import PRESETS

    if getattr(args, "nir", None):
        base = _nir_source(args)
    elif getattr(args, "config", None):
        from .service import MAX_CONFIG_BYTES

        path = Path(args.config)
        data = _read(args.config, "--config", MAX_CONFIG_BYTES)
        try:
            base = SimConfig.from_json(data)
        except ValueError as e:
            raise CliError(f"--config {path.name}: {e}") from None
    elif getattr(args, "preset", None):
        if args.preset not in PRESETS:
            raise CliError(f"--preset: unknown preset {_short(args.preset)}; presets: "
                           f"{', '.join(PRESETS)}")
        base = PRESETS[args.preset].config
    else:
        base = SimConfig()
    query = _parse_sets(args.set or [])
    _refuse_sets_the_graph_overrides(args, query)
    try:
        return SimConfig.from_query(query, base=base)
    except ValueError as e:
        raise CliError(f"--set: {e}") from None


def _refuse_sets_the_graph_overrides(args, query) -> None:
    """A --nir graph whose neurons each have their own β or θ runs with the file's values (its
    weights carry them), so a --set of that field would change nothing: refuse it by name."""
    state = getattr(args, "nir_state", None)
    if state is None:
        return
    from .service import load_state_dict_bytes

    held = load_state_dict_bytes(state)
    for name in ("beta", "threshold"):  # state-dict keys, not config fields: per-neuron tensors
        if name in query and name in held and held[name].numel() > 1:
            raise CliError(f"--set {name}: the --nir graph gives each neuron its own {name}, and "
                           "the run uses the file's values; edit the graph to change them")


def _nir_source(args):
    """The config of ``--nir FILE``; the weights it cannot hold go to ``args.nir_state`` (bytes)."""
    from .nirgraph import MAX_NIR_BYTES, NIRImportError
    from .service import open_nir

    data = _read(args.nir, "--nir", MAX_NIR_BYTES)
    try:
        cfg, args.nir_state = open_nir(data)
    except NIRImportError as e:
        raise CliError(f"--nir {Path(args.nir).name}: {e}") from None
    return cfg


def _short(text) -> str:
    from .config import quote

    return quote(text)


def _check_out(path: str, suffixes: Sequence[str]) -> Path:
    out = Path(path)
    if out.suffix.lower() not in suffixes:
        raise CliError(f"--out {_short(path)}: the file name must end in {' or '.join(suffixes)}")
    parent = out.parent if str(out.parent) else Path(".")
    try:
        exists = parent.is_dir()
    except OSError as e:  # a name too long for the file system, say
        raise CliError(f"--out {_short(path)}: {e.strerror or e}") from None
    if not exists:
        raise CliError(f"--out {_short(path)}: the folder {_short(parent)} does not exist")
    return out


def _check_budget(cfg, max_mb: float, export: str) -> None:
    from .service import MemoryBudgetError, check_budget

    try:
        check_budget(cfg, "run", exports=(export,), budget=int(max_mb * 2**20))
    except MemoryBudgetError as e:
        raise CliError(f"{e} (or raise --max-mb {max_mb:g})") from None


def _write(out: Path, data) -> None:
    try:
        if isinstance(data, str):
            out.write_text(data, encoding="utf-8")
        else:
            out.write_bytes(data)
    except OSError as e:
        raise CliError(f"--out: cannot write {str(out)!r}: {e.strerror or e}") from None


# ----------------------------------------------------------------------------- running
def _progress_after() -> float:
    try:
        return max(0.0, float(os.environ.get("RLEAKY_VIZ_PROGRESS_AFTER", _PROGRESS_AFTER_S)))
    except ValueError:
        return _PROGRESS_AFTER_S


class Progress:
    """A progress bar on a text stream, shown once the work has gone on for half a second.

    The half second counts from the first report (the end of the first
    chunk), not from the start: torch's first call in a process warms up
    for most of a second, and a bar for a run that is then over in a few
    milliseconds says nothing.  On a terminal the bar is redrawn in place;
    elsewhere (a log, a pipe) a line is written at every tenth of the work.
    """

    def __init__(self, label: str, stream: Optional[TextIO] = None, enabled: bool = True,
                 after_s: Optional[float] = None, clock: Callable[[], float] = time.perf_counter):
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.after_s = _progress_after() if after_s is None else after_s
        self.clock = clock
        self.started = clock()
        self.first: Optional[float] = None
        self.shown = False
        self.last_tenth = -1
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = self.clock()
        elapsed = now - self.started
        if self.first is None:
            self.first = now
        if not self.shown and now - self.first < self.after_s and done < total:
            return
        if not self.shown and done >= total and self.after_s > 0:
            return  # finished before anything was worth showing
        self.shown = True
        frac = done / total if total else 1.0
        bar = "#" * int(frac * 30)
        text = f"{self.label} [{bar:<30}] {frac:4.0%}  step {done:,}/{total:,}  {elapsed:.1f} s"
        if self.tty:
            self.stream.write("\r" + text + ("\n" if done >= total else ""))
            self.stream.flush()
        else:
            tenth = int(frac * 10)
            if tenth != self.last_tenth or done >= total:
                self.last_tenth = tenth
                self.stream.write(text + "\n")
                self.stream.flush()


def _read(path: str, option: str, limit: int) -> bytes:
    from .service import UploadError, read_bounded

    try:
        return read_bounded(path, limit, option)
    except UploadError as e:
        raise CliError(str(e)) from None


def _uploads(cfg, args):
    """The input CSV and state dict a config may need: read bounded, checked as the app does."""
    from .service import MAX_STATE_DICT_BYTES, StimulusError, prepare_uploads
    from .simulate import StateDictError
    from .stimulus import MAX_CSV_BYTES

    csv = pt = None
    if cfg.stimulus == "csv":
        if not args.input_csv:
            raise CliError("stimulus=csv needs --input-csv FILE (one column, or one per neuron)")
        csv = _read(args.input_csv, "--input-csv", MAX_CSV_BYTES)
    elif args.input_csv:
        raise CliError("--input-csv is used only with --set stimulus=csv")
    pt, pt_option = _state_dict_upload(cfg, args)
    try:
        prepare_uploads(cfg, csv, pt)  # refuse a bad file before anything runs
    except StimulusError as e:
        raise CliError(f"--input-csv: {e}") from None
    except StateDictError as e:
        raise CliError(f"{pt_option}: {e}") from None
    return csv, pt


def _state_dict_upload(cfg, args):
    """The state dict's bytes a config needs (from --state-dict, or the --nir graph's weights)."""
    from .service import MAX_STATE_DICT_BYTES, uses_state_dict

    from_nir = getattr(args, "nir_state", None)
    if from_nir is not None and args.state_dict:
        raise CliError("--state-dict cannot be used with --nir: the NIR graph holds the weights")
    if uses_state_dict(cfg):
        if from_nir is not None:
            return from_nir, "--nir"
        if not args.state_dict:
            raise CliError("weight_init=state_dict needs --state-dict FILE.pt (an snnTorch RLeaky "
                           "state dict)")
        return _read(args.state_dict, "--state-dict", MAX_STATE_DICT_BYTES), "--state-dict"
    if args.state_dict:
        raise CliError("--state-dict is used only with --set recurrence=linear weight_init=state_dict")
    return None, "--state-dict"


def _run(cfg, args, export: str):
    from . import service

    _check_budget(cfg, args.max_mb, export)
    csv, pt = _uploads(cfg, args)
    shape = " x ".join(str(n) for n in cfg.neuron_shape)
    label = f"simulating {shape} neuron{'s' if cfg.neuron_count > 1 else ''}"
    try:
        trace = service.run(cfg, csv, pt, progress=Progress(label, enabled=not args.quiet),
                            exports=(export,), budget=int(args.max_mb * 2**20),
                            max_work=float("inf"))  # the user's own machine: no time cap
    except service.StimulusError as e:  # a bad expression or CSV: name the stimulus it belongs to
        raise CliError(f"stimulus={cfg.stimulus}: {e}") from None
    except service.StateDictError as e:  # weights that do not fit the layer: name their file
        source = "--nir" if getattr(args, "nir_state", None) is not None else "--state-dict"
        raise CliError(f"{source}: {e}") from None
    except service.USER_ERRORS as e:  # a state dict of the wrong shape, a run over budget
        raise CliError(str(e)) from None
    for notice in trace.notices:
        print(f"{PROG}: note: {notice}", file=sys.stderr)
    return trace


def _cmd_simulate(args) -> int:
    from .export import trace_csv, trace_parquet

    out = _check_out(args.out, (".csv", ".parquet"))
    cfg = config_from_args(args)
    export = "parquet" if out.suffix.lower() == ".parquet" else "csv"
    trace = _run(cfg, args, export)
    rows = trace.num_steps * trace.spk[0].numel()
    if rows >= _ROWS_WORTH_A_NOTE and not args.quiet:  # a second or more of pandas work
        print(f"{PROG}: writing {out.name} ({rows:,} rows)…", file=sys.stderr, flush=True)
    data = trace_parquet(trace) if export == "parquet" else trace_csv(trace)
    _write(out, data)
    if not args.quiet:
        print(f"{PROG}: wrote {out} ({rows:,} rows, "
              f"{int((trace.spk != 0).sum()):,} spikes)", file=sys.stderr)
    return 0


# ----------------------------------------------------------------------------- figures
def _linear_weight(trace):
    if trace.config.recurrence != "linear":
        raise ValueError(f"this kind needs recurrence=linear (a weight matrix), "
                         f"not {trace.config.recurrence!r}")
    return trace.neuron.recurrent.weight.detach().numpy()


def _figure_kinds() -> dict[str, tuple[str, Callable]]:
    from . import figures as f

    return {
        "neuron": ("one neuron: input, membrane, spikes, resets, recurrence",
                   lambda t, a: f.neuron_figure(t, neuron=a.neuron, batch=a.batch,
                                                overlay=_overlay(t.config))),
        "breakdown": ("the membrane update of one neuron, term by term",
                      lambda t, a: f.breakdown_figure(t, neuron=a.neuron, batch=a.batch)),
        "raster": ("spike raster of every neuron",
                   lambda t, a: f.raster_figure(t, batch=a.batch)),
        "rate": ("population rate over time", lambda t, a: f.rate_figure(t, batch=a.batch)),
        "heatmap": ("membrane of every neuron over time",
                    lambda t, a: f.heatmap_figure(t, "mem", batch=a.batch)),
        "traces": ("membranes of the first neurons",
                   lambda t, a: f.traces_figure(t, list(range(min(3, t.config.neuron_count))),
                                                batch=a.batch)),
        "weights": ("the recurrent weight matrix (recurrence=linear)",
                    lambda t, a: f.weight_figure(_linear_weight(t))),
        "spectrum": ("eigenvalues of the recurrent weights (recurrence=linear)",
                     lambda t, a: f.spectrum_figure(_linear_weight(t))),
        "conv": ("spike maps over time, with play (recurrence=conv2d)",
                 lambda t, a: f.conv_frames_figure(t, channel=a.channel, batch=a.batch)),
        "rate_map": ("firing rate of every grid cell (recurrence=conv2d)",
                     lambda t, a: f.rate_map_figure(t, channel=a.channel, batch=a.batch)),
    }


FIGURE_KINDS = ("auto", "neuron", "breakdown", "raster", "rate", "heatmap", "traces", "weights",
                "spectrum", "conv", "rate_map")


def _overlay(cfg):
    from .theory import applicable_overlay

    return applicable_overlay(cfg)  # the explorer's rule: only where the theory holds


def _auto_kind(cfg) -> str:
    from .figures import main_figure_kind

    return main_figure_kind(cfg)


def _cmd_figure(args) -> int:
    from .export import figure_html

    out = _check_out(args.out, (".html",))
    cfg = config_from_args(args)
    kind = _auto_kind(cfg) if args.kind == "auto" else args.kind
    trace = _run(cfg, args, "html")
    try:
        fig = _figure_kinds()[kind][1](trace, args)
    except ValueError as e:
        raise CliError(f"--kind {kind}: {e}") from None
    _write(out, figure_html(fig))
    if not args.quiet:
        print(f"{PROG}: wrote {out} ({kind} figure)", file=sys.stderr)
    return 0


def _cmd_nir(args) -> int:
    from .nirgraph import NIRExportError, nir_bytes
    from .service import load_state_dict_bytes
    from .simulate import StateDictError

    out = _check_out(args.out, (".nir",))
    cfg = config_from_args(args)
    pt, option = _state_dict_upload(cfg, args)
    try:
        state = load_state_dict_bytes(pt) if pt is not None else None
        data = nir_bytes(cfg, state)
    except NIRExportError as e:
        raise CliError(f"{e} (change it with --set)") from None
    except StateDictError as e:
        raise CliError(f"{option}: {e}") from None
    _write(out, data)
    if not args.quiet:
        print(f"{PROG}: wrote {out} (a NIR graph of {cfg.num_neurons} neuron"
              f"{'s' if cfg.num_neurons > 1 else ''}, recurrence={cfg.recurrence})", file=sys.stderr)
    return 0


def _cmd_presets(args) -> int:
    from .presets import PRESETS

    rows = [(p.name, p.page, p.title) for p in PRESETS.values()]
    widths = [max(len(r[i]) for r in rows + [("name", "page", "title")]) for i in range(2)]
    print(f"{'name':<{widths[0]}}  {'page':<{widths[1]}}  title")
    for name, page, title in rows:
        print(f"{name:<{widths[0]}}  {page:<{widths[1]}}  {title}")
    return 0


# ----------------------------------------------------------------------------- parser
def _number(kind: type, allowed: str, ok: Callable[[float], bool]) -> Callable[[str], float]:
    """An argparse type: ``text`` read as ``kind``, refused with ``allowed`` unless ``ok``."""
    word = "a whole number" if kind is int else "a number"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {word}, got {_short(text)}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {_short(text)}")
        return value

    return parse


_port = _number(int, "between 1 and 65535", lambda v: 1 <= v <= 65535)
_index = _number(int, "0 or more", lambda v: v >= 0)
_positive = _number(float, "a finite number above 0", lambda v: 0 < v < float("inf"))


def _add_app_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=_port, default=8501, help="port to serve on (default 8501)")
    p.add_argument("--host", default=None,
                   help="address to listen on, e.g. 127.0.0.1 or 0.0.0.0 (default: Streamlit's)")
    p.add_argument("--theme", choices=("light", "dark"), default=None,
                   help="start in this theme (users can still switch in the app's ⋮ menu)")


def _add_run_options(p: argparse.ArgumentParser, run: bool = True) -> None:
    source = p.add_mutually_exclusive_group()
    source.add_argument("--config", metavar="FILE",
                        help="a config JSON (as the app's 'Config JSON' export writes)")
    source.add_argument("--preset", metavar="NAME",
                        help="start from a preset (see 'rleaky-viz presets')")
    source.add_argument("--nir", metavar="FILE",
                        help="start from a NIR graph (.nir) holding a recurrent LIF layer, as "
                             "snnTorch's export_to_nir or 'rleaky-viz nir' writes it")
    p.add_argument("--set", metavar="FIELD=VALUE", nargs="+", action="extend", default=[],
                   help="change a field, read as in a URL query (e.g. --set beta=0.8 "
                        "reset_delay=false); repeatable, the last one wins")
    if run:
        p.add_argument("--input-csv", metavar="FILE",
                       help="input current for stimulus=csv (one column, or one per neuron)")
    p.add_argument("--state-dict", metavar="FILE",
                   help="snnTorch RLeaky state dict (.pt) for weight_init=state_dict; "
                        "loaded with weights_only=True")
    if run:
        p.add_argument("--max-mb", type=_positive, default=DEFAULT_MAX_MB,
                       help=f"refuse runs (with the file they write) that need more memory "
                            f"(default {DEFAULT_MAX_MB} MB)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress and no summary on stderr")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="A laboratory for snnTorch's recurrent LIF neuron (RLeaky). With no command, "
                    "starts the app.",
        epilog="Without --config or --preset a run starts from SimConfig's defaults. "
               "'rleaky-viz COMMAND --help' tells more.")
    from . import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    app = commands.add_parser("app", help="start the app in the browser (the default)",
                              description="Start the Streamlit app (python -m streamlit run app.py).")
    _add_app_options(app)

    sim = commands.add_parser(
        "simulate", help="run a configuration headless and save the traces",
        description="Run a configuration headless and save the traces: one row per "
                    "(t, batch, neuron) with input, mem, spk and "
                    + ", ".join(_recorded()) + ".")
    _add_run_options(sim)
    sim.add_argument("--out", required=True, metavar="FILE", help="traces.csv or traces.parquet")

    fig = commands.add_parser("figure", help="run a configuration and save a figure as HTML",
                              description="Run a configuration and save one figure as a "
                                          "standalone HTML file (plotly.js inlined, works offline).")
    _add_run_options(fig)
    fig.add_argument("--kind", choices=FIGURE_KINDS, default="auto",
                     help="auto: neuron for one neuron, raster for many, conv for a grid; "
                          "weights and spectrum need recurrence=linear; conv and rate_map "
                          "need recurrence=conv2d")
    fig.add_argument("--neuron", type=_index, default=0, help="neuron index (neuron, breakdown)")
    fig.add_argument("--batch", type=_index, default=0, help="batch sample")
    fig.add_argument("--channel", type=_index, default=0, help="channel (conv, rate_map)")
    fig.add_argument("--out", required=True, metavar="FILE", help="fig.html")

    export = commands.add_parser(
        "nir", help="save the layer a configuration builds as a NIR graph (.nir)",
        description="Write the neuron or population a configuration builds (its seeded weights, "
                    "or --state-dict's) as a NIR graph: a LIF node and its recurrent edge, read "
                    "by snnTorch's import_nir and other NIR tools. NIR's LIF resets to zero in "
                    "the spike step: the config needs reset_mechanism=zero and "
                    "reset_delay=false.")
    _add_run_options(export, run=False)
    export.add_argument("--out", required=True, metavar="FILE", help="net.nir")

    commands.add_parser("presets", help="list the presets (name, page, title)",
                        description="List the presets: name (for --preset), page, title.")
    return parser


_COMMANDS = {"app": _cmd_app, "simulate": _cmd_simulate, "figure": _cmd_figure,
             "nir": _cmd_nir, "presets": _cmd_presets}


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse's own errors: usage, one line, exit 2
    if args.command is None:  # bare `rleaky-viz`: the app, with its defaults
        args = parser.parse_args(["app"])
    prog = f"{PROG} {args.command}"
    try:
        return _COMMANDS[args.command](args)
    except CliError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except ValueError as e:  # a stimulus the config describes but that cannot be made, etc.
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `rleaky-viz presets | head`: the reader has gone, nothing to say
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as e:
        if os.environ.get("RLEAKY_VIZ_DEBUG"):
            raise
        print(f"{prog}: error: {type(e).__name__}: {e} (set RLEAKY_VIZ_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
