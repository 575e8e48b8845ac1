"""Alembic environment: the URL comes from the caller (storage.db.Database.upgrade)."""

from alembic import context
from sqlalchemy import create_engine

from storage.models import Base

config = context.config
url = config.attributes.get("connection_url") or config.get_main_option("sqlalchemy.url")
if url is None:
    raise RuntimeError("no database URL: migrate with labqueue-admin migrate, which passes it")

engine = create_engine(url)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
