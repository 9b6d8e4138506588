"""Object ids: text, numbers, strict validation, hash, bucket, order and generation (STORE_FORMAT.md §1)."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rpsrt.model.oid import (
    ALPHABET,
    GEN_MAX_LO,
    MAX_HI,
    MAX_LO,
    MIN_HI,
    MIN_LO,
    Oid,
    OidError,
    oid_hash,
    looks_like_oid,
    order_key,
)

# Decoded examples of the format notes, and `h:` numbers read from upstream's framing lines.
EXAMPLES = [
    ("_8J6vNYtP5E800eCr5q", 7324985870835087172, 216029292, 47931959),
    ("_1Io89yIORqn02SXx4p", 1440200052367740775, 2644376285, None),
    ("_41OFI3r0S1t03qdB2E", 3381798443855656707, 3135823888, None),
    ("_006mAbXTG4G00QR5HS", None, None, 2127571271),
    ("_0cSUtWqTYdZ00mjeNR", None, None, 3351275404),
    ("_9ZFeUnou7r800fIXlm", None, None, 3938610508),
]

valid_numbers = st.tuples(st.integers(MIN_HI, MAX_HI - 1), st.integers(MIN_LO, MAX_LO - 1))


@pytest.mark.parametrize("text,hi,lo,h", EXAMPLES)
def test_known_ids(text: str, hi: int | None, lo: int | None, h: int | None) -> None:
    """Upstream's ids decode to the documented numbers and hashes, and format back to the same text."""
    oid = Oid.parse(text)
    if hi is not None:
        assert (oid.hi, oid.lo) == (hi, lo)
        assert str(Oid(hi, lo)) == text
    if h is not None:
        assert oid.hash == h
    assert str(oid) == text and oid.text == text


@pytest.mark.parametrize("bad", [
    "_8J6vNYtP5E800eCr5", "_8J6vNYtP5E800eCr5qq", "8J6vNYtP5E800eCr5qX", "_aJ6vNYtP5E800eCr5q",
    "_8J6vNYtP5E800eCr5-", "_8J6vNYtP5E800eCr5\u00e9", "_0000000000000000000"[:19], "_000000000a000000000"[:19],
    "_8J6vNYtP5E8000000a", "", None, 42, b"_8J6vNYtP5E800eCr5q",
])
def test_malformed_ids_are_rejected(bad: object) -> None:
    """Wrong length, a non-digit first character, characters outside the alphabet, hi or lo out of range."""
    with pytest.raises(OidError):
        Oid.parse(bad)  # type: ignore[arg-type]


def test_out_of_range_numbers_are_rejected() -> None:
    """Numbers outside [62**3, 10*62**10) x [62**2, 62**7) are no id."""
    for hi, lo in [(MIN_HI - 1, MIN_LO), (MAX_HI, MIN_LO), (MIN_HI, MIN_LO - 1), (MIN_HI, MAX_LO), (1.5, 3)]:
        with pytest.raises(OidError):
            Oid(hi, lo)  # type: ignore[arg-type]


def _null_hash_numbers() -> tuple[int, int]:
    """Some (hi, lo) in range whose hash is 0: the sum never reaches 2**32 for valid ids, so the hash is 0
    exactly when hi >> 32 == lo*17 + 201151 and hi % 2147473837 == 0."""
    lo = MIN_LO
    base = (lo * 17 + 201151) << 32
    return base + (-base) % 2147473837, lo


def test_null_hash_is_rejected() -> None:
    """An id whose hash is 0 is invalid, whether built from numbers or parsed from text."""
    hi, lo = _null_hash_numbers()
    assert ((hi % 2147473837) + ((hi >> 32) ^ (lo * 17 + 201151))) % 2**32 == 0
    with pytest.raises(OidError, match="null hash"):
        Oid(hi, lo)
    good = Oid(hi, lo + 1)  # a neighbour, to get the text of the null-hash one
    text = str(good)[:-1] + ALPHABET[ALPHABET.index(str(good)[-1]) - 1]
    with pytest.raises(OidError, match="null hash"):
        Oid.parse(text)


@settings(max_examples=300)
@given(valid_numbers)
def test_text_round_trip(numbers: tuple[int, int]) -> None:
    """Any valid (hi, lo) formats to 19 characters that parse back to the same id."""
    hi, lo = numbers
    try:
        oid = Oid(hi, lo)
    except OidError:
        return  # the rare null hash
    text = str(oid)
    assert len(text) == 19 and text[0] == "_" and text[1] in "0123456789"
    assert Oid.parse(text) == oid and hash(Oid.parse(text)) == hash(oid)
    assert oid.bucket == ALPHABET.index(text[1]) * 62 + ALPHABET.index(text[2])
    assert 0 <= oid.bucket < 620
    assert looks_like_oid(text)


