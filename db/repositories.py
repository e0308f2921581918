"""Lookups every service shares; they take the caller's session and never commit."""

from __future__ import annotations

import uuid
from typing import TypeVar

from sqlalchemy.orm import Session

from core.errors import NotFoundError

Row = TypeVar("Row")


def get_visible(session: Session, model: type[Row], row_id: uuid.UUID, *, what: str) -> Row:
    """The row if this writer may see it; RLS makes someone else's row look exactly like a missing one."""
    row = session.get(model, row_id)
    if row is None:
        raise NotFoundError(f"That {what} does not exist (or it is not yours).")
    return row
