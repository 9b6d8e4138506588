"""Reproducible OIDs: the object id `rpsc compile` gives a new object, derived from what the object is.

`derived_oid(("decl", "geo", "area"), taken)` is a pure function of its key: the same sources compiled into
a fresh store give the same OIDs, hence the same generated C, symbols and plugin files. The rule (also in
docs/code-in-the-heap.md, "Reproducible OIDs"):

    digest = SHA-256("rpsc-oid-1" NUL part NUL part ... NUL salt)     (UTF-8, salt a decimal number from 0)
    hi     = MIN_HI + (digest[0:8] as a big-endian uint64) mod (MAX_HI - MIN_HI)
    lo     = MIN_LO + (digest[8:16] as a big-endian uint64) mod (2**32 - MIN_LO)

which is a valid RefPerSys id (11 + 7 base-62 digits, first digit 0-9, `lo` below 2**32 as upstream
generates them); a pair whose RefPerSys hash is 0, or an id already `taken` (an object of the store, an
explicit `@OID` of the compile), moves on to the next salt, so a derived id never collides.
"""

from __future__ import annotations

import hashlib
from collections.abc import Container, Sequence
from itertools import count

from rpsrt.model.oid import GEN_MAX_LO, MAX_HI, MIN_HI, MIN_LO, Oid, oid_hash

PREFIX = "rpsc-oid-1"


def derived_oid(key: Sequence[str], taken: Container[Oid] = ()) -> Oid:
    """The reproducible OID of `key` (e.g. `("decl", module, name)`), the first one not in `taken`."""
    for salt in count():
        text = "\0".join((PREFIX, *key, str(salt)))
        d = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
        hi = MIN_HI + int.from_bytes(d[0:8], "big") % (MAX_HI - MIN_HI)
        lo = MIN_LO + int.from_bytes(d[8:16], "big") % (GEN_MAX_LO - MIN_LO)
        if oid_hash(hi, lo) == 0:
            continue
        oid = Oid(hi, lo)
        if oid not in taken:
            return oid
    raise AssertionError("unreachable")


class Taken:
    """The union of several containers of OIDs, without copying them (`oid in Taken(heap.objects, ids)`)."""

    __slots__ = ("parts",)

    def __init__(self, *parts: Container[Oid]) -> None:
        self.parts = parts

    def __contains__(self, oid: object) -> bool:
        return any(oid in p for p in self.parts)
