"""Strip Project Gutenberg's header, footer and licence; read its Title and Author lines."""

import re

# Variants seen across decades of Gutenberg files: "*** START OF THE/THIS PROJECT GUTENBERG
# EBOOK ...", "***START OF ...", and the 1990s "*END*THE SMALL PRINT!" licence terminator.
_START_MARKER = re.compile(
    r"^[ \t]*(\*{3}[ \t]*START OF (THE|THIS) PROJECT GUTENBERG.*"
    r"|\*END\*THE SMALL PRINT!.*)$",
    re.IGNORECASE | re.MULTILINE,
)
_END_MARKER = re.compile(
    r"^[ \t]*(\*{3}[ \t]*END OF (THE|THIS) PROJECT GUTENBERG.*"
    r"|End of (the )?Project Gutenberg.*"
    r"|End of this Project Gutenberg.*"
    r"|\*{3}[ \t]*START: FULL LICENSE.*)$",
    re.IGNORECASE | re.MULTILINE,
)
_PRODUCED_BY = re.compile(
    r"\A\s*((Produced|Transcribed|Prepared) by|E-text prepared by)[^\n]*(\n[^\n]+)*\n",
    re.IGNORECASE,
)


def strip_gutenberg(text: str) -> str:
    """Return the book's own text without Gutenberg's header, footer and licence."""
    start = _START_MARKER.search(text)
    if start:
        text = text[start.end():]
    end = _END_MARKER.search(text)
    if end:
        text = text[: end.start()]
    # The volunteers' credit right after the start marker is not part of the book.
    return _PRODUCED_BY.sub("", text, count=1)


def _header_field(text: str, name: str) -> str | None:
    """Read one `Name: value` header field, joining its indented continuation lines."""
    match = re.search(rf"^{name}:[ \t]*(.+)((\n[ \t]+\S.*)*)", text, re.MULTILINE)
    if not match:
        return None
    value = " ".join(part.strip() for part in (match.group(1) + match.group(2)).splitlines())
    return value.strip() or None


def read_gutenberg_metadata(text: str) -> tuple[str | None, str | None]:
    """Return the Title and Author from the Gutenberg header, if the text has one."""
    start = _START_MARKER.search(text)
    if not start:
        return None, None
    header = text[: start.start()]
    return _header_field(header, "Title"), _header_field(header, "Author")
