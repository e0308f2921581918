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


# The design's plot errors (issue 9). GenerationError above stays the base of every model failure.
class PlotGenerationError(GenerationError):
    """The plot overview could not be generated; nothing was saved or charged."""


class PlotNotFoundError(NotFoundError):
    """The book has no plot overview (yet), or that version does not exist."""


class CharacterGenerationError(GenerationError):
    """Characters could not be generated; nothing was saved or charged."""


class ArchetypeAnalysisError(GenerationError):
    """The archetype analysis failed; nothing was saved or charged."""


class PromptError(ConfigurationError):
    """A prompt file is malformed, or a variable it needs was not given."""


class VersionConflictError(PlotStudioError):
    """Someone saved a newer version first; carries both, so nothing is overwritten silently."""

    def __init__(self, message: str, *, yours: dict, theirs: dict, current_version: int):
        super().__init__(message)
        self.yours, self.theirs, self.current_version = yours, theirs, current_version


class ArtefactValidationError(PlotStudioError):
    """An edit that fails the artefact's validators; carries each field's message for the form."""

    def __init__(self, message: str, *, field_errors: dict[str, str]):
        super().__init__(message)
        self.field_errors = field_errors


class PermissionDeniedError(PlotStudioError):
    """The writer may not do this (e.g. only administrators edit the archetype table)."""
