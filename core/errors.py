"""Errors core raises; each message is written for the writer who will read it."""


class PlotStudioError(Exception):
    """Base of every error a page or the CLI shows to the writer as it is."""


class ConfigurationError(PlotStudioError):
    """The app is set up wrongly (settings, database role, missing extension)."""


class AccountError(PlotStudioError):
    """Sign-up or sign-in was refused: weak password, duplicate email, wrong password."""


class LinkRequiredError(AccountError):
    """A single-sign-on identity names the email of a password account: its password must confirm the link."""


class NotFoundError(PlotStudioError):
    """The thing asked for does not exist or belongs to someone else."""


class UnreadableBookError(PlotStudioError):
    """An upload that cannot become a book: empty, corrupt, encrypted, too large, wrong format."""


class JobCancelledError(PlotStudioError):
    """The writer cancelled the job; whatever it had started is rolled back."""


class SubscriptionLimitError(PlotStudioError):
    """The writer's tier does not allow this call now."""


class GenerationError(PlotStudioError):
    """The model failed or answered something unusable; nothing was saved or charged."""
