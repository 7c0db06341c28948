"""app/services/project_files.py: versions, checks, metadata stripping, previews, audited reads, anonymity."""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from app.exceptions import NotFound, ValidationFailed
from app.extensions import db
from app.models import (
    AuditEvent,
    MessageKind,
    Notification,
    PreviewStatus,
    Project,
    ProjectFile,
    ProjectFileVersion,
    ProjectMessage,
    ProjectRole,
    ProjectStatus,
)
from app.services import project_files, uow
from app.services.uploads import Upload, UploadRejected
from tests import factories

JANE_STEP = (
    b"ISO-10303-21;\nHEADER;\nFILE_DESCRIPTION(('housing'),'2;1');\n"
    b"FILE_NAME('housing.step','2025-03-01T10:00:00',('Jane Doe'),('Acme Molding GmbH'),"
    b"'CAD exporter 1.0','CAD system 2025','');\nFILE_SCHEMA(('AUTOMOTIVE_DESIGN'));\nENDSEC;\nDATA;\n"
    b"#1=CARTESIAN_POINT('',(0.,0.,0.));\nENDSEC;\nEND-ISO-10303-21;\n"
)


CSV = b"temp;pressure\n230;800\n"  # no preview to build: the quickest file to share


def stl_box() -> bytes:
    """A binary STL of a 40 x 30 x 10 mm box (12 triangles)."""
    x, y, z = 40.0, 30.0, 10.0
    corners = [(a, b, c) for a in (0.0, x) for b in (0.0, y) for c in (0.0, z)]
    faces = [(0, 1, 3), (0, 3, 2), (4, 6, 7), (4, 7, 5), (0, 4, 5), (0, 5, 1),
             (2, 3, 7), (2, 7, 6), (0, 2, 6), (0, 6, 4), (1, 5, 7), (1, 7, 3)]
    body = b"".join(struct.pack("<3f", 0, 0, 0) + b"".join(struct.pack("<3f", *corners[i]) for i in face)
                    + b"\x00\x00" for face in faces)
    return b"box".ljust(80, b" ") + struct.pack("<I", len(faces)) + body


def flat_stl() -> bytes:
    """A well-formed binary STL whose triangles are all degenerate: accepted, but nothing to show in 3D."""
    body = b"".join(struct.pack("<12fH", *([0.0] * 12), 0) for _ in range(2))
    return b"flat".ljust(80, b" ") + struct.pack("<I", 2) + body


def xlsx_bomb() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", b"<Types/>")
        zf.writestr("xl/workbook.xml", b"<workbook/>")
        zf.writestr("xl/sharedStrings.xml", b"\x00" * (25 * 1024 * 1024))
    return buf.getvalue()


def member(project: Project, role: ProjectRole, index: int = 0) -> Any:
    return [m.user for m in project.members if m.role is role][index]


@pytest.fixture
def world(app: Any) -> dict[str, Any]:
    project = factories.project(members=2)
    outsider = factories.company_user()
    other_expert = factories.expert().user
    db.session.commit()
    return {
        "project": project,
        "owner": member(project, ProjectRole.COMPANY, 0),
        "colleague": member(project, ProjectRole.COMPANY, 1),
        "expert": member(project, ProjectRole.EXPERT),
        "manager": member(project, ProjectRole.MANAGER),
        "outsider": outsider,
        "other_expert": other_expert,
        "pseudonym": project.contract.expert.pseudonym,
    }


def upload(world: dict[str, Any], who: str, name: str, data: bytes, **kwargs: Any) -> ProjectFileVersion:
    version = project_files.upload_file(world["project"].id, actor=world[who], upload=Upload(name, data), **kwargs)
    uow.commit()
    return version


def downloads() -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "project_file.downloaded")
                                   .order_by(AuditEvent.id)))


def blobs(storage_dir: str) -> list[Path]:
    return sorted(p for p in (Path(storage_dir) / "projects").rglob("*") if p.is_file())


def close(project: Project) -> None:
    db.session.execute(sa.update(Project).where(Project.id == project.id).values(status=ProjectStatus.COMPLETED))
    uow.commit()


