"""The project workspace (WORKFLOW.md §7–8): channel messages, files, calls, milestones, tasks, quality control.

A funded contract starts a project (app/models/contracts.py) whose members share
one private channel. Messages are stored before they are emitted; a message
can be for everyone or, written by the hub, for one side only. Contact details
typed by the company or the expert are kept as written (``body``, for the hub)
and masked for the other side (``body_masked``).

    milestone: planned -start-> in_progress -complete-> done
    task:      todo <-> doing <-> done
    qc:        nda_pending -sign-> active -remove-> removed
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Model
from app.models.enums import enum_column
from app.models.mixins import UTCDateTime, utcnow

if TYPE_CHECKING:
    from app.models.contracts import Project
    from app.models.experts import ExpertProfile
    from app.models.users import User


class Audience(enum.StrEnum):
    """Who reads a message: everyone on the project, or the hub with one side."""

    EVERYONE = "everyone"
    COMPANY = "company"  # the company's users and the hub
    EXPERT = "expert"  # the expert (and QC expert) and the hub


class MessageKind(enum.StrEnum):
    TEXT = "text"
    FILE = "file"  # a file or a new version was shared
    CALL = "call"  # a video call was scheduled
    PROGRESS = "progress"  # the expert posted a progress update
    SYSTEM = "system"  # a milestone, task or membership event


class ProjectMessage(Model):
    """One message of a project channel; append-only (edits are new messages)."""

    __tablename__ = "project_messages"
    __table_args__ = (sa.Index("ix_project_messages_project_id_id", "project_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id"))
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))  # None: the platform
    audience: Mapped[Audience] = mapped_column(enum_column(Audience, 16), default=Audience.EVERYONE)
    kind: Mapped[MessageKind] = mapped_column(enum_column(MessageKind, 16), default=MessageKind.TEXT)
    body: Mapped[str] = mapped_column(sa.Text())  # as written (the hub reads this)
    body_masked: Mapped[str | None] = mapped_column(sa.Text())  # what the other side reads, when masked
    masked_count: Mapped[int] = mapped_column(default=0)
    # Structured references for FILE / CALL / PROGRESS messages.
    file_version_id: Mapped[int | None] = mapped_column(sa.ForeignKey("project_file_versions.id"))
    call_id: Mapped[int | None] = mapped_column(sa.ForeignKey("video_calls.id"))
    progress_id: Mapped[int | None] = mapped_column(sa.ForeignKey("progress_updates.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    project: Mapped[Project] = relationship()
    author: Mapped[User | None] = relationship()
    file_version: Mapped[ProjectFileVersion | None] = relationship()
    call: Mapped[VideoCall | None] = relationship()
    progress: Mapped[ProgressUpdate | None] = relationship()


class ProjectReadMark(Model):
    """The last message a member has seen in a project (unread counts, catch-up)."""

    __tablename__ = "project_read_marks"
    __table_args__ = (sa.UniqueConstraint("project_id", "user_id", name="uq_project_read_marks_project_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    last_read_id: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class PreviewStatus(enum.StrEnum):
    NONE = "none"  # no preview for this type (download only)
    PENDING = "pending"  # a conversion task is queued or running
    READY = "ready"
    FAILED = "failed"


class ProjectFile(Model):
    """A document shared on a project; its content lives in numbered versions."""

    __tablename__ = "project_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id"), index=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    version_count: Mapped[int] = mapped_column(default=0)

    project: Mapped[Project] = relationship()
    created_by: Mapped[User] = relationship()
    versions: Mapped[list[ProjectFileVersion]] = relationship(
        back_populates="file", order_by="ProjectFileVersion.number.desc()"
    )


class ProjectFileVersion(Model):
    """One immutable upload of a project file."""

    __tablename__ = "project_file_versions"
    __table_args__ = (
        sa.UniqueConstraint("file_id", "number", name="uq_project_file_versions_file_number"),
        sa.CheckConstraint("size_bytes > 0", name="size_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    file_id: Mapped[int] = mapped_column(sa.ForeignKey("project_files.id"), index=True)
    number: Mapped[int]
    storage_key: Mapped[str] = mapped_column(sa.String(128), unique=True)
    original_name: Mapped[str] = mapped_column(sa.String(255))  # sanitized
    file_type: Mapped[str] = mapped_column(sa.String(16))  # extension key of app/services/uploads.py
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger())
    sha256: Mapped[str] = mapped_column(sa.String(64))
    note: Mapped[str] = mapped_column(sa.Text(), default="")
    metadata_removed: Mapped[str] = mapped_column(sa.Text(), default="")  # what was stripped, for the hub
    uploaded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    preview_status: Mapped[PreviewStatus] = mapped_column(enum_column(PreviewStatus, 16), default=PreviewStatus.NONE)
    preview_key: Mapped[str | None] = mapped_column(sa.String(128), unique=True)  # GLB of a CAD model
    preview_error: Mapped[str] = mapped_column(sa.Text(), default="")

    file: Mapped[ProjectFile] = relationship(back_populates="versions")
    uploaded_by: Mapped[User] = relationship()


class VideoProviderName(enum.StrEnum):
    ZOOM = "zoom"
    LINK = "link"  # a room link of a provider that needs no account


class VideoCall(Model):
    """A video call of a project: the meeting the provider created and its links."""

    __tablename__ = "video_calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id"), index=True)
    provider: Mapped[VideoProviderName] = mapped_column(enum_column(VideoProviderName, 16))
    external_id: Mapped[str] = mapped_column(sa.String(64), default="")  # Zoom's int64 meeting id, as text
    topic: Mapped[str] = mapped_column(sa.String(200))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    duration_minutes: Mapped[int] = mapped_column(default=45)
    join_url: Mapped[str] = mapped_column(sa.String(1000))
    passcode: Mapped[str] = mapped_column(sa.String(32), default="")
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    project: Mapped[Project] = relationship()
    created_by: Mapped[User] = relationship()


class MilestoneStatus(enum.StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    DONE = "done"


class ProjectMilestone(Model):
    """A milestone of the project, copied from the accepted offer version (title, due date, share)."""

    __tablename__ = "project_milestones"
    __table_args__ = (
        sa.UniqueConstraint("project_id", "position", name="uq_project_milestones_project_position"),
        sa.CheckConstraint("progress_percent >= 0 AND progress_percent <= 100", name="progress_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id"), index=True)
    position: Mapped[int]
    title: Mapped[str] = mapped_column(sa.String(200))
    due_date: Mapped[date]
    share_percent: Mapped[int]
    amount_minor: Mapped[int] = mapped_column(sa.BigInteger())  # of the client price
    status: Mapped[MilestoneStatus] = mapped_column(enum_column(MilestoneStatus, 16), default=MilestoneStatus.PLANNED)
    progress_percent: Mapped[int] = mapped_column(default=0)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    overdue_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(default=1)

    project: Mapped[Project] = relationship()
    tasks: Mapped[list[ProjectTask]] = relationship(back_populates="milestone", order_by="ProjectTask.id")

    __mapper_args__ = {"version_id_col": version}


class TaskStatus(enum.StrEnum):
    TODO = "todo"
    DOING = "doing"
    DONE = "done"


class ProjectTask(Model):
    """A task of a milestone, assigned to a member."""

    __tablename__ = "project_tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id"), index=True)
    milestone_id: Mapped[int] = mapped_column(sa.ForeignKey("project_milestones.id"), index=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    due_date: Mapped[date | None]
    status: Mapped[TaskStatus] = mapped_column(enum_column(TaskStatus, 16), default=TaskStatus.TODO)
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(default=1)

    milestone: Mapped[ProjectMilestone] = relationship(back_populates="tasks")
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])

    __mapper_args__ = {"version_id_col": version}


class ProgressUpdate(Model):
    """The expert's progress on a milestone: a percent and a text, posted to the channel."""

    __tablename__ = "progress_updates"
    __table_args__ = (sa.CheckConstraint("percent >= 0 AND percent <= 100", name="percent_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id"), index=True)
    milestone_id: Mapped[int] = mapped_column(sa.ForeignKey("project_milestones.id"), index=True)
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    percent: Mapped[int]
    text: Mapped[str] = mapped_column(sa.Text())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    milestone: Mapped[ProjectMilestone] = relationship()


