"""Fuzzing shared links: hostile URL queries through ``SimConfig.from_query`` to every export.

A link is untrusted text.  Properties checked here:

* ``from_query`` raises nothing but ``ValueError`` (and nothing at all with ``errors=[]``,
  where every refusal is one short line naming its field); fields the run does not use keep
  their base value; the config survives a link round trip;
* for small runs of those configs: the snnTorch script ``ast.parse``s, holds the config only
  in its ``CONFIG = {...}`` literal (``literal_eval`` of it is ``cfg.to_query()``), user text
  changes nothing else in it, and its docstring is fixed text; CSV, Parquet and JSON exports
  read back; figure HTML never carries user text into a ``<script>``;
* scripts whose config holds expressions built to escape (the attack of issue "Safe to share")
  run in a subprocess, exit 0 and write no canary; scripts of link-built runs reproduce them.
"""
from __future__ import annotations

import ast
import dataclasses
import io
import json
import subprocess
import sys
import textwrap
import urllib.parse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import event, example, given, strategies as st

from _hostile import (CANARY, FIELD_NAMES, FIELDS, fuzz_settings, good_state_dict, hostile_text,
                      query_dicts, run_queries, small, torch_bytes)
from rleaky_viz import SimConfig, service, simulate
from rleaky_viz.export import config_json, figure_html, snntorch_code, trace_csv, trace_parquet
from rleaky_viz.figures import neuron_figure, raster_figure

QUERY = fuzz_settings("links-query", 200)
RUNS = fuzz_settings("links-runs", 30)
TEXT = fuzz_settings("links-text", 150)
JSONS = fuzz_settings("links-json", 100)
FIGS = fuzz_settings("links-figs", 8)

SMALL_BASE = SimConfig(num_steps=30)
# Names a generated script has no business using: any of these means code got in.
FORBIDDEN_NAMES = {"open", "exec", "eval", "compile", "__import__", "os", "subprocess",
                   "getattr", "setattr", "globals", "locals", "vars", "input", "breakpoint",
                   "__builtins__", "shutil", "pathlib", "importlib", "pickle", "runpy"}
FORBIDDEN_ATTRS = {"system", "popen", "remove", "unlink", "rmtree", "write", "write_text",
                   "__class__", "__globals__", "__subclasses__", "__reduce__", "load", "loads"}


# ----------------------------------------------------------------------------- from_query
@QUERY
@given(query=query_dicts())
@example(query={"expression": f'"""; import os; os.system("touch {CANARY}")'})
@example(query={"stimulus": "expression", "expression": '"""\nopen("x","w")\n"""'})
@example(query={"beta": "1e309", "threshold": "nan", "amplitude": "-inf", "offset": "1e-300"})
@example(query={"graded_spikes_factor": "1e-300", "num_steps": "9" * 5000, "seed": "-0"})
@example(query={"inhibition": "true", "recurrence": "conv2d"})
@example(query={"recurrence": "conv2d", "inhibition": "true", "kernel_size": "4"})
@example(query={"surrogate": "heaviside", "surrogate_param": "3"})
@example(query={"target_times": "1,²", "loss": "spike_times"})
@example(query={"beta": [], "threshold": ["2", "nan"], "V": ["0.1", "0.2"]})
def test_from_query_refuses_with_value_errors_only(query):
    errors: list = []
    cfg = SimConfig.from_query(query, errors=errors)  # never raises with a list for errors
    assert isinstance(cfg, SimConfig)
    for line in errors:
        assert isinstance(line, str) and "\n" not in line and len(line) <= 400, line
        assert any(line.startswith(f"{key}: ") for key in query if key in FIELDS), line
    try:
        strict = SimConfig.from_query(query)
    except ValueError as e:
        assert errors, f"strict from_query raised {e!r} where the lenient one reported nothing"
        assert str(e)
    else:
        assert not errors and strict == cfg
    # nothing the run ignores rides along, and nothing came from anywhere but the link
    assert cfg.without_unused() == cfg
    default = SimConfig()
    for name in FIELD_NAMES:
        if getattr(cfg, name) != getattr(default, name):
            assert name in query and cfg.is_used(name), name
    # a link written from it reads back as the same config
    link = cfg.to_query()
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in link.items())
    assert SimConfig.from_query(link) == cfg
    assert SimConfig.from_json(config_json(cfg)) == cfg
    hash(cfg)  # a cache key


