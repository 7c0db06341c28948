"""Forms of the project files tab: share a new document, upload a new version of one.

Shape only (a file is chosen, lengths): app/services/project_files.py checks the
file's content and size, and decides who may upload and when.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import StringField, TextAreaField
from wtforms.validators import Length, Optional

TITLE_MAX = 200
NOTE_MAX = 2000


class FileUploadForm(FlaskForm):
    """A new document: the file, an optional title (the file name otherwise) and a note."""

    file = FileField(_l("File"), validators=[FileRequired(message=_l("Choose a file to upload."))])
    title = StringField(
        _l("Title (optional)"),
        validators=[Optional(), Length(max=TITLE_MAX, message=_l("At most %(max)d characters."))],
        description=_l("For example “Mould drawing, cavity 2”. Left empty, the file name is used."),
    )
    note = TextAreaField(
        _l("Note (optional)"),
        validators=[Optional(), Length(max=NOTE_MAX, message=_l("At most %(max)d characters."))],
        render_kw={"rows": 2},
        description=_l("What the file is, or what changed."),
    )


class VersionUploadForm(FlaskForm):
    """A new version of an existing document: the file and a note on what changed."""

    file = FileField(_l("New version"), validators=[FileRequired(message=_l("Choose a file to upload."))])
    note = TextAreaField(
        _l("What changed (optional)"),
        validators=[Optional(), Length(max=NOTE_MAX, message=_l("At most %(max)d characters."))],
        render_kw={"rows": 2},
    )
