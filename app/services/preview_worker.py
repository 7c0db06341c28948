"""The CAD-to-GLB converter process, started by :func:`app.services.previews.convert_to_glb`.

Runs as ``python -I app/services/preview_worker.py <file_type>`` (a plain script: it
imports neither Flask nor the app, and sees no configuration or secrets), under the
memory and CPU limits its parent sets. Protocol:

- stdin: the uploaded file's bytes;
- stdout: one line of JSON, then (when ``"ok"`` is true) exactly ``glb_bytes`` bytes of GLB:
  ``{"ok": true, "size_mm": [x, y, z], "triangles": n, "glb_bytes": n}`` or
  ``{"ok": false, "error": "unreadable" | "empty" | "memory" | "unsupported"}``;
- stderr: whatever OpenCASCADE prints (file descriptor 1 is pointed at stderr before any
  conversion, so C++ messages can never corrupt the output).

Every GLB written is in **metres** (the glTF convention), whatever the source:

- STL has no unit; it is taken to be millimetres (what CAD and slicers write) and scaled by 0.001;
- STEP: cascadio 0.1.1 already writes metres (it honours the file's length unit);
- IGES: cascadio 0.1.1 writes millimetres (after converting the file's unit), so it is scaled by 0.001.

CAD files are Z-up and glTF is Y-up, so the root node also turns the model -90 degrees about
X (CAD ``(x, y, z)`` becomes glTF ``(x, z, -y)``): any glTF viewer shows it upright. The size
reported in ``size_mm`` is along the CAD file's own X, Y and Z.

The scene is also cleaned: names and ``extras`` of nodes, meshes and materials are dropped
(product names and STL headers can name a company or a person), and the root nodes are
wrapped in one node that carries the unit scale.
"""

from __future__ import annotations

import io
import json
import math
import os
import struct
import sys
from typing import Any, BinaryIO

GLB_MAGIC = b"glTF"
_JSON_CHUNK = 0x4E4F534A
_BIN_CHUNK = 0x004E4942
# Tessellation of B-rep faces: deflection relative to the edge size, so small and large parts
# get the same look; 0.3 rad (~17 degrees) keeps holes and fillets round.
TOL_LINEAR = 0.005
TOL_ANGULAR = 0.3
_TO_METRES = {"stl": 0.001, "step": 1.0, "iges": 0.001}
# CAD files are Z-up, glTF is Y-up: -90 degrees about X, so CAD (x, y, z) becomes glTF (x, z, -y).
Z_UP_TO_Y_UP = (-math.sqrt(0.5), 0.0, 0.0, math.sqrt(0.5))


class Refused(Exception):
    """The input cannot be previewed; ``code`` is one of the protocol's error codes."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def split_glb(glb: bytes) -> tuple[dict[str, Any], bytes]:
    """The JSON document and the binary chunk of a GLB (version 2)."""
    if len(glb) < 20 or glb[:4] != GLB_MAGIC:
        raise Refused("unreadable")
    version, length = struct.unpack_from("<II", glb, 4)
    if version != 2 or length > len(glb):
        raise Refused("unreadable")
    json_length, json_type = struct.unpack_from("<II", glb, 12)
    if json_type != _JSON_CHUNK:
        raise Refused("unreadable")
    document: dict[str, Any] = json.loads(glb[20 : 20 + json_length])
    offset = 20 + json_length
    binary = b""
    if offset + 8 <= length:
        bin_length, bin_type = struct.unpack_from("<II", glb, offset)
        if bin_type == _BIN_CHUNK:
            binary = glb[offset + 8 : offset + 8 + bin_length]
    return document, binary


def join_glb(document: dict[str, Any], binary: bytes) -> bytes:
    """A GLB from a JSON document and its binary buffer (chunks padded to 4 bytes)."""
    text = json.dumps(document, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    chunks = struct.pack("<II", len(text), _JSON_CHUNK) + text
    if binary:
        binary += b"\x00" * (-len(binary) % 4)
        chunks += struct.pack("<II", len(binary), _BIN_CHUNK) + binary
    return GLB_MAGIC + struct.pack("<II", 2, 12 + len(chunks)) + chunks


def normalise(glb: bytes, scale: float) -> bytes:
    """Drop names and extras, and put the scene under one root node: scaled to metres, turned Y-up."""
    document, binary = split_glb(glb)
    for kind in ("nodes", "meshes", "materials"):
        for item in document.get(kind, []):
            item.pop("name", None)
            item.pop("extras", None)
    document.pop("extras", None)
    scenes = document.get("scenes") or []
    if not scenes or not document.get("meshes"):
        raise Refused("empty")
    nodes = document.setdefault("nodes", [])
    for scene in scenes:
        scene.pop("name", None)
        scene.pop("extras", None)
        root: dict[str, Any] = {"children": list(scene.get("nodes", [])), "rotation": list(Z_UP_TO_Y_UP)}
        if scale != 1.0:
            root["scale"] = [scale, scale, scale]
        nodes.append(root)
        scene["nodes"] = [len(nodes) - 1]
    document["scene"] = document.get("scene", 0)
    document["asset"] = {"version": "2.0", "generator": "Plasticonnect Hub preview (metres)"}
    return join_glb(document, binary)


def stl_to_glb(data: bytes) -> bytes:
    """An STL (ASCII or binary) as a GLB, still in the file's units."""
    import trimesh

    try:
        mesh = trimesh.load(io.BytesIO(data), file_type="stl", force="mesh")
    except MemoryError:
        raise
    except Exception as exc:  # trimesh raises many kinds of errors on damaged files
        raise Refused("unreadable") from exc
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise Refused("empty")
    mesh.metadata.clear()  # the 80-byte header or the solid's name
    glb = mesh.export(file_type="glb")
    if not isinstance(glb, bytes):
        raise Refused("unreadable")
    return glb