@QUERY
@given(query=query_dicts())
def test_from_query_on_a_small_base_keeps_the_base_for_unused_fields(query):
    cfg = SimConfig.from_query(query, base=SMALL_BASE, errors=[])
    assert cfg.without_unused(SMALL_BASE) == cfg
    assert cfg.without_unused() == cfg  # SMALL_BASE differs from the defaults only in a used field
    for name in FIELD_NAMES:
        if not cfg.is_used(name):
            assert getattr(cfg, name) == getattr(SMALL_BASE, name), name
    assert SimConfig.from_query(cfg.to_query(base=SMALL_BASE), base=SMALL_BASE) == cfg


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), hostile_text()),
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.dictionaries(hostile_text(), children, max_size=3)),
    max_leaves=8)


@st.composite
def json_texts(draw):
    """Config JSON as a file holds it: a near-valid object, any JSON, or not JSON at all."""
    kind = draw(st.sampled_from(("object", "object", "any", "text", "nested")))
    if kind == "object":  # a config's own JSON (from a fuzzed link), some values replaced
        obj = SimConfig.from_query(draw(query_dicts()), errors=[]).to_dict()
        names = st.one_of(st.sampled_from(FIELD_NAMES), st.sampled_from(("", "foo", "__class__")))
        for key in draw(st.lists(names, max_size=3)):
            if draw(st.booleans()):
                obj[key] = draw(JSON_VALUES)
            else:
                obj.pop(key, None)
        return json.dumps(obj, allow_nan=True)
    if kind == "any":
        return json.dumps(draw(JSON_VALUES), allow_nan=True)
    if kind == "nested":
        depth = draw(st.sampled_from((100, 1_000, 10_000, 32_000, 70_000)))
        opener, closer = draw(st.sampled_from((("[", "]"), ('{"a":', "}"))))
        return opener * depth + ("1" if opener != "[" else "") + closer * depth
    return draw(hostile_text())


@JSONS
@given(text=json_texts(), as_bytes=st.booleans())
@example(text='{"num_steps": 1' + "0" * 5000 + "}", as_bytes=False)
@example(text='{"beta": NaN, "threshold": Infinity}', as_bytes=True)
@example(text='{"beta": 1e400}', as_bytes=False)
@example(text='{"beta": ' + "[" * 20_000 + "]" * 20_000 + "}", as_bytes=True)
def test_from_json_refuses_with_value_errors_only(text, as_bytes):
    data = text.encode("utf-8", "surrogatepass") if as_bytes else text
    try:
        cfg = SimConfig.from_json(data)
    except ValueError as e:
        assert str(e)
        return
    assert SimConfig.from_json(cfg.to_json()) == cfg


# ----------------------------------------------------------------------------- the script
def _docstring_and_config(code: str):
    """The script's module docstring and its one top-level ``CONFIG = {...}`` assignment."""
    tree = ast.parse(code)
    compile(tree, "<snntorch script>", "exec")
    doc = ast.get_docstring(tree, clean=False)
    assigns = [n for n in tree.body if isinstance(n, ast.Assign)
               and any(isinstance(t, ast.Name) and t.id == "CONFIG" for t in n.targets)]
    assert len(assigns) == 1, "the script must hold exactly one CONFIG assignment"
    node = assigns[0]
    assert len(node.targets) == 1 and isinstance(node.value, ast.Dict)
    return tree, doc, node


def _skeleton(code: str) -> str:
    """The script's AST with CONFIG's value emptied: what user text must never change."""
    tree, _, node = _docstring_and_config(code)
    node.value = ast.Dict(keys=[], values=[])
    return ast.dump(tree)


_REF_TRACE = simulate(SimConfig(num_steps=3))
_REF_DOC = ast.get_docstring(ast.parse(snntorch_code(_REF_TRACE)), clean=False)


