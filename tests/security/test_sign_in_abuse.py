"""Sign-in abuse: guessing is throttled per account and per client (in Postgres), an unknown email costs the
same argon2 work as a known one, sign-up does not confirm who has an account, and single sign-on never takes
over an account by its email."""

from __future__ import annotations

import time
import uuid

import argon2.low_level
import pytest

from core.config import get_settings
from core.errors import AccountError, LinkRequiredError
from core.services import accounts

PASSWORD = "correct horse battery"
WINDOW_SECONDS = 2


@pytest.fixture
def quick_window(monkeypatch):
    """Three wrong passwords per account, five per client, counted over two seconds."""
    monkeypatch.setenv("SIGN_IN_MAX_FAILURES", "3")
    monkeypatch.setenv("SIGN_IN_MAX_CLIENT_FAILURES", "5")
    monkeypatch.setenv("SIGN_IN_WINDOW_SECONDS", str(WINDOW_SECONDS))
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def _email(prefix: str = "throttle") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}@example.com"


def test_the_fourth_wrong_password_is_refused_and_the_right_one_works_after_the_window(database, quick_window):
    writer = accounts.sign_up(_email(), PASSWORD, is_admin=False)
    for _ in range(3):
        with pytest.raises(AccountError, match="do not match"):
            accounts.sign_in(writer.email, "a wrong guess", client="203.0.113.1")
    for password in ("another guess", PASSWORD):  # refused before any password is even checked
        with pytest.raises(AccountError, match="Too many sign-in attempts"):
            accounts.sign_in(writer.email, password, client="203.0.113.2")
    time.sleep(WINDOW_SECONDS + 0.5)
    assert accounts.sign_in(writer.email, PASSWORD, client="203.0.113.2") == writer
    # A success clears the account's count: three more wrong guesses are allowed again.
    for _ in range(3):
        with pytest.raises(AccountError, match="do not match"):
            accounts.sign_in(writer.email, "a wrong guess", client="203.0.113.3")


def test_one_client_guessing_across_many_accounts_is_refused(database, quick_window):
    emails = [accounts.sign_up(_email(), PASSWORD, is_admin=False).email for _ in range(3)]
    guesses = [emails[0], emails[0], emails[1], emails[1], emails[2]]  # never 3 on one account
    for email in guesses:
        with pytest.raises(AccountError, match="do not match"):
            accounts.sign_in(email, "a wrong guess", client="198.51.100.7")
    with pytest.raises(AccountError, match="Too many sign-in attempts"):
        accounts.sign_in(emails[2], PASSWORD, client="198.51.100.7")
    assert accounts.sign_in(emails[2], PASSWORD, client="198.51.100.8").email == emails[2]


def test_an_unknown_email_costs_the_same_argon2_work(writer_a, monkeypatch):
    calls = []
    real = argon2.low_level.hash_secret

    def counting(secret, salt, **cost):
        calls.append((len(salt), cost["memory_cost"], cost["time_cost"]))
        return real(secret, salt, **cost)

    monkeypatch.setattr(argon2.low_level, "hash_secret", counting)
    with pytest.raises(AccountError) as known:
        accounts.sign_in(writer_a.email, "a wrong guess")
    with pytest.raises(AccountError) as unknown:
        accounts.sign_in(_email("nobody"), "a wrong guess")
    assert str(known.value) == str(unknown.value)
    assert len(calls) == 2 and calls[0] == calls[1]


def test_sign_up_does_not_say_that_an_account_exists(writer_a):
    with pytest.raises(AccountError) as taken:
        accounts.sign_up(writer_a.email.upper(), "another long password")
    assert "exist" not in str(taken.value) and writer_a.email not in str(taken.value)


def test_sign_up_cannot_ask_for_admin_rights(database):
    with pytest.raises(AccountError, match="granted by an administrator"):
        accounts.sign_up(_email(), PASSWORD, is_admin=True)


ISSUER = "https://id.example.com"


def test_single_sign_on_matches_issuer_and_subject_not_the_email(writer_a):
    # A provider (or a second one) asserting the writer's email does not get the writer's account.
    with pytest.raises(LinkRequiredError):
        accounts.sign_in_oidc(ISSUER, "attacker-subject", writer_a.email, email_verified=True)
    with pytest.raises(AccountError, match="not verified"):
        accounts.sign_in_oidc(ISSUER, "attacker-subject", writer_a.email, email_verified=False, password=PASSWORD)
    with pytest.raises(AccountError, match="do not match"):
        accounts.sign_in_oidc(ISSUER, "attacker-subject", writer_a.email, email_verified=True, password="a guess")
    # The writer proves the account is theirs: linked, and from then on matched on (issuer, subject).
    linked = accounts.sign_in_oidc(ISSUER, "writer-subject", writer_a.email, email_verified=True, password=PASSWORD)
    assert linked == writer_a
    assert accounts.sign_in_oidc(ISSUER, "writer-subject", "changed@example.com") == writer_a
    with pytest.raises(LinkRequiredError):  # same subject at another issuer is someone else
        accounts.sign_in_oidc("https://other.example.com", "writer-subject", writer_a.email, email_verified=True)


def test_a_new_single_sign_on_identity_gets_its_own_account(writer_a):
    email = _email("sso")
    account = accounts.sign_in_oidc(ISSUER, f"sub-{uuid.uuid4().hex}", email, email_verified=True, name="Ann")
    assert account.email == email and account.display_name == "Ann" and not account.is_admin
    with pytest.raises(AccountError, match="do not match"):  # no password account was made for it
        accounts.sign_in(email, "")
