"""Accounts: sign up, sign in, sessions that survive a refresh, admin-made users."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import argon2.low_level
from argon2 import PasswordHasher
from sqlalchemy import text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from core.config import Tier, get_settings
from core.errors import AccountError, LinkRequiredError, NotFoundError
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


def sign_up(email: str, password: str, *, display_name: str | None = None, is_admin: bool | None = None) -> Account:
    """Create a writer's account; the very first account of an installation is its administrator.

    `is_admin=False` keeps even a first account a plain writer; admin rights and tiers are granted only
    by an administrator (`set_privileges`) or the operator (`create_account_as_operator`).
    """
    if is_admin:
        raise AccountError("Admin rights are granted by an administrator, not at sign-up.")
    email = _clean_email(email)
    _check_password(password)
    user_id = uuid.uuid4()
    with _hashing_slots:  # before the lookup: a taken email costs the same time
        password_hash = _hasher.hash(password)
    try:
        with unit_of_work(user_id) as session:
            _create_user(session, user_id, email, password_hash, display_name, may_be_admin=is_admin is None)
            return Account.of(session.get(User, user_id))
    except IntegrityError:
        raise AccountError(SIGN_UP_REFUSED) from None


SIGN_UP_REFUSED = "This email cannot be used for a new account. If it is yours, sign in instead."


def _create_user(session, user_id: uuid.UUID, email: str, password_hash: str | None, display_name: str | None,
                 *, may_be_admin: bool, oidc: tuple[str, str] | None = None) -> None:
    session.execute(text("SELECT app_create_user(:id, :email, :hash, :name, :issuer, :subject, :may_be_admin)"),
                    {"id": user_id, "email": email, "hash": password_hash,
                     "name": (display_name or "").strip() or None, "issuer": oidc[0] if oidc else None,
                     "subject": oidc[1] if oidc else None, "may_be_admin": may_be_admin})


def create_account_as_operator(email: str, password: str, *, is_admin: bool | None = None,
                               tier: Tier = Tier.FREE) -> Account:
    """`python -m core user create`: an account with the rights the operator names, set as the owner role.

    Whoever runs the CLI holds the owner's credentials; the app role can never set is_admin or tier.
    """
    from db.engine import act_as, owner_engine

    account = sign_up(email, password, is_admin=None if is_admin is None else False)
    if is_admin or Tier(tier) is not Tier.FREE:
        with owner_engine().begin() as conn:
            act_as(conn, account.id)
            conn.execute(text("UPDATE users SET is_admin = is_admin OR :admin, tier = :tier WHERE id = :id"),
                         {"admin": bool(is_admin), "tier": Tier(tier).value, "id": account.id})
        account = get_account(account.id)
    return account


def set_privileges(admin_id: uuid.UUID, user_id: uuid.UUID, *, is_admin: bool | None = None,
                   tier: Tier | None = None) -> None:
    """An administrator changes a writer's tier or admin rights (the database checks the caller)."""
    try:
        with unit_of_work(admin_id) as session:
            session.execute(text("SELECT app_set_user_privileges(:u, :a, :t)"),
                            {"u": user_id, "a": is_admin, "t": Tier(tier).value if tier else None})
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == "42501":
            raise AccountError("Only an administrator can change tiers or admin rights.") from None
        raise


# Sign-in --------------------------------------------------------------------------------------------
# The stored hash never leaves the database: app_sign_in_begin gives its settings (cost and salt), we
# compute argon2 here, and app_sign_in_finish compares inside Postgres, counting the attempt.

SIGN_IN_REFUSED = "That email and password do not match an account."
# argon2 takes 64 MiB per computation: a burst of sign-ins waits its turn instead of exhausting memory.
_hashing_slots = threading.BoundedSemaphore(2)
_MAX_COST = {"m": 4 * _hasher.memory_cost, "t": 4 * _hasher.time_cost, "p": 4 * _hasher.parallelism}


def sign_in(email: str, password: str, *, client: str = "unknown") -> Account:
    """Check an email and password: the same answer and the same work for an unknown email and a wrong
    password; too many failures for the account or the client (its address) are refused for a while."""
    email = (email or "").strip()
    limits = _throttle_limits()
    with unit_of_work(None) as session:
        begin = session.execute(text("SELECT * FROM app_sign_in_begin(:e, :c, :al, :cl, :w)"),
                                {"e": email, "c": client, **limits}).one()
    if begin.retry_after:
        raise AccountError(_throttled(begin.retry_after))
    candidate = _argon2_with(begin.hash_settings, begin.hash_length, password or "", email)
    with unit_of_work(None) as session:
        finish = session.execute(text("SELECT * FROM app_sign_in_finish(:e, :c, :h, :al, :cl, :w)"),
                                 {"e": email, "c": client, "h": candidate, **limits}).one()
    if finish.retry_after:
        raise AccountError(_throttled(finish.retry_after))
    if finish.user_id is None:
        raise AccountError(SIGN_IN_REFUSED)
    with unit_of_work(finish.user_id) as session:
        user = session.get(User, finish.user_id)
        user.last_sign_in_at = datetime.now(timezone.utc)
        if _hasher.check_needs_rehash(candidate):
            user.password_hash = _hasher.hash(password)
        return Account.of(user)


