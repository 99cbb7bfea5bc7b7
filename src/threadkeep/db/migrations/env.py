"""Alembic environment: runs on the connection threadkeep hands it (``db/migrate.py``).

There is no ``alembic.ini`` and no URL here: the program migrates itself on open, so
the connection, the progress callback and the target metadata come from
``config.attributes``. SQLite uses batch mode (table copy) for changes it cannot ALTER.
"""

from __future__ import annotations

from alembic import context

from threadkeep.db.schema import is_search_object, metadata


def _include_name(name: str | None, type_: str, parent_names: object) -> bool:
    # Search objects are built per engine by revision 0002, not from the metadata.
    return not is_search_object(name)


config = context.config
connection = config.attributes["connection"]

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    include_name=_include_name,
    on_version_apply=config.attributes.get("on_version_apply"),
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
