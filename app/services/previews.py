"""3D previews of CAD files: STL, STEP and IGES converted to GLB for the three.js viewer.

The conversion runs in a separate process (``app/services/preview_worker.py``) with
an address-space limit (``RLIMIT_AS``), a CPU-time limit (``RLIMIT_CPU``), no core
dumps, a minimal environment (no secrets) and a wall-clock timeout after which it is
killed: OpenCASCADE can hang, exhaust memory or crash on hostile or broken files
(INTEGRATIONS.md §7.5), and none of that may take the web process or the worker down.

Units: every preview GLB is in **metres** (the glTF convention). STL carries no
unit and is taken to be millimetres; STEP and IGES are converted from the unit the
file declares. The viewer fits its camera to the bounding box, so the scale only
matters for the dimension read-out: ``Preview.size_mm`` gives it, and the viewer
computes the same figure from the GLB (bounding box × 1000).
"""

from __future__ import annotations

import json
import logging
import math
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from flask_babel import gettext as _

logger = logging.getLogger(__name__)

CAD_PREVIEW_TYPES = frozenset({"stl", "step", "iges"})  # FileType codes of app/services/uploads.py
GLB_CONTENT_TYPE = "model/gltf-binary"
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MEMORY_MB = 1536
MAX_GLB_BYTES = 256 * 1024 * 1024
WORKER = Path(__file__).with_name("preview_worker.py")
_LABELS = {"stl": "STL", "step": "STEP", "iges": "IGES"}
_STDERR_TAIL = 2000


class PreviewFailed(Exception):
    """No preview could be built; the message is safe to show to the project's members."""


@dataclass(frozen=True)
class Preview:
    """A converted model: the GLB (in metres), its bounding-box size in mm, its triangle count."""

    glb: bytes
    size_mm: tuple[float, float, float]
    triangles: int
    seconds: float = 0.0


def has_preview(file_type: str) -> bool:
    """Whether files of this type get a 3D preview."""
    return file_type in CAD_PREVIEW_TYPES


def _too_long() -> PreviewFailed:
    return PreviewFailed(_("The 3D preview took too long to build; the model may be very large or complex. "
                           "Download the file to view it in your CAD program."))


def _too_big() -> PreviewFailed:
    return PreviewFailed(_("The 3D preview needs more memory than allowed; the model is too large or too detailed. "
                           "Download the file to view it in your CAD program."))


def _unreadable(file_type: str) -> PreviewFailed:
    return PreviewFailed(_("No 3D preview could be built: the %(type)s file could not be read. It may be damaged; "
                           "export it again from your CAD program and upload a new version.",
                           type=_LABELS.get(file_type, file_type.upper())))


def _empty() -> PreviewFailed:
    return PreviewFailed(_("No 3D preview could be built: the file contains no geometry that can be shown."))


def _limits(memory_bytes: int, cpu_seconds: int) -> None:
    """In the child, before it runs: cap its address space and CPU time, and switch off core dumps."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 2))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _child_env() -> dict[str, str]:
    """A minimal environment: no database URLs, keys or tokens reach the process that parses the file."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TMPDIR": tempfile.gettempdir(),
        # One thread, few malloc arenas: the address-space limit then means what it says.
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MALLOC_ARENA_MAX": "2",
    }


def convert_to_glb(
    data: bytes, file_type: str, *, timeout_s: float = DEFAULT_TIMEOUT_S, memory_mb: int = DEFAULT_MEMORY_MB
) -> Preview:
    """Convert an STL, STEP or IGES file to a GLB in metres, in a limited subprocess.

    :param file_type: the ``FileType.code`` of app/services/uploads.py (``stl``, ``step``, ``iges``).
    :param timeout_s: wall-clock limit; the process is killed when it is reached.
    :param memory_mb: address-space limit of the process (it needs ~400 MB just to start).
    :raises PreviewFailed: unsupported type, unreadable or empty geometry, too slow, too big, crashed.
    """
    if file_type not in CAD_PREVIEW_TYPES:
        raise PreviewFailed(_("No 3D preview is available for this file type."))
    if not data:
        raise _empty()
    memory_bytes = int(memory_mb) * 1024 * 1024
    cpu_seconds = max(1, math.ceil(timeout_s)) + 1
    started = time.monotonic()
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(  # noqa: S603 (our own interpreter and script, fixed arguments)
            [sys.executable, "-I", str(WORKER), file_type],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            env=_child_env(),
            close_fds=True,
            preexec_fn=lambda: _limits(memory_bytes, cpu_seconds),  # noqa: PLW1509 (only setrlimit calls)
        )
        try:
            output, _unused = proc.communicate(data, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            logger.info("CAD preview (%s, %d bytes) killed after %.1f s", file_type, len(data), timeout_s)
            raise _too_long() from None
        errors.seek(0)
        stderr_tail = errors.read()[-_STDERR_TAIL:].decode("utf-8", errors="replace")
    seconds = time.monotonic() - started
    return _result(output, proc.returncode, file_type, stderr_tail, seconds)


def _result(output: bytes, returncode: int, file_type: str, stderr_tail: str, seconds: float) -> Preview:
    """Read the worker's answer (see the protocol in preview_worker.py)."""
    if returncode < 0:
        sig = -returncode
        logger.warning("CAD preview worker (%s) died from signal %d: %s", file_type, sig, stderr_tail)
        if sig in (signal.SIGXCPU, signal.SIGKILL):
            raise _too_long()
        if sig == signal.SIGABRT and ("bad_alloc" in stderr_tail or "memory" in stderr_tail.lower()):
            raise _too_big()
        raise _unreadable(file_type)
    line, newline, glb = output.partition(b"\n")
    try:
        header = json.loads(line) if newline else {}
    except ValueError:
        header = {}
    if not isinstance(header, dict) or "ok" not in header:
        logger.warning("CAD preview worker (%s) exited %d without an answer: %s", file_type, returncode, stderr_tail)
        if "MemoryError" in stderr_tail or "bad_alloc" in stderr_tail:
            raise _too_big()
        raise _unreadable(file_type)
    if not header["ok"]:
        error = header.get("error")
        logger.info("CAD preview (%s) refused: %s", file_type, error)
        if error == "memory":
            raise _too_big()
        if error == "empty":
            raise _empty()
        raise _unreadable(file_type)
    if len(glb) != header.get("glb_bytes") or not glb.startswith(b"glTF"):
        raise _unreadable(file_type)
    if len(glb) > MAX_GLB_BYTES:
        raise _too_big()
    x, y, z = (float(v) for v in header["size_mm"])
    return Preview(glb=glb, size_mm=(x, y, z), triangles=int(header["triangles"]), seconds=seconds)