class QcStatus(enum.StrEnum):
    NDA_PENDING = "nda_pending"
    ACTIVE = "active"
    REMOVED = "removed"


class QcAssignment(Model):
    """The quality-control expert of a project: picked by the hub, bound by an NDA before joining."""

    __tablename__ = "qc_assignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id"), index=True)
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("expert_profiles.id"), index=True)
    status: Mapped[QcStatus] = mapped_column(enum_column(QcStatus, 16), default=QcStatus.NDA_PENDING)
    fee_minor: Mapped[int] = mapped_column(sa.BigInteger(), default=0)  # paid from the hub's fee on release
    assigned_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The NDA: the PDF the QC expert read, and the click-wrap signature.
    nda_storage_key: Mapped[str] = mapped_column(sa.String(128), unique=True)
    nda_sha256: Mapped[str] = mapped_column(sa.String(64))
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    typed_name: Mapped[str] = mapped_column(sa.String(160), default="")
    signer_ip: Mapped[str | None] = mapped_column(sa.String(45))
    signer_user_agent: Mapped[str] = mapped_column(sa.String(255), default="")
    sealed_storage_key: Mapped[str | None] = mapped_column(sa.String(128), unique=True)
    sealed_sha256: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status_note: Mapped[str] = mapped_column(sa.Text(), default="")
    version: Mapped[int] = mapped_column(default=1)

    project: Mapped[Project] = relationship()
    expert: Mapped[ExpertProfile] = relationship()

    __mapper_args__ = {"version_id_col": version}