def _throttle_limits() -> dict:
    settings = get_settings()
    return {"al": settings.sign_in_max_failures, "cl": settings.sign_in_max_client_failures,
            "w": settings.sign_in_window_seconds}


def _throttled(seconds: int) -> str:
    wait = f"{seconds} seconds" if seconds < 120 else f"{-(-seconds // 60)} minutes"
    return f"Too many sign-in attempts: wait {wait} and try again."


def _argon2_with(settings: str | None, length: int | None, password: str, email: str) -> str:
    """argon2id of the password with the stored hash's settings; for an account with none (unknown email,
    single sign-on only), the same work with a salt made from the email, so the time reveals nothing."""
    try:
        _, variant, version, costs, salt = (settings or "").split("$")
        cost = {key: int(value) for key, value in (part.split("=") for part in costs.split(","))}
        if variant != "argon2id" or any(cost[key] > _MAX_COST[key] for key in _MAX_COST):
            raise ValueError("unexpected hash settings")
        salt_bytes = base64.b64decode(salt + "=" * (-len(salt) % 4))
        version_number = int(version.removeprefix("v="))
    except (ValueError, KeyError):
        cost = {"m": _hasher.memory_cost, "t": _hasher.time_cost, "p": _hasher.parallelism}
        salt_bytes = hashlib.sha256(f"plotstudio-dummy-salt:{email.lower()}".encode()).digest()[:_hasher.salt_len]
        version_number, length = argon2.low_level.ARGON2_VERSION, _hasher.hash_len
    with _hashing_slots:
        return argon2.low_level.hash_secret(
            password.encode(), salt_bytes, time_cost=cost["t"], memory_cost=cost["m"], parallelism=cost["p"],
            hash_len=length or _hasher.hash_len, type=argon2.low_level.Type.ID, version=version_number).decode()


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
    user_id = session_user(token)
    return get_account(user_id) if user_id else None


def session_user(token: str | None) -> uuid.UUID | None:
    """Who a browser token signs in (one indexed lookup: pages recheck it on every run)."""
    if not token:
        return None
    with unit_of_work(None) as session:
        return session.execute(text("SELECT app_session_user(:h)"), {"h": _token_hash(token)}).scalar()


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
    """Resolve `--user EMAIL` for the CLI: the lookup runs through a function that answers the id only."""
    with unit_of_work(None) as session:
        user_id = session.execute(text("SELECT app_user_id_by_email(:e)"), {"e": email.strip()}).scalar()
    if user_id is None:
        raise NotFoundError(f"No account for {email}.")
    return get_account(user_id)


def sign_in_oidc(issuer: str, subject: str, email: str | None, *, email_verified: bool = False,
                 name: str | None = None, password: str | None = None, client: str = "unknown") -> Account:
    """The account of a single-sign-on identity (Streamlit's `st.login`), matched on (issuer, subject).

    A new identity whose email already has a password account is linked to it only when the provider
    vouches for the email and the writer proves the account is theirs with its password; otherwise
    it raises LinkRequiredError (or AccountError), so nobody takes over an account by naming its email.
    """
    if not issuer or not subject:
        raise AccountError("The single sign-on provider did not say who you are; try again.")
    with unit_of_work(None) as session:
        user_id = session.execute(text("SELECT app_user_by_oidc(:i, :s)"), {"i": issuer, "s": subject}).scalar()
        existing = session.execute(text("SELECT app_user_id_by_email(:e)"), {"e": email or ""}).scalar()
    if user_id:
        return get_account(user_id)
    if existing is None:
        account_id = uuid.uuid4()
        try:
            with unit_of_work(account_id) as session:
                _create_user(session, account_id, _clean_email(email or ""), None, name, may_be_admin=True,
                             oidc=(issuer, subject))
        except IntegrityError:
            raise AccountError(SIGN_UP_REFUSED) from None
        return get_account(account_id)
    if not email_verified:
        raise AccountError("Your single sign-on provider has not verified this email, so it cannot be linked "
                           "to the Plot Studio account that uses it: sign in with your password instead.")
    if password is None:
        raise LinkRequiredError("An account with this email exists: enter its password once to link single sign-on to it.")
    account = sign_in(email, password, client=client)
    with unit_of_work(account.id) as session:
        session.execute(update(User).where(User.id == account.id).values(oidc_issuer=issuer, oidc_subject=subject))
    return account


def generated_password() -> str:
    return secrets.token_urlsafe(15)

