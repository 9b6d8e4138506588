"""The heap: OID -> object, spaces, global roots, constants, global names and plugins."""

from __future__ import annotations

from typing import Any

from . import wellknown as wk
from .errors import Error
from .objects import PayloadSpace, RpsObject
from .oid import Oid


class Heap:
    """All objects of one store, with the manifest's sets. Objects are unique by OID."""

    __slots__ = ("objects", "spaces", "roots", "constants", "plugins", "manifest_extra", "__weakref__")

    def __init__(self) -> None:
        self.objects: dict[Oid, RpsObject] = {}
        #: Space objects, in the manifest's `spaceset`.
        self.spaces: set[RpsObject] = set()
        #: Global roots (`globalroots`).
        self.roots: set[RpsObject] = set()
        #: Constants (`constset`).
        self.constants: set[RpsObject] = set()
        #: Plugin objects (`plugins`): modules built into `plugins/rps<oid>-mod.so`.
        self.plugins: set[RpsObject] = set()
        #: Other manifest members (provenance and unknown ones), kept for the next dump.
        self.manifest_extra: dict[str, Any] = {}

    def __len__(self) -> int:
        return len(self.objects)

    def get(self, oid: Oid | str) -> RpsObject | None:
        if isinstance(oid, str):
            oid = Oid.parse(oid)
        return self.objects.get(oid)

    def __getitem__(self, oid: Oid | str) -> RpsObject:
        obj = self.get(oid)
        if obj is None:
            raise KeyError(str(oid))
        return obj

    def __contains__(self, oid: Oid | str) -> bool:
        return self.get(oid) is not None

    def create(self, cls: RpsObject | Oid | None = None, *, oid: Oid | None = None,
               space: RpsObject | None = None, mtime: float | None = None) -> RpsObject:
        """Create and add an object (a fresh random OID unless given). Raise Error on a duplicate OID."""
        import time

        if isinstance(cls, Oid):
            cls = self[cls]
        if oid is None:
            oid = Oid.random()
            while oid in self.objects:
                oid = Oid.random()
        elif oid in self.objects:
            raise Error(f"duplicate object id {oid}", oid=str(oid))
        obj = RpsObject(oid, cls, mtime=round(time.time(), 2) if mtime is None else mtime, space=space)
        self.objects[oid] = obj
        return obj

    def add(self, obj: RpsObject) -> RpsObject:
        if obj.oid in self.objects:
            raise Error(f"duplicate object id {obj.oid}", oid=str(obj.oid))
        self.objects[obj.oid] = obj
        return obj

    def create_space(self, oid: Oid | None = None) -> RpsObject:
        """A new space object, added to the space set; it lives in the initial space as upstream's do."""
        initial = self.get(wk.INITIAL_SPACE)
        sp = self.create(self.get(wk.SPACE), oid=oid, space=initial)
        sp.payload = PayloadSpace()
        if sp.space is None:
            sp.space = sp
        self.spaces.add(sp)
        return sp
