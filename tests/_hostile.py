"""Shared material for the fuzz tests (tests/test_fuzz_*.py): hostile text, strategies that
build URL queries from SimConfig's own field metadata, small-run caps, and byte-level builders
for hostile archives (zip bombs, lying headers) that never hold the inflated data in memory.

Not a test module (no ``test_`` prefix): imported as ``from _hostile import ...`` (tests/ is on
sys.path, as for ``_oracle``).
"""
from __future__ import annotations

import dataclasses
import functools
import io
import math
import os
import struct
import zipfile
import zlib
from dataclasses import fields

from hypothesis import HealthCheck, settings, strategies as st

from rleaky_viz import SimConfig
from rleaky_viz.config import SURROGATE_FIELDS

FIELDS = {f.name: f for f in fields(SimConfig)}
FIELD_NAMES = tuple(FIELDS)
# RLEAKY_FUZZ_SCALE=10 runs every fuzz test with ten times the examples (a longer local hunt);
# the default keeps the three fuzz files well under 40 s together on a 2-core machine.
SCALE = max(0.1, float(os.environ.get("RLEAKY_FUZZ_SCALE", "1")))


def fuzz_settings(name: str, max_examples: int, **extra) -> settings:
    """A hypothesis profile for one fuzz test module (registered, never loaded globally)."""
    profile = f"rleaky-fuzz-{name}-{max_examples}"
    settings.register_profile(
        profile, max_examples=max(1, int(max_examples * SCALE)), deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                               HealthCheck.data_too_large, HealthCheck.filter_too_much],
        **extra)
    return settings.get_profile(profile)


def base_type(name: str) -> str:
    return str(FIELDS[name].type).replace(" ", "").split("|")[0]


# ----------------------------------------------------------------------------- hostile text
CANARY = "CANARY"

# Pieces an attacker puts in a link value: quotes that end a docstring or a literal, code
# after them, escapes, line breaks Python (or a browser) honours, NUL, format syntax, HTML
# that ends a <script>, and numbers at the edges of float64 / float32.
HOSTILE_PIECES = (
    '"""', "'''", '"', "'", "\\", "\\\\", '\\"""', "\n", "\r", "\r\n", "\x0c", "\x0b", "\x00",
    "\u2028", "\u2029", "\x85", "\ufeff", "\udcff", "é", "🦀", "\u202e", "\x1b[31m",
    "{", "}", "{{", "}}", "{0}", "{cfg}", "{trace.config}", "%s", "%(x)s", "${x}", "#",
    "</script>", "<script>", "<!--", "-->", "]]>", "</SCRIPT >", "&lt;", "`",
    f'"""; import os; os.system("touch {CANARY}")',
    f'"""\nopen("{CANARY}", "w").write("x")\n"""',
    f"'''\nopen('{CANARY}', 'w')\n'''",
    f"\n}}\nopen('{CANARY}', 'w')\nX = {{\n",
    f"\\\n__import__('os').system('touch {CANARY}')",
    f"__import__('os').system('touch {CANARY}')",
    "1e309", "-1e309", "1e308", "-0.0", "0.0", "nan", "NaN", "-nan", "inf", "-inf", "Infinity",
    "1e-300", "-1e-300", "4e-324", "1e-45", "1.1754943508222875e-38", "3.4028235e38",
    "3.5e38", "9" * 400, "-" + "9" * 400, "1" + "0" * 5000, str(2**63), str(-(2**63)),
    "0x10", "0b1", "1_000", " 1 ", "+1", "1.", ".5", "1e3", "١", "٣٠", "１", "Ⅻ",
    "", " ", "none", "None", "null", "true", "True", "TRUE", "yes", "on", "[]", "{}",
)


@st.composite
def hostile_text(draw, max_pieces: int = 6) -> str:
    """Text built from hostile pieces, arbitrary unicode, and sometimes a very long run."""
    kind = draw(st.integers(0, 9))
    if kind <= 4:
        parts = draw(st.lists(st.one_of(st.sampled_from(HOSTILE_PIECES), st.text(max_size=8)),
                              min_size=1, max_size=max_pieces))
        return "".join(parts)
    if kind <= 7:
        return draw(st.text(max_size=60))
    if kind == 8:
        return draw(st.sampled_from(HOSTILE_PIECES))
    piece = draw(st.sampled_from(('"""', "\\", "x", "(", "9", "{", "</script>")))
    return piece * draw(st.sampled_from((67, 201, 5_000, 70_000)))


# ----------------------------------------------------------------------------- field values
def _num_text(value) -> st.SearchStrategy[str]:
    return st.sampled_from((str(value), repr(value), f" {value} ", f"{value}\n"))


