"""Accounts: sign up, sign in, sessions that survive a refresh, admin-made users."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import text, update
from sqlalchemy.exc import IntegrityError

from core.config import Tier, get_settings
from core.errors import AccountError, NotFoundError
from db.engine import unit_of_work
from db.models import User, UserSession

MIN_PASSWORD_LENGTH = 10
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_hasher = PasswordHasher()


@dataclass(frozen=True)
class Account:
    """The signed-in writer, as pages and services see them."""

    id: uuid.UUID
    email: str
    display_name: str | None
    is_admin: bool
    tier: Tier

    @classmethod
    def of(cls, user: User) -> "Account":
        return cls(user.id, user.email, user.display_name, user.is_admin, Tier(user.tier))


def _clean_email(email: str) -> str:
    email = (email or "").strip()
    if not EMAIL_PATTERN.match(email):
        raise AccountError("Enter a valid email address, like writer@example.com.")
    return email


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise AccountError(f"Choose a password of at least {MIN_PASSWORD_LENGTH} characters.")


def sign_up(email: str, password: str, *, display_name: str | None = None, is_admin: bool | None = None,
            tier: Tier = Tier.FREE) -> Account:
    """Create an account; the very first account of an installation is an admin."""
    email = _clean_email(email)
    _check_password(password)
    user_id = uuid.uuid4()
    try:
        with unit_of_work(user_id) as session:
            first = session.execute(text("SELECT app_user_count()")).scalar_one() == 0
            user = User(id=user_id, email=email, password_hash=_hasher.hash(password),
                        display_name=(display_name or "").strip() or None,
                        is_admin=first if is_admin is None else is_admin, tier=Tier(tier).value)
            session.add(user)
            session.flush()
            session.refresh(user)
            return Account.of(user)
    except IntegrityError as exc:
        raise AccountError(f"An account for {email} already exists: sign in instead.") from exc


def sign_in(email: str, password: str) -> Account:
    """Check an email and password; the same message for an unknown email and a wrong password."""
    refused = AccountError("That email and password do not match an account.")
    with unit_of_work(None) as session:
        row = session.execute(text("SELECT id, password_hash FROM app_login_lookup(:e)"),
                              {"e": (email or "").strip()}).first()
    if row is None or row.password_hash is None:
        raise refused
    try:
        _hasher.verify(row.password_hash, password or "")
    except (VerificationError, InvalidHashError):
        raise refused from None
    with unit_of_work(row.id) as session:
        user = session.get(User, row.id)
        user.last_sign_in_at = datetime.now(timezone.utc)
        if _hasher.check_needs_rehash(row.password_hash):
            user.password_hash = _hasher.hash(password)
        return Account.of(user)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(account: Account) -> str:
    """A new sign-in token for the browser; only its hash is stored."""
    token = secrets.token_urlsafe(32)
    expires = datetime.now(timezone.utc) + timedelta(days=get_settings().session_days)
    with unit_of_work(account.id) as session:
        session.add(UserSession(user_id=account.id, token_hash=_token_hash(token), expires_at=expires))
    return token


def account_for_session(token: str | None) -> Account | None:
    """The account a browser token belongs to, or None if it is unknown, expired or signed out."""
    if not token:
        return None
    with unit_of_work(None) as session:
        user_id = session.execute(text("SELECT app_session_user(:h)"), {"h": _token_hash(token)}).scalar()
    return get_account(user_id) if user_id else None


def end_session(account: Account, token: str | None) -> None:
    """Sign out: the token stops working everywhere at once."""
    if not token:
        return
    with unit_of_work(account.id) as session:
        session.execute(update(UserSession).where(UserSession.token_hash == _token_hash(token))
                        .values(revoked_at=datetime.now(timezone.utc)))


def get_account(user_id: uuid.UUID | str) -> Account:
    with unit_of_work(user_id) as session:
        user = session.get(User, uuid.UUID(str(user_id)))
        if user is None:
            raise NotFoundError("That account does not exist.")
        return Account.of(user)


def account_by_email(email: str) -> Account:
    """Resolve `--user EMAIL` for the CLI: the lookup runs through the sign-in function, not past RLS."""
    with unit_of_work(None) as session:
        user_id = session.execute(text("SELECT id FROM app_login_lookup(:e)"), {"e": email.strip()}).scalar()
    if user_id is None:
        raise NotFoundError(f"No account for {email}.")
    return get_account(user_id)


def sign_in_oidc(email: str, subject: str, name: str | None) -> Account:
    """Find or create the account of a single-sign-on identity (Streamlit's `st.login`)."""
    with unit_of_work(None) as session:
        user_id = session.execute(text("SELECT id FROM app_login_lookup(:e)"), {"e": email}).scalar()
    if user_id:
        return get_account(user_id)
    account = sign_up(email, secrets.token_urlsafe(24), display_name=name)
    with unit_of_work(account.id) as session:
        session.execute(update(User).where(User.id == account.id).values(oidc_subject=subject))
    return account


def generated_password() -> str:
    return secrets.token_urlsafe(15)

