"""The files tab: pages, uploads through the forms, refusals, headers of downloads and previews, anonymity."""

from __future__ import annotations

import io
from typing import Any

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent, PreviewStatus, Project, ProjectFileVersion, ProjectRole, ProjectStatus
from app.models.mixins import utcnow
from app.security import DOWNLOAD_CSP, PREVIEW_CSP
from app.services import project_files, uow
from app.services.uploads import Upload
from tests import factories
from tests.conftest import login
from tests.services.test_project_files import CSV, JANE_STEP, flat_stl, member, stl_box


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
        "admin": factories.admin(full_name="Other Admin", totp_enabled_at=utcnow()),
    }


def shared(world: dict[str, Any], who: str, name: str, data: bytes, **kwargs: Any) -> ProjectFileVersion:
    version = project_files.upload_file(world["project"].id, actor=world[who], upload=Upload(name, data), **kwargs)
    uow.commit()
    return version


def files_url(world: dict[str, Any]) -> str:
    return f"/projects/{world['project'].id}/files"


def post_file(client: Any, url: str, name: str, data: bytes, **fields: str) -> Any:
    return client.post(url, data={"file": (io.BytesIO(data), name), **fields}, content_type="multipart/form-data")


def audit_count(action: str) -> int:
    return db.session.scalar(sa.select(sa.func.count(AuditEvent.id)).where(AuditEvent.action == action)) or 0


# The page ----------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["owner", "colleague", "expert", "manager", "admin"])
def test_members_open_the_files_tab(client: Any, world: dict[str, Any], who: str) -> None:
    login(client, world[who])
    response = client.get(files_url(world))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'data-testid="no-files"' in html and 'data-testid="upload-form"' in html
    assert project_files.upload_hint() in html and 'data-testid="tab-files"' in html