def check_script(code: str, trace) -> None:
    cfg = trace.config
    tree, doc, node = _docstring_and_config(code)
    # the config, only as a literal, and exactly the link
    assert ast.literal_eval(node.value) == cfg.to_query()
    assert ast.get_source_segment(code, node.value) is not None
    # the docstring is fixed text (only the shape is filled in)
    expected = _REF_DOC.replace(str(tuple(_REF_TRACE.spk.shape)), str(tuple(trace.spk.shape)))
    assert doc == expected
    # outside CONFIG: no user text in any string, no name that opens a way out
    config_nodes = {id(n) for n in ast.walk(node)}
    user_texts = [v for k, v in cfg.to_query().items() if FIELDS[k].metadata.get("kind") == "expression"]
    for n in ast.walk(tree):
        if id(n) in config_nodes:
            continue
        if isinstance(n, ast.Name):
            assert n.id not in FORBIDDEN_NAMES, n.id
        if isinstance(n, ast.Attribute):
            assert n.attr not in FORBIDDEN_ATTRS, n.attr
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value != doc:
            for text in user_texts:
                assert len(text) < 4 or text not in n.value, (text, n.value[:80])


def with_expression(trace, text: str):
    """``trace`` whose config says its input came from expression ``text``.

    An expression that escapes the allow-list never runs (stimulus refuses it), so to fuzz what
    the *code generator* does with any text, the text is put in the trace's config directly.
    """
    cfg = trace.config.replace(stimulus="expression", expression=text)
    return dataclasses.replace(trace, config=cfg)


_TEXT_TRACE = simulate(SimConfig(recurrence="linear", num_neurons=2, num_steps=4))


@TEXT
@given(text=hostile_text())
@example(text=f'"""\nopen("{CANARY}","w").write("x")\n"""')
@example(text='\\"""; import os; os.system("touch CANARY") #')
@example(text="\n}\nimport os\nCONFIG = {\n")
@example(text="'" * 199 + "\\")
@example(text="\ud800\udfff\x00\r\x0c")
def test_script_holds_any_expression_only_in_its_config_literal(text):
    hostile = with_expression(_TEXT_TRACE, text[:200])
    code = snntorch_code(hostile)
    check_script(code, hostile)
    # the same script as for a harmless expression, but for the CONFIG literal
    assert _skeleton(code) == _skeleton(snntorch_code(with_expression(_TEXT_TRACE, "t")))


# ----------------------------------------------------------------------------- every export
_FIG_BASELINE = figure_html(neuron_figure(simulate(SimConfig(num_steps=3))))
_SCRIPT_TAGS = (_FIG_BASELINE.lower().count("<script"), _FIG_BASELINE.lower().count("</script"))


def check_html(html: str, *texts: str) -> None:
    low = html.lower()
    assert (low.count("<script"), low.count("</script")) == _SCRIPT_TAGS
    for text in texts:
        if "<" in text and len(text) >= 4 and text not in _FIG_BASELINE:
            assert text not in html


@RUNS
@given(query=run_queries())
@example(query={"stimulus": "expression", "expression": "1e300*step(t-2)"})
@example(query={"stimulus": "expression", "expression": "n * 0.1 + t / 40", "recurrence": "linear",
                "num_neurons": "1000", "num_steps": "10000"})
@example(query={"expression": f'"""; import os; os.system("touch {CANARY}")', "beta": "0.5"})
@example(query={"recurrence": "conv2d", "grid_size": "64", "conv2d_channels": "8",
                "kernel_size": "9", "kernel_init": "lateral_excitation", "amplitude": "10"})
@example(query={"recurrence": "linear", "inhibition": "true", "reset_delay": "false",
                "num_neurons": "3", "reset_mechanism": "zero", "amplitude": "3"})
def test_link_to_every_export(query):
    cfg = small(SimConfig.from_query(query, base=SMALL_BASE, errors=[]))
    assert cfg.without_unused(SMALL_BASE) == cfg
    try:
        trace = service.run(cfg)
    except service.USER_ERRORS as e:
        assert str(e) and "\n" not in str(e)
        event(f"refused: {type(e).__name__}")
        return
    event(f"ran: {cfg.recurrence}, {cfg.stimulus}")
    T, B = trace.spk.shape[:2]
    N = cfg.neuron_count
    for name in ("input", "mem", "spk"):
        assert bool(np.isfinite(getattr(trace, name).numpy()).all()), name

    check_script(snntorch_code(trace), trace)

    frame = pd.read_csv(io.BytesIO(trace_csv(trace)))
    assert len(frame) == T * B * N
    # CSV holds float32 values as their shortest text: exact once read back as float32
    assert np.array_equal(frame["spk"].to_numpy(np.float32).reshape(B, T, N).transpose(1, 0, 2),
                          trace.spk.reshape(T, B, N).numpy())
    parquet = pd.read_parquet(io.BytesIO(trace_parquet(trace)))
    assert len(parquet) == T * B * N
    assert np.array_equal(parquet["mem"].to_numpy().reshape(B, T, N).transpose(1, 0, 2),
                          trace.mem.reshape(T, B, N).numpy())
    text = config_json(cfg)
    json.loads(text)
    assert SimConfig.from_json(text) == cfg
    assert SimConfig.from_json(text.encode()) == cfg

    fig = neuron_figure(trace) if N == 1 else raster_figure(trace)
    check_html(figure_html(fig), *(v for v in query.values() if isinstance(v, str)))