# Versions ---------------------------------------------------------------------------------


def test_new_version_keeps_the_old_one_downloadable(world: dict[str, Any]) -> None:
    first = upload(world, "owner", "drawing.pdf", factories.pdf_bytes(pages=1), title="Mould drawing", note="First")
    second_pdf = factories.pdf_bytes(pages=2)
    second = project_files.upload_version(first.file_id, actor=world["expert"],
                                          upload=Upload("drawing-rev2.pdf", second_pdf), note="Gate moved")
    uow.commit()

    file = db.session.get(ProjectFile, first.file_id)
    assert file.title == "Mould drawing" and file.version_count == 2
    assert [v.number for v in file.versions] == [2, 1]
    _name, _type, old = project_files.open_version(first.id, actor=world["colleague"], which="original")
    _name, _type, new = project_files.open_version(second.id, actor=world["colleague"], which="original")
    assert old.startswith(b"%PDF") and new.startswith(b"%PDF") and old != new
    assert hashlib.sha256(old).hexdigest() == first.sha256 and len(old) == first.size_bytes

    page = project_files.files_page(world["project"].id, actor=world["owner"])
    assert len(page) == 1 and page.total == 1
    (view,) = page
    assert view.current.number == 2 and view.current.note == "Gate moved"
    assert [v.number for v in view.versions] == [2, 1] and view.versions[1].note == "First"

    actions = [e.action for e in db.session.scalars(sa.select(AuditEvent).where(AuditEvent.entity == "project_files")
                                                    .order_by(AuditEvent.id))]
    assert actions == ["project_file.uploaded", "project_file.version_uploaded"]
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "project_file.version_uploaded"))
    assert event.entity_id == file.id
    assert event.data["number"] == 2 and event.data["sha256"] == second.sha256
    assert event.data["size"] == second.size_bytes


def test_title_defaults_to_the_file_name_and_limits_are_checked(world: dict[str, Any]) -> None:
    version = upload(world, "owner", "data.csv", CSV)
    assert version.file.title == "data.csv" and version.number == 1
    with pytest.raises(ValidationFailed, match="at most 200 characters"):
        project_files.upload_file(world["project"].id, actor=world["owner"], upload=Upload("p.csv", CSV),
                                  title="x" * 201)
    with pytest.raises(ValidationFailed, match="at most 2000 characters"):
        project_files.upload_version(version.file_id, actor=world["owner"], upload=Upload("p.csv", CSV),
                                     note="n" * 2001)


def test_upload_posts_to_the_channel_and_notifies_the_other_sides(world: dict[str, Any]) -> None:
    version = upload(world, "expert", "report.pdf", factories.pdf_bytes(), title="Study report")
    message = db.session.scalar(sa.select(ProjectMessage).where(ProjectMessage.kind == MessageKind.FILE))
    assert message is not None and message.file_version_id == version.id and message.author_id is None
    notified = {n.user_id: n for n in db.session.scalars(
        sa.select(Notification).where(Notification.kind == "project.file_shared"))}
    company = {m.user_id for m in world["project"].members if m.role is ProjectRole.COMPANY}
    assert len(company) >= 2 and set(notified) == company | {world["manager"].id}
    assert notified[world["owner"].id].params["name"] == "Study report"
    assert notified[world["owner"].id].params["number"] == 1
    assert notified[world["owner"].id].link == f"/projects/{world['project'].id}/files#file-{version.file_id}"


def test_any_side_may_upload_while_active(world: dict[str, Any]) -> None:
    for who in ("owner", "colleague", "expert", "manager"):
        upload(world, who, f"{who}.csv", b"a;b\n1;2\n")
    assert db.session.scalar(sa.select(sa.func.count(ProjectFile.id))) == 4


# Who may see and change -------------------------------------------------------------------


