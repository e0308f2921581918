"""Plot Studio's data layer: models, engine and sessions, Alembic migrations."""