@settings(max_examples=200)
@given(st.lists(valid_numbers, min_size=2, max_size=20))
def test_order_is_numeric_and_digitwise(pairs: list[tuple[int, int]]) -> None:
    """Ids order by (hi, lo), which is digit-wise order in the alphabet (not ASCII order)."""
    oids = []
    for hi, lo in pairs:
        try:
            oids.append(Oid(hi, lo))
        except OidError:
            pass
    by_oid = sorted(oids)
    assert [(o.hi, o.lo) for o in by_oid] == sorted((o.hi, o.lo) for o in oids)
    assert [str(o) for o in by_oid] == sorted((str(o) for o in oids), key=lambda t: [ALPHABET.index(c) for c in t[1:]])
    assert [str(o) for o in by_oid] == sorted((str(o) for o in oids), key=order_key)


def test_alphabet_order_differs_from_ascii() -> None:
    """A lowercase digit sorts before an uppercase one, unlike ASCII."""
    a, b = Oid.parse("_8J6vNYtP5E800eCr5q"), Oid.parse("_8J6VNYtP5E800eCr5q")
    assert a < b and str(a) > str(b)


def test_random_ids() -> None:
    """Generated ids are valid, distinct, and keep lo below 2**32 as upstream's do."""
    seen = set()
    for _ in range(2000):
        oid = Oid.random()
        assert MIN_LO <= oid.lo < GEN_MAX_LO and MIN_HI <= oid.hi < MAX_HI and oid.hash != 0
        assert Oid.parse(str(oid)) == oid
        seen.add(oid)
    assert len(seen) == 2000


def test_ids_pickle_and_compare() -> None:
    """Ids survive pickling, are immutable, and are usable as dict keys."""
    oid = Oid.parse("_41OFI3r0S1t03qdB2E")
    assert pickle.loads(pickle.dumps(oid)) == oid
    assert {oid: 1}[Oid.parse("_41OFI3r0S1t03qdB2E")] == 1
    with pytest.raises(AttributeError):
        oid.hi = 3  # type: ignore[misc]
    assert repr(oid) == "Oid('_41OFI3r0S1t03qdB2E')"


def test_looks_like_oid() -> None:
    """The loader's rule for a reference-looking string: 19 chars, `_`, then base-62 characters only."""
    assert looks_like_oid("_zzzzzzzzzzzzzzzzzz")
    assert not looks_like_oid("_zzzzzzzzzzzzzzzzz-")
    assert not looks_like_oid("_zz")


_VALID_PAIRS = st.tuples(st.integers(62**3, 10 * 62**10 - 1), st.integers(62**2, 62**7 - 1)).filter(
    lambda p: oid_hash(*p) != 0)


@settings(max_examples=200, deadline=None)
@given(st.lists(_VALID_PAIRS, max_size=40))
def test_parse_many_equals_parse(pairs: list[tuple[int, int]]) -> None:
    """Bulk decoding gives exactly the Oids that parsing each text gives, extreme values included."""
    oids = [Oid(hi, lo) for hi, lo in pairs] + [Oid(62**3, 62**2), Oid(10 * 62**10 - 1, 62**7 - 1)]
    got = Oid.parse_many(b"".join(o.text.encode() for o in oids))
    assert got == [Oid.parse(o.text) for o in oids]
    assert all(type(o) is Oid and o.text == t.text for o, t in zip(got, oids, strict=True))


@pytest.mark.parametrize("bad", ["x8J6vNYtP5E800eCr5q", "_AJ6vNYtP5E800eCr5q", "_8J6vNY-P5E800eCr5q",
                                 "_000000000000000000", "_8J6vNYtP5E800eCr5"])
def test_parse_many_refuses_what_parse_refuses(bad: str) -> None:
    """A bad text among good ones is refused by bulk decoding with the message `parse` gives for it."""
    good = b"_8J6vNYtP5E800eCr5q" * 3
    with pytest.raises(OidError) as bulk:
        Oid.parse_many(good + bad.encode())
    if len(bad) == 19:
        with pytest.raises(OidError) as one:
            Oid.parse(bad)
        assert str(bulk.value) == str(one.value)
