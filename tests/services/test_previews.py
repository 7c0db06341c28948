"""CAD previews: STL, STEP and IGES to GLB in a limited subprocess, and the task that stores the result.

The STEP and IGES samples in tests/fixtures/cad/ were written by hand for these tests
(a 40 x 30 x 10 mm block with a 10 mm through hole as an AP214 B-rep, and a 40 x 30 x 10 mm
box as six IGES 5.3 B-spline surfaces).
"""

from __future__ import annotations

import ast
import hashlib
import io
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import trimesh
from flask import Flask

from app.extensions import db
from app.integrations.storage import get_storage
from app.models.contracts import Project
from app.models.projects import PreviewStatus, ProjectFile, ProjectFileVersion
from app.services import previews, uow
from app.services.preview_worker import join_glb, split_glb
from app.services.previews import PreviewFailed, convert_to_glb
from app.tasks import previews as preview_tasks

CAD = Path(__file__).resolve().parent.parent / "fixtures" / "cad"
STEP_BLOCK = CAD / "block_40x30x10_hole.step"
IGES_BOX = CAD / "box_40x30x10.igs"
BLOCK_VOLUME_MM3 = 40 * 30 * 10 - 3.141592653589793 * 5**2 * 10  # the box minus the hole


def _box_stl(header: bytes = b"") -> bytes:
    mesh = trimesh.creation.box(extents=(40, 30, 10))
    data = mesh.export(file_type="stl")
    return header.ljust(80, b" ") + data[80:] if header else data


def _load(glb: bytes) -> trimesh.Scene:
    scene = trimesh.load(io.BytesIO(glb), file_type="glb", force="scene")
    assert isinstance(scene, trimesh.Scene)
    return scene


def _iges_in_inches(data: bytes) -> bytes:
    """The same box with the global section's unit flag set to inches (1, ``4HINCH``)."""
    lines = data.decode().splitlines()
    out = []
    for line in lines:
        if line[72] == "G":
            body = line[:72].rstrip().replace(",2,2HMM,", ",1,4HINCH,")
            assert len(body) <= 72
            line = f"{body:<72}{line[72:]}"
        out.append(line)
    return ("\n".join(out) + "\n").encode()


# Conversion ---------------------------------------------------------------------------------


def test_stl_converts_to_a_glb_in_metres_without_its_header():
    preview = convert_to_glb(_box_stl(b"ACME Plastics GmbH - confidential housing"), "stl")

    assert preview.glb.startswith(b"glTF")
    assert preview.size_mm == pytest.approx((40, 30, 10))
    assert preview.triangles == 12
    scene = _load(preview.glb)
    # glTF is Y-up and in metres: CAD (40, 30, 10) mm is (0.04, 0.01, 0.03) m along glTF x, y, z.
    assert scene.extents == pytest.approx((0.04, 0.01, 0.03))
    assert b"ACME" not in preview.glb
    document, _binary = split_glb(preview.glb)
    assert document["asset"]["version"] == "2.0"
    assert all("name" not in node and "extras" not in node for node in document["nodes"])
    assert all("extras" not in mesh for mesh in document["meshes"])


def test_ascii_stl_converts_too():
    ascii_stl = trimesh.creation.box(extents=(12, 8, 4)).export(file_type="stl_ascii").encode()

    preview = convert_to_glb(ascii_stl, "stl")

    assert preview.size_mm == pytest.approx((12, 8, 4))


def test_step_block_with_a_hole_converts_at_its_size_in_millimetres():
    preview = convert_to_glb(STEP_BLOCK.read_bytes(), "step")

    assert preview.glb.startswith(b"glTF")
    assert preview.size_mm == pytest.approx((40, 30, 10), abs=1e-3)
    assert preview.triangles > 24  # more than a plain box: the hole's wall is tessellated
    mesh = _load(preview.glb).to_geometry()
    assert mesh.extents == pytest.approx((0.04, 0.01, 0.03), abs=1e-6)  # metres, Y-up
    # The hole is there: the volume is the box's minus the cylinder's (within tessellation error).
    assert abs(mesh.volume) * 1e9 == pytest.approx(BLOCK_VOLUME_MM3, rel=0.01)
    assert b"block with hole" not in preview.glb  # the STEP product name is dropped


def test_iges_box_converts_at_its_size_in_millimetres():
    preview = convert_to_glb(IGES_BOX.read_bytes(), "iges")

    assert preview.glb.startswith(b"glTF")
    assert preview.size_mm == pytest.approx((40, 30, 10), abs=1e-3)
    assert preview.triangles >= 12
    assert _load(preview.glb).extents == pytest.approx((0.04, 0.01, 0.03), abs=1e-6)


