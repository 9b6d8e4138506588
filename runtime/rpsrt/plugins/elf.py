"""A small ELF reader: a shared object's dynamic symbols and the bytes of a data symbol, without loading it.

Used to read `rps_plugin_manifest` and to check that `rps_plugin_init` exists before anything of a plugin
runs. Handles ELF32/ELF64, little and big endian; reads only the header, the section headers, `.dynsym` and
its strings, through `mmap` (or the bytes of a file already opened and mapped by the host). Every offset and
size read from the file is checked against the file's size first: a malformed or truncated file is one
PluginError naming it (reason "elf"), never an exception of another kind.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass, field
from typing import Any

from rpsrt.errors import PluginError

SHT_NOBITS = 8
SHT_DYNSYM = 11
STT_OBJECT, STT_FUNC = 1, 2
STB_GLOBAL, STB_WEAK = 1, 2
_MAX_MANIFEST = 1 << 20
#: More dynamic symbols than this is not a plugin (a guard against pathological files).
_MAX_SYMBOLS = 1 << 20
_MAX_SECTIONS = 1 << 16


def _error(message: str, path: str) -> PluginError:
    from rpsrt.plugins.trust import PluginRefused  # local: trust imports nothing of this module

    return PluginRefused(message, reason="elf", path=path)


@dataclass(frozen=True, slots=True)
class Symbol:
    """A defined, global (or weak) dynamic symbol: name, address, size, type (STT_*), section index."""

    name: str
    value: int
    size: int
    type: int
    shndx: int


@dataclass(frozen=True, slots=True)
class _Section:
    type: int
    addr: int
    offset: int
    size: int
    link: int
    entsize: int


@dataclass(frozen=True, slots=True)
class ElfFile:
    """What the host needs from a shared object: its defined dynamic symbols and its sections."""

    path: str
    symbols: dict[str, Symbol]
    sections: tuple[_Section, ...]
    _data: Any = field(default=b"", repr=False, compare=False)   # the file's bytes (bytes or an mmap)

    def functions(self) -> list[str]:
        """Names of the exported functions, sorted."""
        return sorted(s.name for s in self.symbols.values() if s.type == STT_FUNC)

    def read_symbol_bytes(self, name: str, limit: int = _MAX_MANIFEST) -> bytes | None:
        """The bytes of data symbol `name` up to (not including) its first NUL, or None when undefined."""
        sym = self.symbols.get(name)
        if sym is None:
            return None
        if sym.type != STT_OBJECT or not (0 < sym.shndx < len(self.sections)):
            raise _error(f"symbol {name} is not a data object in a section", self.path)
        sec = self.sections[sym.shndx]
        if sec.type == SHT_NOBITS or not (sec.addr <= sym.value < sec.addr + sec.size):
            raise _error(f"symbol {name} has no bytes in the file (is it defined as a const char "
                         "array with an initialiser?)", self.path)
        size_of_file = len(self._data)
        if sec.offset > size_of_file or sec.size > size_of_file - sec.offset:
            raise _error(f"truncated or corrupt ELF file: the section of symbol {name} lies beyond the end of "
                         "the file", self.path)
        start = sec.offset + (sym.value - sec.addr)
        avail = sec.addr + sec.size - sym.value
        size = min(sym.size if sym.size else avail, avail, limit)
        try:
            data = bytes(self._data[start:start + size])
        except ValueError:  # the mapping was closed with the file it came from
            raise _error(f"cannot read symbol {name}: the file is closed", self.path) from None
        nul = data.find(b"\0")
        if nul < 0:
            raise _error(f"symbol {name} is not NUL-terminated", self.path)
        return data[:nul]


def read_elf(path: str | os.PathLike[str], data: Any = None) -> ElfFile:
    """Parse a shared object's section headers and dynamic symbol table (never maps it executable, never
    runs it). `data`: the file's bytes when the caller has them (an mmap of a descriptor it verified)."""
    p = os.fspath(path)
    if data is None:
        data = _map(p)
    try:
        return _parse(p, data)
    except PluginError:
        raise
    except (struct.error, IndexError, ValueError, OverflowError, UnicodeError, MemoryError):
        raise _error("truncated or corrupt ELF file", p) from None


