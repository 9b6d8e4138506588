"""Object ids: RefPerSys's 128-bit ids, their base-62 text, hash, bucket, order and generation."""

from __future__ import annotations

import re
import secrets
from typing import Final

#: Digit order of RefPerSys's base 62 (not ASCII order).
ALPHABET: Final = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIGIT: Final = {c: i for i, c in enumerate(ALPHABET)}
BASE: Final = 62
NB_HI_DIGITS: Final = 11
NB_LO_DIGITS: Final = 7
MIN_HI: Final = BASE**3
MAX_HI: Final = 10 * BASE**10
MIN_LO: Final = BASE**2
MAX_LO: Final = BASE**7
#: rpsc generates `lo` below 2**32, as upstream does (its constructor truncates to uint32_t).
GEN_MAX_LO: Final = 2**32
_MASK64: Final = (1 << 64) - 1
_STRICT: Final = re.compile(r"_[0-9][0-9A-Za-z]{17}\Z")


class OidError(ValueError):
    """A text or a pair of numbers that is not a valid RefPerSys object id."""


def _hash(hi: int, lo: int) -> int:
    # uint32((hi % 2147473837) + ((hi >> 32) ^ (lo*17 + 201151))), with uint64 wraparound.
    return (((hi % 2147473837) + ((hi >> 32) ^ ((lo * 17 + 201151) & _MASK64))) & _MASK64) & 0xFFFFFFFF


class Oid:
    """An immutable, hashable, ordered RefPerSys object id (hi, lo)."""

    __slots__ = ("hi", "lo", "_text")

    hi: int
    lo: int
    _text: str

    def __init__(self, hi: int, lo: int) -> None:
        if not (MIN_HI <= hi < MAX_HI) or not (MIN_LO <= lo < MAX_LO):
            raise OidError(f"object id numbers out of range: hi={hi} lo={lo}")
        if _hash(hi, lo) == 0:
            raise OidError(f"object id with a null hash: hi={hi} lo={lo}")
        object.__setattr__(self, "hi", hi)
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "_text", _format(hi, lo))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Oid is immutable")

    def __reduce__(self) -> tuple[type[Oid], tuple[int, int]]:
        return (Oid, (self.hi, self.lo))

    @classmethod
    def parse(cls, text: str) -> Oid:
        """Parse the exact 19-character text (`_` + 11 hi digits + 7 lo digits); raise OidError."""
        if not isinstance(text, str) or not _STRICT.match(text):
            raise OidError(f"malformed object id {text!r}")
        hi = 0
        for c in text[1 : 1 + NB_HI_DIGITS]:
            hi = hi * BASE + _DIGIT[c]
        lo = 0
        for c in text[1 + NB_HI_DIGITS :]:
            lo = lo * BASE + _DIGIT[c]
        try:
            return cls(hi, lo)
        except OidError as exc:
            raise OidError(f"invalid object id {text!r}: {exc}") from None

    @classmethod
    def random(cls, rng: secrets.SystemRandom | None = None) -> Oid:
        """A fresh random id, generated as upstream does, with lo below 2**32."""
        rand = (rng or _SYSRAND).getrandbits
        while True:
            hi = rand(64) % MAX_HI
            if hi < MIN_HI:
                continue
            lo = rand(64) % GEN_MAX_LO
            if lo < MIN_LO or _hash(hi, lo) == 0:
                continue
            return cls(hi, lo)

    @property
    def hash(self) -> int:
        """The 32-bit RefPerSys hash (the `h:` number of the space file's framing lines)."""
        return _hash(self.hi, self.lo)

    @property
    def bucket(self) -> int:
        """The bucket number 0..619, from the first two hi digits."""
        return self.hi // BASE**9

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"Oid({self._text!r})"

    def __hash__(self) -> int:
        return hash((self.hi, self.lo))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Oid):
            return self.hi == other.hi and self.lo == other.lo
        return NotImplemented

    def __lt__(self, other: Oid) -> bool:
        return (self.hi, self.lo) < (other.hi, other.lo)

    def __le__(self, other: Oid) -> bool:
        return (self.hi, self.lo) <= (other.hi, other.lo)

    def __gt__(self, other: Oid) -> bool:
        return (self.hi, self.lo) > (other.hi, other.lo)

    def __ge__(self, other: Oid) -> bool:
        return (self.hi, self.lo) >= (other.hi, other.lo)


_SYSRAND = secrets.SystemRandom()


def _format(hi: int, lo: int) -> str:
    out = ["_"]
    digits = []
    for _ in range(NB_HI_DIGITS):
        hi, d = divmod(hi, BASE)
        digits.append(ALPHABET[d])
    out.extend(reversed(digits))
    digits = []
    for _ in range(NB_LO_DIGITS):
        lo, d = divmod(lo, BASE)
        digits.append(ALPHABET[d])
    out.extend(reversed(digits))
    return "".join(out)


def looks_like_oid(text: str) -> bool:
    """True for a string the loader would take as an object reference (§4 rule 4), valid or not."""
    return (
        len(text) == 19
        and text[0] == "_"
        and text[1].isascii()
        and text[1].isalnum()
        and all(c in _DIGIT for c in text[1:])
    )
