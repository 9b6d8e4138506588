"""Object ids: RefPerSys's 128-bit ids, their base-62 text, hash, bucket, order and generation (STORE_FORMAT.md §1).

An `Oid` is a tuple subclass `(hi, lo, text)`: creation, hashing, equality and ordering all run in C, which
matters when a store of 100,000 objects is loaded. Ordering is by `hi` then `lo` (the text never decides,
since equal numbers mean equal text). Build one with `Oid(hi, lo)`, `Oid.parse(text)` or `Oid.random()`.
"""

from __future__ import annotations

import array
import functools
import operator
import secrets
import sys
from collections.abc import Iterator
from itertools import repeat
from operator import itemgetter
from typing import Final

from rpsrt.errors import Error

#: Digit order of RefPerSys's base 62 (not ASCII order).
ALPHABET: Final = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIGIT: Final = {c: i for i, c in enumerate(ALPHABET)}
#: Two digits at a time: halves the work of decoding a text.
_PAIR: Final = {a + b: i * 62 + j for i, a in enumerate(ALPHABET) for j, b in enumerate(ALPHABET)}
#: `_` and the first two hi digits (the first one 0-9), as a number.
_HEAD: Final = {"_" + a + b: i * 62 + j for i, a in enumerate(ALPHABET[:10]) for j, b in enumerate(ALPHABET)}
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
#: Translates a text into one whose ASCII order is the (hi, lo) order.
_ORDER_TABLE: Final = str.maketrans(ALPHABET, "".join(chr(48 + i) for i in range(62)))


class OidError(Error, ValueError):
    """A text or a pair of numbers that is not a valid RefPerSys object id (also a ValueError, as it was)."""

    def __str__(self) -> str:
        return self.message  # callers embed it in their own located diagnostic


def oid_hash(hi: int, lo: int) -> int:
    """`uint32((hi % 2147473837) + ((hi >> 32) ^ (lo*17 + 201151)))`, computed with uint64 wraparound."""
    return ((hi % 2147473837) + ((hi >> 32) ^ ((lo * 17 + 201151) & _MASK64))) & 0xFFFFFFFF


_new = tuple.__new__


class Oid(tuple):  # type: ignore[type-arg]
    """An immutable, hashable, ordered RefPerSys object id; `hi`, `lo`, `str(oid)` is its 19-char text."""

    __slots__ = ()

    hi = property(itemgetter(0), doc="High 64 bits.")
    lo = property(itemgetter(1), doc="Low 64 bits.")
    text = property(itemgetter(2), doc="The 19-character text, e.g. `_8J6vNYtP5E800eCr5q`.")

    def __new__(cls, hi: int, lo: int) -> Oid:
        if type(hi) is not int or type(lo) is not int:
            raise OidError(f"object id numbers must be ints: hi={hi!r} lo={lo!r}")
        _check(hi, lo, None)
        return _new(cls, (hi, lo, _format(hi, lo)))

    def __getnewargs__(self) -> tuple[int, int]:  # type: ignore[override]
        return (self[0], self[1])

    @classmethod
    def parse(cls, text: str) -> Oid:
        """Parse the exact 19-character text (`_` + 11 hi digits + 7 lo digits); raise OidError."""
        # The table lookups reject every character outside the alphabet; the head table also requires `_`
        # and a first digit 0-9, which makes hi < 10*62**10; 7 lo digits make lo < 62**7.
        try:
            p = _PAIR
            hi = ((((_HEAD[text[:3]] * 3844 + p[text[3:5]]) * 3844 + p[text[5:7]]) * 3844 + p[text[7:9]]) * 3844
                  + p[text[9:11]]) * 62 + _DIGIT[text[11]]
            lo = ((p[text[12:14]] * 3844 + p[text[14:16]]) * 3844 + p[text[16:18]]) * 62 + _DIGIT[text[18]]
            if len(text) != 19:
                raise KeyError
        except (KeyError, TypeError, IndexError):
            raise OidError(f"malformed object id {text!r}") from None
        if hi < MIN_HI or lo < MIN_LO or not ((hi % 2147473837) + ((hi >> 32) ^ (lo * 17 + 201151))) & 0xFFFFFFFF:
            _check(hi, lo, text)
        return _new(cls, (hi, lo, text))

    @classmethod
    def parse_many(cls, joined: bytes) -> list[Oid]:
        """Parse many 19-byte ASCII texts laid end to end (`b"".join(texts)`), with the checks of `parse`,
        decoding all of them at once with big-integer arithmetic (a few passes in C over the whole buffer
        instead of a dozen Python operations per id); raise OidError naming the first bad one."""
        n, rest = divmod(len(joined), 19)
        if rest:
            raise OidError("object id texts are not 19 bytes each")
        if not n:
            return []
        digits = joined.translate(_BYTE_DIGIT)
        if (joined[0::19] != b"_" * n or digits.count(b"\xff") != n  # one per id: its `_`
                or digits[1::19].translate(_FIRST_OK) != b"\x00" * n):
            _first_bad(joined)
        his = _lanes(digits, n, 1, 11, 16)
        los = _lanes(digits, n, 12, 7, 8)
        texts = joined.decode("ascii")
        out = list(map(_from_tuple, zip(his, los, [texts[i:i + 19] for i in range(0, 19 * n, 19)])))
        if min(his) < MIN_HI or min(los) < MIN_LO or not all(_hashes(his, los)):
            _first_bad(joined)
        return out

    @classmethod
    def random(cls, rng: secrets.SystemRandom | None = None) -> Oid:
        """A fresh random id, generated as upstream does, with lo in [62**2, 2**32)."""
        rand = (rng or _SYSRAND).getrandbits
        while True:
            hi = rand(64) % MAX_HI
            if hi < MIN_HI:
                continue
            lo = rand(64) % GEN_MAX_LO
            if lo < MIN_LO or oid_hash(hi, lo) == 0:
                continue
            return _new(cls, (hi, lo, _format(hi, lo)))

    @property
    def hash(self) -> int:
        """The 32-bit RefPerSys hash (the `h:` number of the space file's framing lines)."""
        return oid_hash(self[0], self[1])

    @property
    def bucket(self) -> int:
        """The bucket number 0..619, from the first two hi digits."""
        return self[0] // BASE**9

    def __str__(self) -> str:
        return self[2]  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"Oid({self[2]!r})"