def _map(p: str) -> Any:
    try:
        with open(p, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                return b""
            return mmap.mmap(f.fileno(), 0, mmap.MAP_SHARED, mmap.PROT_READ)
    except (OSError, ValueError) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        raise _error(f"cannot read plugin: {why}", p) from None


def _parse(p: str, data: Any) -> ElfFile:
    size = len(data)
    if size < 52 or data[:4] != b"\x7fELF":
        raise _error("not an ELF shared object", p)
    cls, enc = data[4], data[5]
    if cls not in (1, 2) or enc not in (1, 2):
        raise _error("unsupported ELF class or encoding", p)
    e = "<" if enc == 1 else ">"
    if cls == 2:
        if size < 64:
            raise _error("truncated or corrupt ELF file: shorter than its header", p)
        (e_type,) = struct.unpack_from(e + "H", data, 16)
        shoff, = struct.unpack_from(e + "Q", data, 0x28)
        shentsize, shnum = struct.unpack_from(e + "HH", data, 0x3A)
        shfmt, symfmt = e + "IIQQQQIIQQ", e + "IBBHQQ"
    else:
        (e_type,) = struct.unpack_from(e + "H", data, 16)
        shoff, = struct.unpack_from(e + "I", data, 0x20)
        shentsize, shnum = struct.unpack_from(e + "HH", data, 0x2E)
        shfmt, symfmt = e + "IIIIIIIIII", e + "IIIBBH"
    shsize, symsize = struct.calcsize(shfmt), struct.calcsize(symfmt)
    if e_type != 3:
        raise _error("not an ELF shared object (ET_DYN)", p)
    if shoff == 0 or shnum == 0:
        raise _error("ELF file has no section headers", p)
    if shentsize < shsize:
        raise _error(f"truncated or corrupt ELF file: section header size {shentsize} (at least {shsize})", p)
    if shnum > _MAX_SECTIONS or shoff > size or shnum * shentsize > size - shoff:
        raise _error(f"truncated or corrupt ELF file: {shnum} section headers at offset {shoff:#x} do not fit "
                     f"in its {size} bytes", p)
    sections = []
    for i in range(shnum):
        h = struct.unpack_from(shfmt, data, shoff + i * shentsize)
        # (name, type, flags, addr, offset, size, link, info, addralign, entsize)
        sections.append(_Section(h[1], h[3], h[4], h[5], h[6], h[9]))

    def in_file(sec: _Section) -> bool:
        return sec.offset <= size and sec.size <= size - sec.offset

    symbols: dict[str, Symbol] = {}
    for index, sec in enumerate(sections):
        if sec.type != SHT_DYNSYM:
            continue
        if sec.entsize < symsize or not in_file(sec):
            raise _error(f"truncated or corrupt ELF file: dynamic symbol table (section {index}) lies beyond "
                         "the end of the file or has a bad entry size", p)
        if not (0 < sec.link < len(sections)) or sections[sec.link].type == SHT_NOBITS \
                or not in_file(sections[sec.link]):
            raise _error(f"truncated or corrupt ELF file: bad string table for section {index}", p)
        strtab = sections[sec.link]
        strings = bytes(data[strtab.offset:strtab.offset + strtab.size])
        count = sec.size // sec.entsize
        if count > _MAX_SYMBOLS:
            raise _error(f"truncated or corrupt ELF file: {count} dynamic symbols", p)
        for i in range(1, count):
            raw = struct.unpack_from(symfmt, data, sec.offset + i * sec.entsize)
            if cls == 2:
                st_name, st_info, _other, st_shndx, st_value, st_size = raw
            else:
                st_name, st_value, st_size, st_info, _other, st_shndx = raw
            bind, typ = st_info >> 4, st_info & 0xF
            if st_shndx == 0 or bind not in (STB_GLOBAL, STB_WEAK):
                continue
            if st_name >= len(strings):
                raise _error(f"truncated or corrupt ELF file: symbol {i} names offset {st_name:#x}, past its "
                             "string table", p)
            end = strings.find(b"\0", st_name)
            name = strings[st_name:end if end >= 0 else None].decode("utf-8", "replace")
            symbols[name] = Symbol(name, st_value, st_size, typ, st_shndx)
    return ElfFile(p, symbols, tuple(sections), data)