def test_iges_units_declared_by_the_file_are_honoured():
    preview = convert_to_glb(_iges_in_inches(IGES_BOX.read_bytes()), "iges")

    assert preview.size_mm == pytest.approx((40 * 25.4, 30 * 25.4, 10 * 25.4), rel=1e-4)


def test_step_units_declared_by_the_file_are_honoured():
    in_metres = STEP_BLOCK.read_bytes().replace(b"SI_UNIT(.MILLI.,.METRE.)", b"SI_UNIT($,.METRE.)")

    preview = convert_to_glb(in_metres, "step")

    assert preview.size_mm == pytest.approx((40_000, 30_000, 10_000), rel=1e-4)


GARBAGE = b"\x00\x01garbage\xff" * 50


@pytest.mark.parametrize(
    ("data", "file_type"),
    [
        (GARBAGE, "stl"),
        (GARBAGE, "step"),
        (GARBAGE, "iges"),
        (b"ISO-10303-21;\nHEADER;\nENDSEC;\nDATA;\nENDSEC;\nEND-ISO-10303-21;\n", "step"),
        (b"solid empty\nendsolid empty\n", "stl"),
        (b"S" * 72 + b"S      1\n", "iges"),
    ],
    ids=["garbage-stl", "garbage-step", "garbage-iges", "step-without-shapes", "stl-without-facets", "iges-start-only"],
)
def test_invalid_or_empty_geometry_fails_with_a_message(file_type: str, data: bytes):
    with pytest.raises(PreviewFailed) as caught:
        convert_to_glb(data, file_type)

    message = str(caught.value)
    assert "No 3D preview could be built" in message
    assert "Traceback" not in message and "StepFile" not in message


def test_a_step_point_without_a_solid_is_empty():
    from tests.factories import step_bytes

    with pytest.raises(PreviewFailed, match="could not be read|no geometry"):
        convert_to_glb(step_bytes(), "step")


@pytest.mark.parametrize(("data", "file_type"), [(b"", "stl"), (b"0\nSECTION\n", "dxf"), (b"%PDF-1.7", "pdf")])
def test_nothing_to_convert_fails_without_starting_a_process(data: bytes, file_type: str, monkeypatch):
    monkeypatch.setattr(previews.subprocess, "Popen", _must_not_run)

    with pytest.raises(PreviewFailed):
        convert_to_glb(data, file_type)


def _must_not_run(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("no process should be started")


def test_the_timeout_kills_a_slow_conversion():
    large = trimesh.creation.icosphere(subdivisions=7, radius=50).export(file_type="stl")
    assert len(large) > 10_000_000

    started = time.monotonic()
    with pytest.raises(PreviewFailed, match="took too long"):
        convert_to_glb(large, "stl", timeout_s=0.01)
    assert time.monotonic() - started < 5


# The limits, with stand-in workers (the real one is too well-behaved to show them) -----------


def _fake_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    script = tmp_path / "fake_worker.py"
    script.write_text(textwrap.dedent(body))
    monkeypatch.setattr(previews, "WORKER", script)


def test_a_hanging_worker_is_killed_at_the_wall_clock_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    _fake_worker(tmp_path, monkeypatch, "import sys, time\nsys.stdin.buffer.read()\ntime.sleep(60)\n")

    started = time.monotonic()
    with pytest.raises(PreviewFailed, match="took too long"):
        convert_to_glb(b"solid x\nendsolid x\n", "stl", timeout_s=1.0)
    assert 0.9 < time.monotonic() - started < 10


def test_a_worker_that_needs_too_much_memory_fails_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    _fake_worker(tmp_path, monkeypatch, "import sys\nsys.stdin.buffer.read()\nblob = bytearray(2 * 1024 ** 3)\n")

    with pytest.raises(PreviewFailed, match="more memory than allowed"):
        convert_to_glb(b"solid x\nendsolid x\n", "stl", memory_mb=256)


def test_a_crashing_worker_is_reported_as_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    _fake_worker(tmp_path, monkeypatch, "import os, signal, sys\nsys.stdin.buffer.read()\n"
                                        "os.kill(os.getpid(), signal.SIGSEGV)\n")

    with pytest.raises(PreviewFailed, match="STEP file could not be read"):
        convert_to_glb(b"ISO-10303-21;", "step")


def test_the_worker_runs_under_the_limits_with_a_clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The stand-in reports its own RLIMIT_AS, RLIMIT_CPU and environment through the protocol."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-leak")
    glb = join_glb({"asset": {"version": "2.0"}}, b"")
    _fake_worker(tmp_path, monkeypatch, f"""
        import json, os, resource, sys
        sys.stdin.buffer.read()
        memory = resource.getrlimit(resource.RLIMIT_AS)[0] // (1024 * 1024)
        cpu = resource.getrlimit(resource.RLIMIT_CPU)[0]
        leaked = 1 if "AWS_SECRET_ACCESS_KEY" in os.environ else 0
        glb = {glb!r}
        header = {{"ok": True, "size_mm": [memory, cpu, leaked], "triangles": 1, "glb_bytes": len(glb)}}
        sys.stdout.buffer.write(json.dumps(header).encode() + b"\\n" + glb)
    """)

    preview = convert_to_glb(b"solid x\nendsolid x\n", "stl", timeout_s=7, memory_mb=700)

    assert preview.size_mm == (700, 8, 0)  # 700 MB of address space, ceil(7 s) + 1 of CPU, no secrets