@st.composite
def valid_text(draw, name: str) -> str:
    """A value the field accepts on its own, written as a link writes it (and variants)."""
    f, typ = FIELDS[name], base_type(name)
    meta = f.metadata
    if typ == "bool":
        return draw(st.sampled_from(("true", "false", "1", "0", "yes", "no", "True", "FALSE")))
    if typ == "int":
        return str(draw(st.integers(meta["lo"], meta["hi"])))
    if typ == "float":
        lo, hi = meta["lo"], meta["hi"]
        value = draw(st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False))
        if meta.get("min_abs") and value != 0 and abs(value) < meta["min_abs"]:
            value = math.copysign(meta["min_abs"], value)
        if 0 < abs(value) < 1e-30:
            value = 0.0
        return repr(value)
    if meta.get("choices"):
        return draw(st.sampled_from(meta["choices"]))
    if meta.get("kind") == "times":
        steps = draw(st.lists(st.integers(0, 20_000), max_size=8))
        return ",".join(map(str, steps))
    if meta.get("kind") == "expression":
        return draw(st.sampled_from(("t", "0.5", "step(t - 3)", "0.3 + 0.2*sin(2*pi*t/50)",
                                     "where(t % 7 < 2, 1.5, 0)", "n * 0.1 + t / 40",
                                     "1e3*step(t-2)", "clip(t - 10, 0, 2)", "  t/10  ")))
    return draw(st.text(max_size=20))


def boundary_values(name: str) -> tuple[str, ...]:
    """The edges of a field's range, just inside and just outside, in text."""
    f, typ = FIELDS[name], base_type(name)
    meta = f.metadata
    if typ == "int":
        lo, hi = meta["lo"], meta["hi"]
        return tuple(map(str, (lo, hi, lo - 1, hi + 1, -1, 0, 2**31, 10**30)))
    if typ == "float":
        lo, hi = float(meta["lo"]), float(meta["hi"])
        out = [lo, hi, math.nextafter(lo, -math.inf), math.nextafter(hi, math.inf),
               lo - 1e-9, hi + 1e-9, -0.0, 0.0, 1e-300, -1e-300, 1e-39, 1e-6, 9.99e-7]
        return tuple(repr(v) for v in out)
    if meta.get("choices"):
        return tuple(c.upper() for c in meta["choices"][:2]) + (meta["choices"][0] + " ", "")
    return ()


@st.composite
def field_value(draw, name: str):
    """A query value for field ``name``: valid, a boundary, or hostile; sometimes a list."""
    bounds = boundary_values(name)
    options = [valid_text(name), hostile_text()]
    if bounds:
        options.append(st.sampled_from(bounds))
    value = draw(st.one_of(*options))
    shape = draw(st.integers(0, 9))
    if shape == 0:  # a repeated parameter (?beta=1&beta=2): a list of values
        return [value] + draw(st.lists(st.one_of(*options), max_size=2))
    if shape == 1:
        return []
    return value


UNKNOWN_KEYS = ("", " ", "Beta", "beta ", "__class__", "__init__", "errors", "base", "config",
                "expression\x00", "seed[]", "0", "\u0062eta\u200b", "page", "embed")

SIZE_FIELDS = ("num_steps", "num_neurons", "batch_size", "grid_size", "conv2d_channels")
# what the fields a small run can draw from, for the runs under hypothesis
SMALL_CAPS = {"num_steps": 50, "num_neurons": 6, "batch_size": 2, "grid_size": 5,
              "conv2d_channels": 2}


@st.composite
def query_dicts(draw, names=FIELD_NAMES, max_size: int = 8) -> dict:
    """A URL query: real field names (each with a valid, boundary or hostile value), unknown keys."""
    keys = draw(st.lists(st.one_of(st.sampled_from(names), st.sampled_from(UNKNOWN_KEYS)),
                         max_size=max_size, unique=True))
    query = {}
    for key in keys:
        query[key] = draw(field_value(key)) if key in FIELDS else draw(hostile_text())
    return query


RUN_SHAPING = ("reset_mechanism", "reset_delay", "inhibition", "state_quant_bits", "surrogate",
               *(n for names in SURROGATE_FIELDS.values() for n in names), "weight_init", "weight_gain", "weight_sparsity",
               "excitatory_fraction", "graded_spikes_factor", "beta", "threshold", "V",
               "amplitude", "offset", "noise_std", "num_neurons", "batch_size", "grid_size",
               "conv2d_channels", "kernel_size", "kernel_init", "onset", "period", "width",
               "rate", "input_spread", "expression", "seed", "num_steps")