@FIGS
@given(text=hostile_text())
@example(text="</script><script>document.title='pwned'</script>")
@example(text="</SCRIPT ><img src=x onerror=alert(1)>")
@example(text="<!--<script>")
def test_figure_html_never_carries_user_text_into_a_script(text):
    marker = text[:150] + "</script><b>MARK</b>"
    trace = with_expression(simulate(SimConfig(num_steps=5)), marker)
    check_html(figure_html(neuron_figure(trace)), marker)


# ----------------------------------------------------------------------------- scripts, run
# Each tries to end the literal it sits in (a docstring, once) and run code that writes the
# canary file in the script's working directory.
CANARY_EXPRESSIONS = [
    f'"""\nopen("{CANARY}","w").write("x")\n"""',
    f'"""; import os; os.system("touch {CANARY}")',
    f"'''\nopen('{CANARY}', 'w').write('x')\n'''",
    f'\\"""\nopen("{CANARY}","w")\n#',
    f"\n}}\nopen('{CANARY}', 'w')\nX = {{\n",
    f"\\\n__import__('os').system('touch {CANARY}')",
    f"\r__import__('os').system('touch {CANARY}')\r",
    f"\x00\"\"\"\r\nopen('{CANARY}','w')\r\n\"\"\"",
    f"\u2028open('{CANARY}','w')\u2029",
    f"{{0.__class__}}%s{{cfg}}'\"; open('{CANARY}','w') #",
    f"</script>\"\"\"'''\n{CANARY}",
]

# Links (as a browser sends them) whose runs the scripts must reproduce.
LINKS = [
    "recurrence=linear&num_neurons=5&inhibition=true&reset_delay=false&amplitude=1.2",
    "stimulus=expression&expression=1e3*step(t-2)*sin(t)&state_quant_bits=4&threshold=2",
    "recurrence=conv2d&grid_size=4&conv2d_channels=2&kernel_size=5&kernel_init=centre_surround"
    "&amplitude=0.8",
    "beta=1.7&threshold=0.01&reset_mechanism=zero&graded_spikes_factor=-3&V=-2&amplitude=1",
    "recurrence=none&beta=-1&amplitude=10&offset=-10&stimulus=pulse&period=3&width=1",
    "recurrence=linear&num_neurons=6&weight_init=ei&weight_gain=20&weight_sparsity=0.5"
    "&stimulus=poisson&rate=1&amplitude=3&batch_size=2",
    "surrogate=SSO&surrogate_param=-100&reset_mechanism=none&stimulus=sine&period=1&amplitude=5",
    "expression=" + urllib.parse.quote(CANARY_EXPRESSIONS[0]) + "&beta=0.5&amplitude=1.5",
    "stimulus=noise&noise_std=5&graded_spikes_factor=1e-6&seed=2147483647&amplitude=2",
    "stimulus=ramp&amplitude=-10&V=5&reset_delay=false&state_quant_bits=1",
    "recurrence=linear&num_neurons=3&inhibition=true&reset_mechanism=zero&reset_delay=false"
    "&stimulus=step&onset=0&amplitude=3&input_spread=1&beta=1&beta=0.7",
    "stimulus=expression&expression=where(t%3E5,%20n*2,%20-1)&recurrence=linear&num_neurons=4"
    "&surrogate=LSO",
]

_RUNNER = textwrap.dedent("""
    import json, runpy, sys, traceback, warnings
    warnings.simplefilter("ignore")
    results = []
    for script, out in json.loads(sys.argv[1]):
        sys.argv = [script, out]
        try:
            runpy.run_path(script, run_name="__main__")
            results.append("ok")
        except SystemExit as e:
            results.append("ok" if e.code in (None, 0) else f"exit {e.code}")
        except BaseException:
            results.append(traceback.format_exc(limit=3))
    print(json.dumps(results))
""")


