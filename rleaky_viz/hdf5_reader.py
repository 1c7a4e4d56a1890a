"""Reading an untrusted HDF5 file (a ``.nir`` upload) in a child process, bounded.

libhdf5 parses the file in C: a crafted file of a few kilobytes can make it loop
forever (it then also holds h5py's global lock, so every other read in the
process would wait), or inflate one compressed chunk to gigabytes.  So the
server never opens an uploaded file itself: :func:`read` runs this file as a
script in a fresh Python (``-I``: no user site, no environment, no working
directory on the path) that caps its own memory and CPU time, and kills it
after ``timeout`` seconds.  The child reads the bytes from stdin, walks the
``node`` group with the same bounds as before (objects, depth, values,
strings, filters, chunks, no links), and writes back plain data: a JSON
header and the arrays' raw bytes, of numeric dtypes only.  Nothing the child
writes is unpickled or evaluated; the parent rebuilds the arrays with
``numpy.frombuffer`` from a checked dtype.

This file imports only numpy and h5py (so the child starts in well under a
second) and nothing of the package; ``rleaky_viz.nirgraph`` imports its limits.
"""
from __future__ import annotations

import json
import re
import struct
import os
import subprocess
import sys
import threading
from typing import Optional

if __name__ == "__main__" and len(sys.argv) > 3:  # the child: the parent's numpy and h5py
    sys.path[:0] = [p for p in sys.argv[3].split(os.pathsep) if p]

import numpy as np  # noqa: E402

# what the reader accepts from a file (far more than one 1,000-neuron layer with an input
# layer of the same size holds, far less than what a hostile file could ask for)
MAX_OBJECTS = 200
MAX_DEPTH = 8
MAX_DATASET_ELEMENTS = 1_000_000
MAX_TOTAL_ELEMENTS = 2_100_000
MAX_TEXT = 256
MAX_EDGES = 64
# a compressed chunk is inflated whole to read any value of it: at most this many bytes
MAX_CHUNK_BYTES = 16 * 2**20
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# HDF5 filters a file written by nir.write (h5py) may use: deflate, shuffle, fletcher32, lzf
ALLOWED_FILTERS = {1, 2, 3, 32000}
# the child's own limits: its memory (data segment: heap and anonymous maps) and CPU seconds
CHILD_MEMORY_BYTES = 768 * 2**20
READ_SECONDS = 10.0

_DTYPE = re.compile(r"[<>|][fiub][1248]\Z")


class ReadError(ValueError):
    """The file cannot be read as a graph; the message says why (for the user)."""


def short_name(name) -> str:
    text = str(name)
    return repr(text[:40] + ("…" if len(text) > 40 else ""))


# ----------------------------------------------------------------------------- the child
class _Budget:
    def __init__(self):
        self.objects = 0
        self.elements = 0


def _check_dataset(ds, where: str, budget: _Budget, neurons_hi: int):
    import h5py

    if ds.is_virtual or ds.external:
        raise ReadError(f"{where} keeps its values outside the file; a NIR graph holds them in it")
    if ds.shape is None:
        raise ReadError(f"{where} is an empty dataset (no shape); a NIR graph holds values there")
    plist = ds.id.get_create_plist()
    for i in range(plist.get_nfilters()):
        code = plist.get_filter(i)[0]
        if code not in ALLOWED_FILTERS:
            raise ReadError(f"{where} is stored with HDF5 filter {code}; allowed: gzip, lzf, "
                            "shuffle, fletcher32")
    if ds.chunks is not None:
        chunk = int(np.prod(ds.chunks, dtype=np.float64)) * ds.dtype.itemsize
        if chunk > MAX_CHUNK_BYTES and chunk > ds.size * ds.dtype.itemsize:
            raise ReadError(f"{where} is stored in chunks of {chunk:,} bytes for {ds.size:,} "
                            f"values; at most {MAX_CHUNK_BYTES // 2**20} MB a chunk are allowed")
    text = h5py.check_string_dtype(ds.dtype)
    if text is not None:
        # fixed-length strings are as wide as their type says, compressed or not: refuse a wide
        # one before reading it (4 bytes a character at most in UTF-8)
        if text.length is not None and text.length > 4 * MAX_TEXT:
            raise ReadError(f"{where} holds strings of {text.length:,} bytes; at most "
                            f"{MAX_TEXT} characters are allowed")
        if ds.size > MAX_EDGES * 2:
            raise ReadError(f"{where} holds {ds.size:,} strings; at most {MAX_EDGES * 2} are allowed")
        values = ds[()]
        decoded = np.vectorize(lambda v: v.decode("utf-8", "replace") if isinstance(v, bytes)
                               else str(v), otypes=[object])(np.asarray(values, dtype=object))
        if any(len(v) > MAX_TEXT for v in np.ravel(decoded)):
            raise ReadError(f"{where} holds a string of more than {MAX_TEXT} characters")
        return decoded if decoded.ndim else str(decoded[()])
    if ds.dtype.kind not in "fiub":
        raise ReadError(f"{where} has values of type {ds.dtype}; a NIR graph holds numbers and names")
    if ds.size > MAX_DATASET_ELEMENTS:
        raise ReadError(f"{where} has {ds.size:,} values; at most {MAX_DATASET_ELEMENTS:,} are "
                        "allowed (a 1,000 × 1,000 weight matrix)")
    budget.elements += ds.size
    if budget.elements > MAX_TOTAL_ELEMENTS:
        raise ReadError(f"the graph holds more than {MAX_TOTAL_ELEMENTS:,} values; one layer of "
                        f"at most {neurons_hi:,} neurons needs far fewer")
    return np.asarray(ds[()])