def test_a_worker_answer_that_does_not_match_its_header_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    _fake_worker(tmp_path, monkeypatch, """
        import sys
        sys.stdin.buffer.read()
        sys.stdout.buffer.write(b'{"ok": true, "size_mm": [1, 1, 1], "triangles": 1, "glb_bytes": 999}\\nglTF')
    """)

    with pytest.raises(PreviewFailed, match="could not be read"):
        convert_to_glb(b"solid x\nendsolid x\n", "stl")


# The task --------------------------------------------------------------------------------------


def _version(data: bytes, file_type: str, *, status: PreviewStatus = PreviewStatus.PENDING) -> ProjectFileVersion:
    """A committed version of a project file whose blob is in the test storage."""
    from tests import factories

    contract = factories.contract()
    project = Project(contract_id=contract.id, job_id=contract.job_id, company_id=contract.company_id,
                      expert_id=contract.expert_id)
    db.session.add(project)
    db.session.flush()
    uploader = contract.expert.user
    file = ProjectFile(project_id=project.id, title="Housing", created_by_id=uploader.id, version_count=1)
    db.session.add(file)
    db.session.flush()
    key = f"projects/{project.id}/files/{hashlib.sha256(data).hexdigest()[:32]}"
    get_storage().put(key, data, content_type="application/octet-stream")
    version = ProjectFileVersion(
        file_id=file.id, number=1, storage_key=key, original_name=f"housing.{file_type}", file_type=file_type,
        content_type="application/octet-stream", size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest(),
        uploaded_by_id=uploader.id, preview_status=status,
    )
    db.session.add(version)
    uow.commit()
    return version


def _stored_keys(app: Flask) -> set[str]:
    root = Path(app.config["STORAGE_LOCAL_PATH"])
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def announced(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any], str]]:
    """The Socket.IO events the task emits."""
    from app.extensions import socketio

    events: list[tuple[str, dict[str, Any], str]] = []
    monkeypatch.setattr(socketio, "emit", lambda event, data, to: events.append((event, data, to)))
    return events


def test_build_preview_stores_a_glb_and_marks_the_version_ready(app: Flask, announced: list[Any]):
    version = _version(STEP_BLOCK.read_bytes(), "step")
    version_id, file_id, project_id = version.id, version.file_id, version.file.project_id
    before = _stored_keys(app)

    assert preview_tasks.build_preview(version_id) is True

    db.session.expire_all()
    version = db.session.get(ProjectFileVersion, version_id)
    assert version.preview_status is PreviewStatus.READY
    assert version.preview_error == ""
    assert version.preview_key and version.preview_key.startswith(f"projects/{project_id}/previews/")
    assert _stored_keys(app) - before == {version.preview_key}
    glb = get_storage().get(version.preview_key)
    assert glb.startswith(b"glTF")
    assert _load(glb).extents == pytest.approx((0.04, 0.01, 0.03), abs=1e-6)
    payload = {"project_id": project_id, "version_id": version_id, "file_id": file_id, "status": "ready"}
    assert announced == [("file_preview", payload, f"project:{project_id}:{side}")
                         for side in ("company", "expert", "hub")]


def test_build_preview_twice_does_nothing_the_second_time(app: Flask, announced: list[Any], monkeypatch):
    version_id = _version(_box_stl(), "stl").id
    assert preview_tasks.build_preview(version_id) is True
    db.session.expire_all()
    key = db.session.get(ProjectFileVersion, version_id).preview_key
    keys = _stored_keys(app)
    monkeypatch.setattr(previews.subprocess, "Popen", _must_not_run)

    assert preview_tasks.build_preview(version_id) is False

    db.session.expire_all()
    version = db.session.get(ProjectFileVersion, version_id)
    assert version.preview_status is PreviewStatus.READY and version.preview_key == key
    assert _stored_keys(app) == keys
    assert len(announced) == 3  # once, to each side's room


