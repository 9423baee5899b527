"""When a param's or tag's text reads as a number: one rule for SQL (the query language's
comparisons) and for Python (``RunParam.value_num``, written at ingest), so both agree."""
from __future__ import annotations

import re

# Text a float8 cast takes without overflow or underflow: at most 100 characters and a two-digit
# exponent. Plain quantifiers: bounded ones make PostgreSQL's regex engine many times slower.
SQL_NUMBER = r"^-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9][0-9]?)?$"
MAX_NUMBER_TEXT = 100
_NUMBER = re.compile(SQL_NUMBER.removeprefix("^").removesuffix("$"))


def text_number(text: str) -> float | None:
    """``text`` as a float when SQL_NUMBER reads it as one, else None."""
    if len(text) > MAX_NUMBER_TEXT or not _NUMBER.fullmatch(text):
        return None
    return float(text)