def _read_group(group, where: str, depth: int, budget: _Budget, neurons_hi: int) -> dict:
    import h5py

    if depth > MAX_DEPTH:
        raise ReadError(f"{where} is nested more than {MAX_DEPTH} levels deep")
    out = {}
    for key in group.keys():
        budget.objects += 1
        if budget.objects > MAX_OBJECTS:
            raise ReadError(f"the file holds more than {MAX_OBJECTS} objects; one recurrent LIF "
                            "layer needs about 20")
        name = f"{where}/{key}"
        link = group.get(key, getlink=True)
        if not isinstance(link, h5py.HardLink):
            other = "another file" if isinstance(link, h5py.ExternalLink) else "elsewhere"
            raise ReadError(f"{short_name(name)} is a link to {other}; a NIR graph holds its "
                            "data itself")
        if key == "metadata":
            continue  # free-form notes of the writer: not read
        item = group[key]
        if isinstance(item, h5py.Group):
            out[key] = _read_group(item, name, depth + 1, budget, neurons_hi)
        elif isinstance(item, h5py.Dataset):
            out[key] = _check_dataset(item, short_name(name), budget, neurons_hi)
        else:
            raise ReadError(f"{short_name(name)} is neither a group nor a dataset")
    return out


def _encode(value, blobs: list):
    """The read content as JSON-able data, its numeric arrays' bytes appended to ``blobs``."""
    if isinstance(value, dict):
        return {"group": {str(k): _encode(v, blobs) for k, v in value.items()}}
    if isinstance(value, str):
        return {"text": value}
    if value.dtype == object:  # strings
        return {"texts": [str(v) for v in np.ravel(value)], "shape": list(value.shape)}
    a = np.ascontiguousarray(value)
    blobs.append(a.tobytes())
    return {"array": len(blobs) - 1, "dtype": a.dtype.str, "shape": list(a.shape)}


def _child(neurons_hi: int, seconds: float) -> int:
    """Read stdin's file, write the header and the arrays (or the refusal) to stdout."""
    try:  # POSIX: the child caps itself (the parent's timeout stands on every system)
        import resource

        for limit, value in ((resource.RLIMIT_DATA, CHILD_MEMORY_BYTES),
                             (resource.RLIMIT_CPU, int(seconds) + 1)):
            try:
                resource.setrlimit(limit, (value, value))
            except (OSError, ValueError):  # a system that does not let it (macOS's RLIMIT_DATA)
                pass
    except ImportError:  # Windows: no resource module
        pass
    import io

    import h5py

    data = sys.stdin.buffer.read()
    blobs: list = []
    try:
        with h5py.File(io.BytesIO(data), "r") as f:
            if "node" not in f or not isinstance(f.get("node", getlink=True), h5py.HardLink) \
                    or not isinstance(f["node"], h5py.Group):
                raise ReadError("the file has no 'node' group: it is not a NIR graph")
            header = {"content": _encode(_read_group(f["node"], "node", 0, _Budget(), neurons_hi),
                                         blobs),
                      "sizes": [len(b) for b in blobs]}
    except ReadError as e:
        header, blobs = {"error": str(e)}, []
    except MemoryError:
        header, blobs = {"error": "the file asks for more memory than a NIR graph needs"}, []
    except Exception as e:  # a damaged or odd HDF5 file: h5py's errors vary
        header, blobs = {"error": f"the file cannot be read as a NIR graph ({type(e).__name__})"}, []
    text = json.dumps(header).encode("utf-8")
    out = sys.stdout.buffer
    out.write(struct.pack("<Q", len(text)) + text)
    for b in blobs:
        out.write(b)
    out.flush()
    return 0