@pytest.mark.parametrize("who", ["outsider", "other_expert"])
def test_non_members_find_nothing(world: dict[str, Any], who: str) -> None:
    version = upload(world, "owner", "data.csv", CSV)
    stranger = world[who]
    with pytest.raises(NotFound):
        project_files.files_page(world["project"].id, actor=stranger)
    with pytest.raises(NotFound):
        project_files.upload_file(world["project"].id, actor=stranger, upload=Upload("x.step", factories.step_bytes()))
    with pytest.raises(NotFound):
        project_files.upload_version(version.file_id, actor=stranger, upload=Upload("x.step", factories.step_bytes()))
    for which in ("original", "inline", "preview_model"):
        with pytest.raises(NotFound):
            project_files.open_version(version.id, actor=stranger, which=which)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        project_files.version_page(version.id, actor=stranger)
    with pytest.raises(NotFound):
        project_files.open_version(version.id + 999, actor=world["owner"], which="original")
    uow.rollback()
    assert downloads() == []
    assert db.session.scalar(sa.select(sa.func.count(ProjectFileVersion.id))) == 1


def test_a_closed_project_refuses_uploads_but_its_files_stay_readable(world: dict[str, Any], storage_dir: str) -> None:
    version = upload(world, "owner", "data.csv", CSV)
    close(world["project"])
    stored = blobs(storage_dir)
    with pytest.raises(ValidationFailed, match="closed"):
        project_files.upload_file(world["project"].id, actor=world["owner"], upload=Upload("b.csv", CSV))
    with pytest.raises(ValidationFailed, match="closed"):
        project_files.upload_version(version.file_id, actor=world["expert"], upload=Upload("b.csv", CSV))
    uow.rollback()
    assert blobs(storage_dir) == stored
    _name, _type, data = project_files.open_version(version.id, actor=world["expert"], which="original")
    assert data == CSV


HOSTILE = [
    ("part.step", b"MZ\x90\x00\x03" + b"\x00" * 200, "program"),
    ("data.xlsx", None, "zip bomb"),
    ("plan.dxf", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "SVG"),
    ("logo.svg", b"<svg><script>alert(1)</script></svg>", "not accepted"),
]


