"""Read the numbers books print in headings: 12, XII, twelve, twenty-three, the first."""

import re

_UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_UNIT_ORDINALS = (
    "zeroth first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
    "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth"
).split()
_TENS_ORDINALS = "_ _ twentieth thirtieth fortieth fiftieth sixtieth seventieth eightieth ninetieth".split()

_WORD_VALUES: dict[str, int] = {}
for _value, _word in enumerate(_UNITS):
    _WORD_VALUES[_word] = _value
for _value, _word in enumerate(_UNIT_ORDINALS):
    _WORD_VALUES[_word] = _value
for _tens in range(2, 10):
    _WORD_VALUES[_TENS[_tens]] = _tens * 10
    _WORD_VALUES[_TENS_ORDINALS[_tens]] = _tens * 10
    for _unit in range(1, 10):
        for _unit_word in (_UNITS[_unit], _UNIT_ORDINALS[_unit]):
            _WORD_VALUES[f"{_TENS[_tens]}-{_unit_word}"] = _tens * 10 + _unit
            _WORD_VALUES[f"{_TENS[_tens]} {_unit_word}"] = _tens * 10 + _unit

_ROMAN_DIGITS = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100, "d": 500, "m": 1000}
_ROMAN_SHAPE = re.compile(r"m{0,3}(cm|cd|d?c{0,3})(xc|xl|l?x{0,3})(ix|iv|v?i{0,3})")

# A number at the start of a heading's remainder: digits, a Roman numeral, or up to two
# number words ("twenty three"), optionally after "the" ("CHAPTER THE FIRST").
NUMBER_PATTERN = re.compile(
    r"(?P<number>\d{1,4}|[IVXLCDMivxlcdm]+\b|(?:the\s+)?[A-Za-z]+(?:[-\s][A-Za-z]+)?)"
)


def roman_to_int(numeral: str) -> int | None:
    """Return the value of a well-formed Roman numeral, or None."""
    lowered = numeral.lower()
    if not lowered or not _ROMAN_SHAPE.fullmatch(lowered):
        return None
    total = 0
    for index, digit in enumerate(lowered):
        value = _ROMAN_DIGITS[digit]
        following = _ROMAN_DIGITS[lowered[index + 1]] if index + 1 < len(lowered) else 0
        total += -value if value < following else value
    return total


def word_to_int(words: str) -> int | None:
    """Return the value of a number written in English words ("Forty-seven"), or None."""
    normalised = re.sub(r"\s+", " ", words.lower().strip())
    normalised = normalised.removeprefix("the ")
    value = _WORD_VALUES.get(normalised)
    return value if value else None


def parse_number(token: str) -> int | None:
    """Return the value of a heading number in any of the supported spellings, or None."""
    if token.isdigit():
        return int(token)
    return roman_to_int(token) or word_to_int(token)


def read_leading_number(text: str) -> tuple[int, str, str] | None:
    """Read a number at the start of text; return (value, number as printed, remainder)."""
    # Try the longest spelling first so "twenty three" wins over "twenty".
    for match in _leading_number_candidates(text):
        value = parse_number(match)
        if value:
            return value, match, text[len(match):]
    return None


def _leading_number_candidates(text: str) -> list[str]:
    """List prefixes of text that might be a number, longest first."""
    match = NUMBER_PATTERN.match(text)
    if not match:
        return []
    token = match.group("number")
    candidates = [token]
    shorter = re.match(r"(?:the\s+)?[A-Za-z]+", token)
    if shorter and shorter.group(0) != token:
        candidates.append(shorter.group(0))
    return candidates