@st.composite
def run_queries(draw, max_size: int = 6) -> dict:
    """A hostile query over a valid core (recurrence, stimulus and a few fields that shape the
    run), so that many of them describe a run that can be made, of every kind."""
    query = draw(query_dicts(max_size=max_size))
    core = {"recurrence": draw(st.sampled_from(FIELDS["recurrence"].metadata["choices"])),
            "stimulus": draw(st.sampled_from([s for s in FIELDS["stimulus"].metadata["choices"]
                                              if s != "csv"]))}
    for key in draw(st.lists(st.sampled_from(RUN_SHAPING), max_size=6, unique=True)):
        core[key] = draw(valid_text(key))
    for key, value in core.items():  # the core wins for its own keys, the rest stay hostile
        query.pop(key, None)
    return {**query, **core} if draw(st.booleans()) else {**core, **query}


def small(cfg: SimConfig) -> SimConfig:
    """``cfg`` with the sizes of the fields it uses capped, so a run takes milliseconds."""
    changes = {k: min(getattr(cfg, k), cap) for k, cap in SMALL_CAPS.items()
               if cfg.is_used(k) and getattr(cfg, k) > cap}
    return dataclasses.replace(cfg, **changes) if changes else cfg


# ----------------------------------------------------------------------------- archives
@dataclasses.dataclass
class Member:
    name: str
    data: bytes                # what is written to the archive (already compressed if deflated)
    method: int = zipfile.ZIP_STORED
    file_size: int | None = None   # declared uncompressed size (None: len of the real data)
    crc: int | None = None         # declared CRC-32 (None: of the stored data)


def build_zip(members: list[Member], prefix: bytes = b"") -> bytes:
    """A zip archive written byte by byte, so that its headers can say what they like.

    ``prefix``: bytes before the first local header (a polyglot: zipfile reads the archive
    from its end, torch.load decides what a file is from its first bytes).
    """
    out = io.BytesIO()
    out.write(prefix)
    central = []
    for m in members:
        name = m.name.encode()
        size = len(m.data) if m.file_size is None else m.file_size
        crc = (zlib.crc32(m.data) if m.crc is None else m.crc) & 0xFFFFFFFF
        offset = out.tell()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, m.method, 0, 0x21, crc,
                              len(m.data), size, len(name), 0))
        out.write(name)
        out.write(m.data)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, m.method, 0,
                                   0x21, crc, len(m.data), size, len(name), 0, 0, 0, 0, 0,
                                   offset) + name)
    start = out.tell()
    for c in central:
        out.write(c)
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central),
                          out.tell() - start, start, 0))
    return out.getvalue()


@functools.lru_cache(maxsize=None)
def deflated_zeros(mib: int) -> tuple[bytes, int]:
    """A raw DEFLATE stream of ``mib`` MiB of zero bytes, and its CRC-32, built without ever
    holding the inflated data: one fully flushed (byte-aligned, dictionary reset) block for a
    MiB, repeated, then the final block."""
    chunk = bytes(1 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    assert block == again, "zlib's full-flush blocks are not repeatable here"
    tail = c.flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(chunk, crc)
    return block * mib + tail, crc


def torch_members(data: bytes) -> list[Member]:
    """The members of a torch.save archive, as stored."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return [Member(i.filename, z.read(i.filename)) for i in z.infolist()]


def torch_bytes(obj, **kwargs) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf, **kwargs)
    return buf.getvalue()


def good_state_dict(n: int = 4, scale: float = 0.1):
    import torch

    g = torch.Generator().manual_seed(n)
    return {"recurrent.weight": (torch.rand(n, n, generator=g) - 0.5) * scale,
            "recurrent.bias": torch.zeros(n)}


def deflate_bomb(mib: int = 512, lie: bool = False) -> bytes:
    """A torch.save archive of a good state dict whose first storage is replaced by a DEFLATE
    stream inflating to ``mib`` MiB (about 1 kB per MiB). ``lie``: its headers declare the 64
    bytes torch expects, with the CRC-32 of 64 zero bytes (what a reader trusting them sees)."""
    stream, crc = deflated_zeros(mib)
    members = torch_members(torch_bytes(good_state_dict(4)))
    out = []
    for m in members:
        if m.name.endswith("/data/0"):
            if lie:
                m = Member(m.name, stream, zipfile.ZIP_DEFLATED, file_size=64, crc=zlib.crc32(bytes(64)))
            else:
                m = Member(m.name, stream, zipfile.ZIP_DEFLATED, file_size=(mib << 20) & 0xFFFFFFFF,
                           crc=crc)
        out.append(m)
    return build_zip(out)


class Canary:
    """Unpickling this writes the canary file (what a pickle-based attack on an upload does)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (_touch, (self.path,))


def _touch(path):  # pragma: no cover - must never run
    with open(path, "w") as f:
        f.write("pwned")
    return path


class Boom:
    """Unpickling this runs os.system (the classic payload)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))