# ----------------------------------------------------------------------------- the parent
def _decode(node, blobs: list, depth: int = 0):
    if not isinstance(node, dict) or len(node) > 3 or depth > MAX_DEPTH + 2:
        raise ReadError("the reader's answer is malformed")
    if "group" in node and isinstance(node["group"], dict):
        return {str(k): _decode(v, blobs, depth + 1) for k, v in node["group"].items()}
    if "text" in node and isinstance(node["text"], str):
        return node["text"]
    shape = node.get("shape")
    if not (isinstance(shape, list) and all(isinstance(n, int) and n >= 0 for n in shape)):
        raise ReadError("the reader's answer is malformed")
    if "texts" in node and isinstance(node["texts"], list):
        texts = np.empty(len(node["texts"]), dtype=object)
        texts[:] = [str(t) for t in node["texts"]]
        return texts.reshape(shape)
    index, dtype = node.get("array"), node.get("dtype")
    if not (isinstance(index, int) and 0 <= index < len(blobs) and isinstance(dtype, str)
            and _DTYPE.match(dtype)):
        raise ReadError("the reader's answer is malformed")
    dtype = np.dtype(dtype)
    if int(np.prod(shape, dtype=np.float64)) * dtype.itemsize != len(blobs[index]):
        raise ReadError("the reader's answer is malformed")
    return np.frombuffer(blobs[index], dtype=dtype).reshape(shape).copy()


# children at once: each may use up to CHILD_MEMORY_BYTES, outside the server's memory gate
_CHILDREN = threading.BoundedSemaphore(2)


def read(data: bytes, neurons_hi: int, timeout: Optional[float] = None) -> dict:
    """The ``node`` group of an HDF5 file's bytes as nested dicts of numpy arrays and strings,
    read in a bounded child process.  Raises :class:`ReadError` saying why it cannot be."""
    timeout = READ_SECONDS if timeout is None else timeout
    # -I ignores PYTHONPATH and the user site: the child is told where this Python finds numpy
    # and h5py; its environment holds nothing of the server's (no secrets for a parser exploit)
    paths = os.pathsep.join(p for p in sys.path if p)
    command = [sys.executable, "-I", __file__, str(int(neurons_hi)), repr(float(timeout)), paths]
    env = {"PATH": os.defpath}
    with _CHILDREN:
        try:
            done = subprocess.run(command, input=data, capture_output=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            raise ReadError(f"the file could not be read within {timeout:g} s; a NIR graph of one "
                            "layer reads in well under a second") from None
        except (OSError, TypeError, ValueError):  # no usable Python to run the reader with
            raise ReadError("the reader could not start (this Python cannot run a child "
                            "process), so no NIR file can be opened here") from None
    return _answer_checked(done)


def _answer_checked(done) -> dict:
    """The child's answer read back; anything odd in it is a refusal, never a crash here."""
    try:
        return _answer(done)
    except ReadError:
        raise
    except Exception:
        raise ReadError("the reader's answer is malformed") from None


def _answer(done) -> dict:
    out = done.stdout
    if done.returncode < 0:
        raise ReadError("the file cannot be read as a NIR graph (the reader was stopped: it ran "
                        "out of the memory or time a NIR graph needs)")
    if done.returncode != 0 or len(out) < 8:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        raise ReadError("the reader could not read the file (it stopped with status "
                        f"{done.returncode}: {tail[0][:160]})")
    size = struct.unpack("<Q", out[:8])[0]
    header = json.loads(out[8:8 + size].decode("utf-8"))
    if not isinstance(header, dict):
        raise ReadError("the reader's answer is malformed")
    if "error" in header:
        raise ReadError(str(header["error"]))
    sizes = header.get("sizes")
    if not (isinstance(sizes, list) and all(isinstance(n, int) and n >= 0 for n in sizes)
            and 8 + size + sum(sizes) == len(out)):
        raise ReadError("the reader's answer is malformed")
    blobs, at = [], 8 + size
    for n in sizes:
        blobs.append(out[at:at + n])
        at += n
    content = _decode(header.get("content"), blobs)
    if not isinstance(content, dict):
        raise ReadError("the reader's answer is malformed")
    return content


if __name__ == "__main__":
    sys.exit(_child(int(sys.argv[1]), float(sys.argv[2])))
