"""JavaScript value semantics the reference's validation and token code relies on.

Supabase Storage checks transformation options with ajv (Fastify's defaults:
`coerceTypes: "array"`), parses signed-URL `transformations` claims with `parseInt` /
`parseFloat`, and writes numbers into claims with JavaScript's `String(number)`. To
accept and refuse exactly the same inputs, and to mint byte-identical claims, those
rules are reproduced here rather than approximated with Python's `int()` / `float()`
(which accept `"1_000"`, `"inf"` or `"nan"` and refuse `"0x10"` or `" 12 "`).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

# ECMAScript WhiteSpace + LineTerminator, what String.prototype.trim and Number() strip
_JS_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
            "\u2028\u2029\u202f\u205f\u3000\ufeff"
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_DECIMAL_PREFIX = re.compile(r"[+-]?(?:Infinity|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")
_RADIX = {"0x": 16, "0o": 8, "0b": 2}
_RADIX_DIGITS = {16: re.compile(r"[0-9a-fA-F]+"), 8: re.compile(r"[0-7]+"), 2: re.compile(r"[01]+")}


def number(text: str) -> float:
    """`Number(text)`: NaN (not an exception) when the string is not a number."""
    body = text.strip(_JS_SPACE)
    if body == "":
        return 0.0
    if body in ("Infinity", "+Infinity"):
        return math.inf
    if body == "-Infinity":
        return -math.inf
    radix = _RADIX.get(body[:2].lower())
    if radix is not None:
        digits = body[2:]
        return float(int(digits, radix)) if _RADIX_DIGITS[radix].fullmatch(digits) else math.nan
    if _DECIMAL.fullmatch(body):
        return float(body)
    return math.nan


def parse_int(text: str) -> int | None:
    """`parseInt(text, 10)`; None stands for NaN."""
    match = re.match(r"[+-]?\d+", text.lstrip(_JS_SPACE))
    return int(match.group()) if match else None


def parse_float(text: str) -> float:
    """`parseFloat(text)`: the longest numeric prefix, NaN if there is none."""
    match = _DECIMAL_PREFIX.match(text.lstrip(_JS_SPACE))
    if not match:
        return math.nan
    token = match.group()
    if token.lstrip("+-") == "Infinity":
        return -math.inf if token.startswith("-") else math.inf
    return float(token)


def to_string(value: float) -> str:
    """`String(value)` for a JavaScript number (shortest round-trip digits, JS exponent rules)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    _, digit_tuple, exponent = Decimal(repr(abs(float(value)))).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    assert isinstance(exponent, int)
    # value = 0.<digits> * 10**n
    n = len(digit_tuple) + exponent
    k = len(digits)
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        mantissa = digits[0] + ("." + digits[1:] if k > 1 else "")
        text = f"{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"
    return sign + text


# --- ajv type coercion (coerceTypes: "array") -----------------------------------------

class _Missing:
    pass


NOT_COERCIBLE: Any = _Missing()


def _unwrap(value: Any) -> Any:
    """`coerceTypes: "array"`: a one-element array stands for its element."""
    if isinstance(value, list | tuple) and len(value) == 1:
        return value[0]
    return value


def coerce_number(value: Any, *, integer: bool) -> Any:
    """ajv's coercion to `number` / `integer`: the coerced value, or NOT_COERCIBLE.

    Booleans become 1/0, null becomes 0, and a non-empty string whose `Number()` is not
    NaN becomes that number (for `integer`, only when `x % 1` is not truthy, which lets
    Infinity through, as in ajv; the schema's `finite` keyword refuses it afterwards).
    """
    value = _unwrap(value)
    if isinstance(value, bool):
        return 1 if value else 0
    if isinstance(value, int | float):
        if math.isnan(value) or (integer and math.isfinite(value) and value != int(value)):
            return NOT_COERCIBLE
        return int(value) if integer and math.isfinite(value) else value
    if value is None:
        return 0
    if isinstance(value, str) and value != "":
        parsed = number(value)
        if math.isnan(parsed):
            return NOT_COERCIBLE
        if integer and math.isfinite(parsed):
            return int(parsed) if parsed == int(parsed) else NOT_COERCIBLE
        return parsed
    return NOT_COERCIBLE


def coerce_string(value: Any) -> Any:
    """ajv's coercion to `string`: numbers and booleans are stringified, null is ""."""
    value = _unwrap(value)
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return to_string(value)
    if value is None:
        return ""
    return NOT_COERCIBLE