def brep_to_glb(data: bytes, file_type: str) -> bytes:
    """A STEP or IGES file tessellated by OpenCASCADE (cascadio) as a GLB."""
    import cascadio

    kind = cascadio.FileType.STEP if file_type == "step" else cascadio.FileType.IGES
    glb = cascadio.to_glb_bytes(
        data, kind, tol_linear=TOL_LINEAR, tol_angular=TOL_ANGULAR, tol_relative=True,
        merge_primitives=True, use_parallel=False,
    )
    if not glb:
        raise Refused("unreadable")
    return bytes(glb)


def measure(glb: bytes) -> tuple[tuple[float, float, float], int]:
    """The bounding-box size in millimetres and the triangle count of a GLB in metres."""
    import numpy as np
    import trimesh

    try:
        scene = trimesh.load(io.BytesIO(glb), file_type="glb", force="scene")
    except MemoryError:
        raise
    except Exception as exc:
        raise Refused("unreadable") from exc
    if not isinstance(scene, trimesh.Scene):
        raise Refused("unreadable")
    triangles = 0
    for geometry in scene.geometry.values():
        if isinstance(geometry, trimesh.Trimesh):
            triangles += len(geometry.faces)
    bounds = scene.bounds
    if triangles == 0 or bounds is None or not np.all(np.isfinite(bounds)):
        raise Refused("empty")
    extents = (np.asarray(bounds[1]) - np.asarray(bounds[0])) * 1000.0
    if float(extents.max()) <= 0:
        raise Refused("empty")
    # glTF (x, y, z) is CAD (x, z, -y): report the size along the CAD file's own X, Y, Z.
    size = (round(float(extents[0]), 4), round(float(extents[2]), 4), round(float(extents[1]), 4))
    return size, int(triangles)


def convert(data: bytes, file_type: str) -> tuple[bytes, tuple[float, float, float], int]:
    """The normalised GLB, its size in mm and its triangle count."""
    if file_type not in _TO_METRES:
        raise Refused("unsupported")
    if not data.strip():
        raise Refused("empty")
    raw = stl_to_glb(data) if file_type == "stl" else brep_to_glb(data, file_type)
    glb = normalise(raw, _TO_METRES[file_type])
    size, triangles = measure(glb)
    return glb, size, triangles


def main(argv: list[str], stdin: BinaryIO) -> int:
    """Convert stdin to the protocol's stdout; the exit code is 0 on success, 2 on a refusal."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # OpenCASCADE prints to stdout: send it to stderr with everything else
    sys.stdout = sys.stderr
    file_type = argv[1] if len(argv) > 1 else ""
    try:
        glb, size, triangles = convert(stdin.read(), file_type)
    except Refused as exc:
        header: dict[str, Any] = {"ok": False, "error": exc.code}
        glb = b""
    except MemoryError:
        header = {"ok": False, "error": "memory"}
        glb = b""
    else:
        header = {"ok": True, "size_mm": list(size), "triangles": triangles, "glb_bytes": len(glb)}
    out.write(json.dumps(header).encode() + b"\n" + glb)
    out.flush()
    return 0 if header["ok"] else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv, sys.stdin.buffer))