def test_a_broken_file_marks_the_version_failed_with_a_message(app: Flask, announced: list[Any]):
    version_id = _version(b"ISO-10303-21;\nHEADER;\nthis is not STEP\nEND-ISO-10303-21;\n", "step").id
    keys = _stored_keys(app)

    assert preview_tasks.build_preview(version_id) is False

    db.session.expire_all()
    version = db.session.get(ProjectFileVersion, version_id)
    assert version.preview_status is PreviewStatus.FAILED
    assert version.preview_key is None
    assert "STEP file could not be read" in version.preview_error
    assert _stored_keys(app) == keys
    assert [data["status"] for _event, data, _to in announced] == ["failed"] * 3  # each side's room
    assert preview_tasks.build_preview(version_id) is False  # not retried blindly


def test_a_missing_blob_marks_the_version_failed(app: Flask, announced: list[Any]):
    version = _version(_box_stl(), "stl")
    version_id = version.id
    get_storage().delete(version.storage_key)

    assert preview_tasks.build_preview(version_id) is False

    db.session.expire_all()
    version = db.session.get(ProjectFileVersion, version_id)
    assert version.preview_status is PreviewStatus.FAILED
    assert "no longer available" in version.preview_error


def test_an_unexpected_error_is_recorded_not_left_pending(app: Flask, announced: list[Any], monkeypatch):
    version_id = _version(_box_stl(), "stl").id

    def no_process(*args: Any, **kwargs: Any) -> None:
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(previews.subprocess, "Popen", no_process)

    assert preview_tasks.build_preview(version_id) is False

    db.session.expire_all()
    version = db.session.get(ProjectFileVersion, version_id)
    assert version.preview_status is PreviewStatus.FAILED
    assert version.preview_error.startswith("No 3D preview could be built just now")
    assert "Cannot allocate" not in version.preview_error


def test_a_storage_outage_leaves_the_version_pending_for_a_retry(app: Flask, announced: list[Any], monkeypatch):
    from app.integrations.storage import StorageError

    version_id = _version(_box_stl(), "stl").id
    storage = get_storage()

    def unreachable(key: str) -> bytes:
        raise StorageError("bucket unreachable")

    monkeypatch.setattr(storage, "get", unreachable)

    with pytest.raises(StorageError):
        preview_tasks.build_preview(version_id)

    db.session.expire_all()
    assert db.session.get(ProjectFileVersion, version_id).preview_status is PreviewStatus.PENDING
    assert announced == []


@pytest.mark.parametrize("status", [PreviewStatus.NONE, PreviewStatus.READY, PreviewStatus.FAILED])
def test_only_pending_versions_are_converted(app: Flask, announced: list[Any], monkeypatch, status: PreviewStatus):
    version_id = _version(_box_stl(), "stl", status=status).id
    monkeypatch.setattr(previews.subprocess, "Popen", _must_not_run)

    assert preview_tasks.build_preview(version_id) is False
    assert preview_tasks.build_preview(version_id + 1000) is False  # no such version

    db.session.expire_all()
    assert db.session.get(ProjectFileVersion, version_id).preview_status is status
    assert announced == []


def test_the_loser_of_a_race_keeps_nothing(app: Flask, announced: list[Any], monkeypatch):
    """Two workers convert the same version: the one that commits second deletes its blob."""
    version_id = _version(_box_stl(), "stl").id
    real_convert = previews.convert_to_glb

    def convert_while_another_worker_finishes(data: bytes, file_type: str, **kwargs: Any) -> previews.Preview:
        result = real_convert(data, file_type, **kwargs)
        db.session.execute(sa.update(ProjectFileVersion).where(ProjectFileVersion.id == version_id)
                           .values(preview_status=PreviewStatus.READY, preview_key="projects/1/previews/other"))
        uow.commit()
        return result

    monkeypatch.setattr(previews, "convert_to_glb", convert_while_another_worker_finishes)
    keys = _stored_keys(app)

    assert preview_tasks.build_preview(version_id) is False

    db.session.expire_all()
    assert db.session.get(ProjectFileVersion, version_id).preview_key == "projects/1/previews/other"
    assert _stored_keys(app) == keys
    assert announced == []


def test_enqueue_preview_runs_the_task_inline_when_embedded(app: Flask, announced: list[Any]):
    version_id = _version(_box_stl(), "stl").id

    preview_tasks.enqueue_preview(version_id)

    db.session.expire_all()
    assert db.session.get(ProjectFileVersion, version_id).preview_status is PreviewStatus.READY


def test_the_worker_is_a_plain_script():
    """It must run with ``python -I`` and no app import: nothing of Flask or the config reaches it."""
    tree = ast.parse(previews.WORKER.read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported, "the worker imports something"
    assert not {name for name in imported if name.split(".")[0] in {"app", "flask", "flask_babel", "sqlalchemy"}}