@pytest.mark.parametrize(("name", "data", "message"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_files_are_refused_with_a_reason(world: dict[str, Any], app: Any, storage_dir: str, name: str,
                                                 data: bytes | None, message: str) -> None:
    app.config["PROJECT_FILE_MAX_MB"] = 2
    existing = upload(world, "owner", "data.csv", CSV)
    before = blobs(storage_dir)
    with pytest.raises(UploadRejected, match=message):
        project_files.upload_file(world["project"].id, actor=world["expert"], upload=Upload(name, data or xlsx_bomb()))
    with pytest.raises(UploadRejected, match=message):
        project_files.upload_version(existing.file_id, actor=world["owner"], upload=Upload(name, data or xlsx_bomb()))
    uow.rollback()
    assert blobs(storage_dir) == before
    assert db.session.scalar(sa.select(sa.func.count(ProjectFileVersion.id))) == 1


def test_the_size_limit_is_project_file_max_mb(world: dict[str, Any], app: Any) -> None:
    app.config["PROJECT_FILE_MAX_MB"] = 1
    with pytest.raises(UploadRejected, match="the limit is 1 MB"):
        project_files.upload_file(world["project"].id, actor=world["owner"],
                                  upload=Upload("part.step", factories.step_bytes() + b" " * (1024 * 1024)))
    assert "up to 1 MB" in project_files.upload_hint()


def test_a_rolled_back_upload_leaves_no_blob(world: dict[str, Any], storage_dir: str) -> None:
    project_files.upload_file(world["project"].id, actor=world["owner"], upload=Upload("data.csv", CSV))
    assert len(blobs(storage_dir)) == 1
    uow.rollback()
    assert blobs(storage_dir) == []
    assert db.session.scalar(sa.select(sa.func.count(ProjectFile.id))) == 0


# Metadata ---------------------------------------------------------------------------------


def test_the_experts_name_and_employer_are_stripped_from_a_step_file(world: dict[str, Any]) -> None:
    version = upload(world, "expert", "housing.step", JANE_STEP)
    _name, _type, data = project_files.open_version(version.id, actor=world["owner"], which="original")
    assert b"Jane Doe" not in data and b"Acme Molding GmbH" not in data
    assert data.startswith(b"ISO-10303-21;") and b"CARTESIAN_POINT" in data
    assert version.sha256 == hashlib.sha256(data).hexdigest() and version.size_bytes == len(data)
    assert "STEP author" in version.metadata_removed and "STEP organization" in version.metadata_removed

    hub_view = project_files.files_page(world["project"].id, actor=world["manager"]).files[0].current
    company_view = project_files.files_page(world["project"].id, actor=world["owner"]).files[0].current
    assert hub_view.metadata_removed == version.metadata_removed
    assert company_view.metadata_removed == ""


def test_the_hubs_own_uploads_are_stored_as_given(world: dict[str, Any]) -> None:
    version = upload(world, "manager", "housing.step", JANE_STEP)
    _name, _type, data = project_files.open_version(version.id, actor=world["owner"], which="original")
    assert data == JANE_STEP and version.metadata_removed == ""


def test_pdf_metadata_is_removed_as_for_job_files(world: dict[str, Any]) -> None:
    version = upload(world, "expert", "report.pdf", factories.pdf_bytes(metadata={"/Author": "Jane Doe"}))
    _name, _type, data = project_files.open_version(version.id, actor=world["owner"], which="original")
    assert b"Jane Doe" not in data


# Reading and the download log --------------------------------------------------------------


def test_every_read_is_audited(world: dict[str, Any]) -> None:
    pdf = upload(world, "owner", "drawing.pdf", factories.pdf_bytes())
    png = upload(world, "expert", "photo.png", factories.image_bytes("PNG"))
    project_files.open_version(pdf.id, actor=world["expert"], which="original")
    project_files.open_version(pdf.id, actor=world["expert"], which="inline")
    project_files.open_version(png.id, actor=world["owner"], which="inline")
    project_files.open_version(png.id, actor=world["manager"], which="original")
    uow.commit()
    events = downloads()
    assert [(e.actor_id, e.entity_id, e.data["which"], e.data["side"]) for e in events] == [
        (world["expert"].id, pdf.id, "original", "expert"),
        (world["expert"].id, pdf.id, "inline", "expert"),
        (world["owner"].id, png.id, "inline", "company"),
        (world["manager"].id, png.id, "original", "hub"),
    ]
    assert all(e.entity == "project_file_versions" and e.data["version_id"] == e.entity_id for e in events)


def test_inline_is_for_images_and_pdfs_only(world: dict[str, Any]) -> None:
    step = upload(world, "owner", "part.step", factories.step_bytes())
    pdf = upload(world, "owner", "drawing.pdf", factories.pdf_bytes())
    jpeg = upload(world, "owner", "photo.jpg", factories.image_bytes("JPEG"))
    dxf = upload(world, "owner", "plan.dxf", b"  0\r\nSECTION\r\n  2\r\nHEADER\r\n  0\r\nENDSEC\r\n  0\r\nEOF\r\n")
    with pytest.raises(NotFound):
        project_files.open_version(dxf.id, actor=world["owner"], which="inline")
    with pytest.raises(NotFound):
        project_files.open_version(step.id, actor=world["owner"], which="inline")
    name, content_type, _data = project_files.open_version(jpeg.id, actor=world["owner"], which="inline")
    assert (name, content_type) == ("photo.jpg", "image/jpeg")
    assert (pdf.preview_status, pdf.preview_key) == (PreviewStatus.READY, None)
    assert (jpeg.preview_status, jpeg.preview_key) == (PreviewStatus.READY, None)
    assert dxf.preview_status is PreviewStatus.NONE
    with pytest.raises(NotFound, match="not ready"):
        project_files.open_version(pdf.id, actor=world["owner"], which="preview_model")


def test_an_stl_gets_a_3d_preview_after_the_commit(world: dict[str, Any]) -> None:
    version = project_files.upload_file(world["project"].id, actor=world["expert"], upload=Upload("box.stl", stl_box()))
    assert version.preview_status is PreviewStatus.PENDING
    with pytest.raises(NotFound):
        project_files.open_version(version.id, actor=world["owner"], which="preview_model")
    uow.commit()  # the embedded queue runs build_preview right after the commit
    db.session.expire_all()
    version = db.session.get(ProjectFileVersion, version.id)
    assert version.preview_status is PreviewStatus.READY and version.preview_key
    name, content_type, glb = project_files.open_version(version.id, actor=world["owner"], which="preview_model")
    assert glb.startswith(b"glTF") and content_type == "model/gltf-binary" and name == "box.glb"
    uow.commit()
    assert downloads()[-1].data["which"] == "preview_model"


def test_a_model_that_cannot_be_converted_is_marked_failed_with_a_reason(world: dict[str, Any]) -> None:
    version = upload(world, "expert", "flat.stl", flat_stl())
    db.session.expire_all()
    page = project_files.version_page(version.id, actor=world["owner"])
    assert page.version.preview_status == "failed" and page.version.preview_error
    assert page.version.is_cad and page.version.has_preview_page


# What each side sees -----------------------------------------------------------------------


def test_the_company_knows_the_expert_by_pseudonym_only(world: dict[str, Any]) -> None:
    upload(world, "expert", "part.step", factories.step_bytes())
    upload(world, "owner", "photo.png", factories.image_bytes("PNG"))
    upload(world, "manager", "plan.csv", b"a;b\n")
    views = {v.current.name: v.current for v in project_files.files_page(world["project"].id, actor=world["colleague"])}
    assert views["part.step"].uploaded_by == f"Expert {world['pseudonym']}"
    assert views["photo.png"].uploaded_by == world["owner"].full_name
    assert views["plan.csv"].uploaded_by.startswith("Plasticonnect Hub")
    assert all(world["expert"].full_name not in v.uploaded_by for v in views.values())
    assert views["photo.png"].mine is False and views["part.step"].uploaded_by_side == "expert"


def test_contact_details_in_titles_and_notes_are_masked_for_the_other_side(world: dict[str, Any]) -> None:
    version = upload(world, "expert", "data.csv", CSV, title="Part, call +49 711 1234567",
                     note="Questions? jane.doe@example.com")
    company = project_files.files_page(world["project"].id, actor=world["owner"]).files[0]
    expert = project_files.files_page(world["project"].id, actor=world["expert"]).files[0]
    hub = project_files.files_page(world["project"].id, actor=world["manager"]).files[0]
    assert "1234567" not in company.title and "jane.doe@example.com" not in company.current.note
    assert expert.current.note == "Questions? jane.doe@example.com"
    assert hub.title == "Part, call +49 711 1234567"
    masked = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "project_file.masked"))
    assert masked is not None and masked.data["version_id"] == version.id and masked.data["findings"] >= 2
    message = db.session.scalar(sa.select(ProjectMessage).where(ProjectMessage.kind == MessageKind.FILE))
    assert "1234567" not in message.body


def test_files_are_paged_newest_activity_first(world: dict[str, Any]) -> None:
    versions = [upload(world, "owner", f"data{i}.csv", CSV) for i in range(3)]
    project_files.upload_version(versions[0].file_id, actor=world["expert"], upload=Upload("data0.csv", CSV))
    uow.commit()
    first = project_files.files_page(world["project"].id, actor=world["owner"], per_page=2)
    assert (first.total, first.pages, first.has_next, first.has_prev) == (3, 2, True, False)
    assert [f.id for f in first] == [versions[0].file_id, versions[2].file_id]
    second = project_files.files_page(world["project"].id, actor=world["owner"], page=2, per_page=2)
    assert [f.id for f in second] == [versions[1].file_id] and list(second.iter_pages()) == [1, 2]
    beyond = project_files.files_page(world["project"].id, actor=world["owner"], page=9, per_page=2)
    assert beyond.page == 2 and len(beyond) == 1