_SYSRAND = secrets.SystemRandom()
_from_tuple = functools.partial(tuple.__new__, Oid)
#: Byte -> its base-62 digit value, 0xff for a byte outside the alphabet.
_BYTE_DIGIT: Final = bytes(ALPHABET.encode().find(bytes([b])) & 0xFF if bytes([b]) in ALPHABET.encode()
                           else 0xFF for b in range(256))
#: Digit value -> 0 when it may start an id's hi part (0-9), else 1.
_FIRST_OK: Final = bytes(0 if b < 10 else 1 for b in range(256))


def _lanes(digits: bytes, n: int, start: int, count: int, width: int) -> list[int]:
    """The numbers of `count` base-62 digits at `start` of each 19-byte record of `digits`, all at once: the
    digits go right-aligned into `width`-byte lanes of one big integer, and log2(width) rounds merge
    neighbouring lanes (`high * 62**k + low`) until each lane holds its whole number."""
    buf = bytearray(width * n)
    pad = width - count
    for k in range(count):
        buf[pad + k::width] = digits[start + k::19]
    x = int.from_bytes(buf, "big")
    size, base = 8, 62
    while size < width * 8:
        lane = bytes(size // 8) + b"\xff" * (size // 8)
        mask = int.from_bytes(lane * (width * n * 8 // (2 * size)), "big")
        x = ((x >> size) & mask) * base + (x & mask)
        size, base = size * 2, base * base
    raw = x.to_bytes(width * n, "big")
    vals = array.array("Q", raw)
    if sys.byteorder == "little":
        vals.byteswap()
    step = width // 8  # each lane is `step` 64-bit words, big-endian: the number is in its last one
    return vals[step - 1::step].tolist() if step > 1 else vals.tolist()


def _hashes(his: list[int], los: list[int]) -> Iterator[int]:
    """`oid_hash` of every (hi, lo), each step one `map` running in C (no Python frame per id)."""
    mods = map(operator.mod, his, repeat(2147473837))
    highs = map(operator.rshift, his, repeat(32))
    mixed = map(operator.add, map(operator.mul, los, repeat(17)), repeat(201151))
    return map(operator.and_, map(operator.add, mods, map(operator.xor, highs, mixed)), repeat(0xFFFFFFFF))


def _first_bad(joined: bytes) -> None:
    for i in range(0, len(joined), 19):
        Oid.parse(joined[i:i + 19].decode("ascii", "replace"))
    raise OidError("malformed object id")  # pragma: no cover -- parse_many's checks are parse's


def _check(hi: int, lo: int, text: str | None) -> None:
    if not (MIN_HI <= hi < MAX_HI) or not (MIN_LO <= lo < MAX_LO):
        what = f"{text!r}" if text else f"hi={hi} lo={lo}"
        raise OidError(f"invalid object id {what}: numbers out of range")
    if oid_hash(hi, lo) == 0:
        what = f"{text!r}" if text else f"hi={hi} lo={lo}"
        raise OidError(f"invalid object id {what}: null hash")


def _format(hi: int, lo: int) -> str:
    digits = []
    for _ in range(NB_LO_DIGITS):
        lo, d = divmod(lo, BASE)
        digits.append(ALPHABET[d])
    for _ in range(NB_HI_DIGITS):
        hi, d = divmod(hi, BASE)
        digits.append(ALPHABET[d])
    digits.append("_")
    return "".join(reversed(digits))


def order_key(text: str) -> str:
    """A string whose ASCII order is the (hi, lo) order of the id `text` (for sorting texts without parsing)."""
    return text.translate(_ORDER_TABLE)


def looks_like_oid(text: str) -> bool:
    """True for a string the loader would take as an object reference (§4 rule 4), valid or not."""
    return (
        len(text) == 19
        and text[0] == "_"
        and text[1].isascii()
        and text[1].isalnum()
        and all(c in _DIGIT for c in text[1:])
    )
