"""Alembic migrations of the review store, run programmatically: no alembic.ini is needed.

``ReviewStore.create_schema()`` runs them; for a one-off by hand (a downgrade, a new revision)::

    from alembic import command
    from reviews.migrations import alembic_config
    command.upgrade(alembic_config("postgresql+psycopg://..."), "head")
    command.revision(alembic_config("sqlite:///scratch.sqlite"), "what changes", autogenerate=True)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection

SCRIPT_LOCATION = Path(__file__).resolve().parent
# the revision a database made by the old ``metadata.create_all`` (timeline and ack_tokens) is at
LEGACY_REVISION = "0001"


def alembic_config(url: str, connection: Connection | None = None) -> Config:
    """An Alembic config for the review store at ``url``; with ``connection``, migrations run on it (inside its transaction)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    # the option is read through configparser, which would take a %-escaped password for interpolation
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision of the migrations."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(SCRIPT_LOCATION)).get_current_head()
    assert head is not None  # the versions folder ships with the package
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision a database is at, or None when Alembic has never stamped it."""
    from alembic.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()