def _run_scripts(pairs: list[tuple[Path, Path]], cwd: Path) -> list[str]:
    """Run each generated script as ``__main__`` (as ``python script.py out.npz`` does), all in
    one interpreter so that torch and snnTorch are imported once."""
    proc = subprocess.run([sys.executable, "-c", _RUNNER, json.dumps([[str(s), str(o)] for s, o in pairs])],
                          cwd=cwd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _link_config(link: str) -> SimConfig:
    query = urllib.parse.parse_qs(link, keep_blank_values=True)  # values are lists
    errors: list = []
    cfg = SimConfig.from_query(query, base=SimConfig(num_steps=30), errors=errors)
    assert not errors, errors
    return cfg


def _assert_reproduces(trace, out: Path) -> None:
    saved = np.load(out)
    assert np.array_equal(saved["spk"], trace.spk.numpy()), trace.config.to_query()
    assert np.allclose(saved["mem"], trace.mem.numpy(), atol=1e-5, rtol=0), trace.config.to_query()


def test_hostile_scripts_run_nothing_and_link_scripts_reproduce_their_runs(tmp_path):
    pytest.importorskip("snntorch")
    work = tmp_path / "work"
    work.mkdir()
    base = simulate(SimConfig(num_steps=20, amplitude=0.6))
    pairs, expected_files = [], set()
    for i, text in enumerate(CANARY_EXPRESSIONS):
        hostile = with_expression(base, text)
        code = snntorch_code(hostile)
        check_script(code, hostile)
        script, out = tmp_path / f"canary_{i}.py", work / f"canary_{i}.npz"
        script.write_text(code, encoding="utf-8")
        pairs.append((script, out))
    traces = []
    for i, link in enumerate(LINKS):
        trace = service.run(_link_config(link))
        check_script(snntorch_code(trace), trace)
        script, out = tmp_path / f"link_{i}.py", work / f"link_{i}.npz"
        script.write_text(snntorch_code(trace), encoding="utf-8")
        pairs.append((script, out))
        traces.append((trace, out))
    assert "expression" not in _link_config(LINKS[7]).to_query()  # unused: not even in CONFIG

    # two as a user runs them: `python script.py out.npz`, in a folder of their own
    direct = [(pairs[0][0], work / "direct_canary.npz"),
              (pairs[len(CANARY_EXPRESSIONS)][0], work / "direct_link.npz")]
    procs = [subprocess.Popen([sys.executable, str(s), str(o)], cwd=work, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for s, o in direct]
    results = _run_scripts(pairs, cwd=work)
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr[-3000:]
        assert stdout.startswith("spikes: ")

    assert results == ["ok"] * len(pairs), [r for r in results if r != "ok"]
    assert not (work / CANARY).exists() and not (tmp_path / CANARY).exists()
    assert not Path(CANARY).exists()
    assert sorted(p.name for p in work.iterdir()) == sorted(o.name for _, o in pairs + direct)
    for trace, out in traces + [(traces[0][0], direct[1][1])]:
        _assert_reproduces(trace, out)
    for out in (pairs[0][1], direct[0][1]):  # the hostile text changed nothing in the run
        assert np.array_equal(np.load(out)["spk"], base.spk.numpy())


def test_script_reproduces_a_run_whose_state_dict_sets_beta_and_threshold(tmp_path):
    """BUG (found by this fuzzing): the script builds RLeaky from ``cfg.beta``/``cfg.threshold``
    while the run used the uploaded state dict's ``beta``/``threshold``, so it does not
    reproduce the run.  (A state dict holding only the recurrent weights reproduces.)"""
    pytest.importorskip("snntorch")
    import torch

    cfg = SimConfig(recurrence="linear", num_neurons=4, weight_init="state_dict", num_steps=20,
                    amplitude=0.5)
    state = {**good_state_dict(4), "beta": torch.tensor(0.5),
             "threshold": torch.tensor([0.5, 1.0, 1.5, 2.0])}
    trace = service.run(cfg, pt_bytes=torch_bytes(state))
    check_script(snntorch_code(trace), trace)
    script, out = tmp_path / "sd.py", tmp_path / "sd.npz"
    script.write_text(snntorch_code(trace), encoding="utf-8")
    assert _run_scripts([(script, out)], cwd=tmp_path) == ["ok"]
    _assert_reproduces(trace, out)