@pytest.mark.parametrize("who", ["outsider", "other_expert"])
def test_non_members_get_404_everywhere(client: Any, world: dict[str, Any], who: str) -> None:
    version = shared(world, "owner", "drawing.pdf", factories.pdf_bytes())
    login(client, world[who])
    for url in (files_url(world), f"/projects/files/versions/{version.id}",
                f"/projects/files/versions/{version.id}/download", f"/projects/files/versions/{version.id}/inline",
                f"/projects/files/versions/{version.id}/model.glb"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert b"%PDF" not in response.data
    assert post_file(client, files_url(world), "x.pdf", factories.pdf_bytes()).status_code == 404
    assert post_file(client, f"/projects/files/{version.file_id}/versions", "x.pdf",
                     factories.pdf_bytes()).status_code == 404
    assert db.session.scalar(sa.select(sa.func.count(ProjectFileVersion.id))) == 1
    assert audit_count("project_file.downloaded") == 0


def test_anonymous_visitors_are_sent_to_log_in(client: Any, world: dict[str, Any]) -> None:
    response = client.get(files_url(world))
    assert response.status_code in (302, 401)


# Uploads ----------------------------------------------------------------------------------


def test_upload_then_new_version_through_the_forms(client: Any, world: dict[str, Any]) -> None:
    login(client, world["owner"])
    response = post_file(client, files_url(world), "drawing.pdf", factories.pdf_bytes(), title="Mould drawing",
                         note="Cavity 2\nsee the gate")
    assert response.status_code == 302 and "/files#file-" in response.headers["Location"]
    version = db.session.scalar(sa.select(ProjectFileVersion))
    html = client.get(files_url(world)).get_data(as_text=True)
    assert "Mould drawing" in html and "Version 1" in html and "Cavity 2<br>see the gate" in html
    assert f'data-testid="version-form-{version.file_id}"' in html

    prefix = f"v{version.file_id}"
    response = client.post(f"/projects/files/{version.file_id}/versions",
                           data={f"{prefix}-file": (io.BytesIO(factories.pdf_bytes(pages=2)), "drawing-rev2.pdf"),
                                 f"{prefix}-note": "Gate moved"}, content_type="multipart/form-data")
    assert response.status_code == 302
    html = client.get(files_url(world)).get_data(as_text=True)
    assert "Version 2" in html and "Version history (2 versions)" in html and "Gate moved" in html
    versions = list(db.session.scalars(sa.select(ProjectFileVersion).order_by(ProjectFileVersion.number)))
    assert [v.number for v in versions] == [1, 2]
    for v in versions:
        assert f"/projects/files/versions/{v.id}/download" in html
        assert client.get(f"/projects/files/versions/{v.id}/download").status_code == 200


@pytest.mark.parametrize(("name", "data", "message"), [
    ("part.step", b"MZ\x90\x00\x03" + b"\x00" * 200, "is a program or script"),
    ("plan.dxf", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "SVG"),
])
def test_a_hostile_file_is_refused_and_the_form_keeps_what_was_typed(
        client: Any, world: dict[str, Any], name: str, data: bytes, message: str) -> None:
    login(client, world["expert"])
    response = post_file(client, files_url(world), name, data, title="My title", note="My note")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in html and 'data-testid="error-file"' in html and 'class="alert alert-danger"' in html
    assert 'value="My title"' in html and "My note</textarea>" in html
    assert db.session.scalar(sa.select(sa.func.count(ProjectFileVersion.id))) == 0


def test_a_hostile_new_version_is_refused_under_its_own_form(client: Any, world: dict[str, Any]) -> None:
    version = shared(world, "owner", "data.csv", CSV)
    login(client, world["owner"])
    prefix = f"v{version.file_id}"
    response = client.post(f"/projects/files/{version.file_id}/versions",
                           data={f"{prefix}-file": (io.BytesIO(b"<svg><script>alert(1)</script></svg>"), "logo.svg"),
                                 f"{prefix}-note": "typed note"}, content_type="multipart/form-data")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'data-testid="error-version-file-{version.file_id}"' in html and "not accepted" in html
    assert "typed note</textarea>" in html and f'data-testid="new-version-{version.file_id}"' in html


def test_no_file_chosen(client: Any, world: dict[str, Any]) -> None:
    login(client, world["owner"])
    response = client.post(files_url(world), data={"title": "kept"}, content_type="multipart/form-data")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Choose a file to upload." in html and 'value="kept"' in html


def test_a_request_over_the_limit_says_the_limit(client: Any, world: dict[str, Any], app: Any) -> None:
    app.config["PROJECT_FILE_MAX_MB"] = 1
    login(client, world["owner"])
    response = post_file(client, files_url(world), "part.step", factories.step_bytes() + b" " * (3 * 1024 * 1024))
    assert response.status_code == 413
    html = response.get_data(as_text=True)
    assert "the limit is 1 MB per file" in html and 'data-testid="upload-form"' in html
    version = shared(world, "owner", "data.csv", CSV)
    prefix = f"v{version.file_id}"
    response = client.post(f"/projects/files/{version.file_id}/versions",
                           data={f"{prefix}-file": (io.BytesIO(b" " * (3 * 1024 * 1024)), "big.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 413
    assert f'data-testid="error-version-file-{version.file_id}"' in response.get_data(as_text=True)


def test_a_file_between_the_app_limit_and_the_project_limit_is_accepted(client: Any, world: dict[str, Any],
                                                                         app: Any) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    app.config["PROJECT_FILE_MAX_MB"] = 3
    login(client, world["owner"])
    big = factories.step_bytes().replace(b"ENDSEC;\nEND", b"/*" + b" " * (2 * 1024 * 1024) + b"*/\nENDSEC;\nEND")
    response = post_file(client, files_url(world), "big.step", big)
    assert response.status_code == 302
    assert db.session.scalar(sa.select(ProjectFileVersion.size_bytes)) == len(big)


def test_a_closed_project_shows_no_forms_and_refuses_uploads(client: Any, world: dict[str, Any]) -> None:
    version = shared(world, "owner", "data.csv", CSV)
    db.session.execute(sa.update(Project).where(Project.id == world["project"].id)
                       .values(status=ProjectStatus.CANCELLED))
    uow.commit()
    login(client, world["owner"])
    html = client.get(files_url(world)).get_data(as_text=True)
    assert 'data-testid="upload-form"' not in html and "version-form-" not in html
    response = post_file(client, files_url(world), "b.csv", CSV)
    assert response.status_code == 422 and "closed" in response.get_data(as_text=True)
    assert client.get(f"/projects/files/versions/{version.id}/download").status_code == 200
    assert db.session.scalar(sa.select(sa.func.count(ProjectFileVersion.id))) == 1


def test_the_list_is_paged(client: Any, world: dict[str, Any]) -> None:
    for i in range(project_files.FILES_PER_PAGE + 1):
        shared(world, "owner", f"data{i:02d}.csv", CSV)
    login(client, world["expert"])
    html = client.get(files_url(world)).get_data(as_text=True)
    assert html.count('data-testid="file-title"') == project_files.FILES_PER_PAGE
    assert f"{files_url(world)}?page=2" in html and "data20.csv" in html and "data00.csv" not in html
    html = client.get(files_url(world) + "?page=2").get_data(as_text=True)
    assert html.count('data-testid="file-title"') == 1 and "data00.csv" in html
    oldest = db.session.scalar(sa.select(sa.func.min(ProjectFileVersion.file_id)))
    assert f'action="/projects/files/{oldest}/versions?page=2"' in html


# Downloads and previews --------------------------------------------------------------------


def test_download_headers(client: Any, world: dict[str, Any]) -> None:
    version = shared(world, "owner", "part.step", factories.step_bytes())
    login(client, world["expert"])
    response = client.get(f"/projects/files/versions/{version.id}/download")
    assert response.status_code == 200 and response.data == factories.step_bytes()
    assert response.headers["Content-Disposition"].startswith("attachment;") and "part.step" in response.headers[
        "Content-Disposition"]
    assert response.mimetype == "model/step"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Security-Policy"] == DOWNLOAD_CSP
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(("name", "make", "mimetype"), [
    ("drawing.pdf", factories.pdf_bytes, "application/pdf"),
    ("photo.png", lambda: factories.image_bytes("PNG"), "image/png"),
])
def test_inline_preview_headers(client: Any, world: dict[str, Any], name: str, make: Any, mimetype: str) -> None:
    version = shared(world, "expert", name, make())
    login(client, world["owner"])
    response = client.get(f"/projects/files/versions/{version.id}/inline")
    assert response.status_code == 200 and response.mimetype == mimetype
    assert response.headers["Content-Disposition"].startswith("inline")
    assert response.headers["Content-Security-Policy"] == PREVIEW_CSP
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"


def test_inline_is_refused_for_other_types(client: Any, world: dict[str, Any]) -> None:
    version = shared(world, "owner", "part.step", factories.step_bytes())
    login(client, world["owner"])
    assert client.get(f"/projects/files/versions/{version.id}/inline").status_code == 404
    assert client.get(f"/projects/files/versions/{version.id}/model.glb").status_code == 404


def test_every_download_is_logged(client: Any, world: dict[str, Any]) -> None:
    version = shared(world, "owner", "photo.png", factories.image_bytes("PNG"))
    login(client, world["expert"])
    for path in ("download", "inline", "download"):
        assert client.get(f"/projects/files/versions/{version.id}/{path}").status_code == 200
    events = list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "project_file.downloaded")))
    assert [(e.actor_id, e.data["which"], e.data["side"]) for e in events] == [
        (world["expert"].id, "original", "expert"), (world["expert"].id, "inline", "expert"),
        (world["expert"].id, "original", "expert")]


def test_preview_pages_of_images_and_pdfs(client: Any, world: dict[str, Any]) -> None:
    png = shared(world, "owner", "photo.png", factories.image_bytes("PNG"))
    pdf = shared(world, "owner", "drawing.pdf", factories.pdf_bytes())
    csv = shared(world, "owner", "data.csv", b"a;b\n1;2\n")
    login(client, world["expert"])
    html = client.get(f"/projects/files/versions/{png.id}").get_data(as_text=True)
    assert f'<img src="/projects/files/versions/{png.id}/inline"' in html
    html = client.get(f"/projects/files/versions/{pdf.id}").get_data(as_text=True)
    assert f'<iframe src="/projects/files/versions/{pdf.id}/inline"' in html
    assert f"/projects/files/versions/{pdf.id}/download" in html
    html = client.get(f"/projects/files/versions/{csv.id}").get_data(as_text=True)
    assert 'data-testid="preview-none"' in html and f"/projects/files/versions/{csv.id}/download" in html


def test_an_stl_is_shown_in_the_3d_viewer_once_converted(client: Any, world: dict[str, Any]) -> None:
    login(client, world["expert"])
    assert post_file(client, files_url(world), "box.stl", stl_box()).status_code == 302
    version = db.session.scalar(sa.select(ProjectFileVersion))
    db.session.refresh(version)
    assert version.preview_status is PreviewStatus.READY  # built right after the commit (embedded queue)
    login(client, world["owner"])
    response = client.get(f"/projects/files/versions/{version.id}")
    html = response.get_data(as_text=True)
    assert f'data-model-url="/projects/files/versions/{version.id}/model.glb"' in html
    assert "data-viewer-reset" in html and "data-viewer-wireframe" in html and "data-viewer-size" in html
    nonce = response.headers["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
    assert f'src="/static/vendor/viewer.js" nonce="{nonce}"' in html
    model = client.get(f"/projects/files/versions/{version.id}/model.glb")
    assert model.status_code == 200 and model.data.startswith(b"glTF")
    assert model.mimetype == "model/gltf-binary"
    assert model.headers["X-Content-Type-Options"] == "nosniff" and model.headers["Cache-Control"] == "no-store"


def test_pending_and_failed_previews_say_so(client: Any, world: dict[str, Any]) -> None:
    version = shared(world, "expert", "flat.stl", flat_stl())
    db.session.refresh(version)
    assert version.preview_status is PreviewStatus.FAILED  # degenerate triangles: nothing to show
    login(client, world["owner"])
    html = client.get(f"/projects/files/versions/{version.id}").get_data(as_text=True)
    assert "Preview failed: " in html and version.preview_error in html and 'data-testid="download"' in html

    # As while the conversion has not run yet (a worker is busy or the queue is down).
    db.session.execute(sa.update(ProjectFileVersion).where(ProjectFileVersion.id == version.id)
                       .values(preview_status=PreviewStatus.PENDING, preview_error=""))
    uow.commit()
    html = client.get(f"/projects/files/versions/{version.id}").get_data(as_text=True)
    assert 'data-testid="preview-pending"' in html and 'http-equiv="refresh"' in html and "js/files.js" in html
    assert "data-model-url" not in html
    assert client.get(f"/projects/files/versions/{version.id}/model.glb").status_code == 404
    assert 'data-testid="preview-pending-' in client.get(files_url(world)).get_data(as_text=True)


# Anonymity and what the hub sees -------------------------------------------------------------


def test_the_company_never_sees_the_experts_name(client: Any, world: dict[str, Any]) -> None:
    version = shared(world, "expert", "housing.step", JANE_STEP, note="Rev A")
    project_files.upload_version(version.file_id, actor=world["expert"], upload=Upload("housing.step", JANE_STEP))
    uow.commit()
    login(client, world["owner"])
    for url in (files_url(world), f"/projects/files/versions/{version.id}"):
        html = client.get(url).get_data(as_text=True)
        assert f"Expert {world['pseudonym']}" in html
        assert world["expert"].full_name not in html
        assert "Removed before sharing" not in html
    data = client.get(f"/projects/files/versions/{version.id}/download").data
    assert b"Jane Doe" not in data and b"Acme Molding GmbH" not in data


def test_the_hub_sees_what_metadata_was_removed(client: Any, world: dict[str, Any]) -> None:
    version = shared(world, "expert", "housing.step", JANE_STEP)
    login(client, world["manager"])
    html = client.get(files_url(world)).get_data(as_text=True)
    assert f'data-testid="metadata-removed-{version.id}"' in html and "Removed before sharing" in html
