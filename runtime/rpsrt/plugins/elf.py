"""A small ELF reader: a shared object's dynamic symbols and the bytes of a data symbol, without loading it.

Used to read `rps_plugin_manifest` and to check that `rps_plugin_init` exists before anything of a plugin
runs. Handles ELF32/ELF64, little and big endian; reads only section headers, `.dynsym` and its strings.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from rpsrt.errors import PluginError

SHT_NOBITS = 8
SHT_DYNSYM = 11
STT_OBJECT, STT_FUNC = 1, 2
STB_GLOBAL, STB_WEAK = 1, 2
_MAX_MANIFEST = 1 << 20


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

    def functions(self) -> list[str]:
        """Names of the exported functions, sorted."""
        return sorted(s.name for s in self.symbols.values() if s.type == STT_FUNC)

    def read_symbol_bytes(self, name: str, limit: int = _MAX_MANIFEST) -> bytes | None:
        """The bytes of data symbol `name` up to (not including) its first NUL, or None when undefined."""
        sym = self.symbols.get(name)
        if sym is None:
            return None
        if sym.type != STT_OBJECT or not (0 < sym.shndx < len(self.sections)):
            raise PluginError(f"symbol {name} is not a data object in a section", path=self.path)
        sec = self.sections[sym.shndx]
        if sec.type == SHT_NOBITS or not (sec.addr <= sym.value < sec.addr + sec.size):
            raise PluginError(f"symbol {name} has no bytes in the file (is it defined as a const char "
                              "array with an initialiser?)", path=self.path)
        start = sec.offset + (sym.value - sec.addr)
        avail = sec.addr + sec.size - sym.value
        size = min(sym.size if sym.size else avail, avail, limit)
        with open(self.path, "rb") as f:
            f.seek(start)
            data = f.read(size)
        nul = data.find(b"\0")
        if nul < 0:
            raise PluginError(f"symbol {name} is not NUL-terminated", path=self.path)
        return data[:nul]


def read_elf(path: str | os.PathLike[str]) -> ElfFile:
    """Parse a shared object's section headers and dynamic symbol table (never maps or runs it)."""
    p = os.fspath(path)
    try:
        with open(p, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise PluginError(f"cannot read plugin: {exc.strerror}", path=p) from None
    if len(data) < 52 or data[:4] != b"\x7fELF":
        raise PluginError("not an ELF shared object", path=p)
    cls, enc = data[4], data[5]
    if cls not in (1, 2) or enc not in (1, 2):
        raise PluginError("unsupported ELF class or encoding", path=p)
    e = "<" if enc == 1 else ">"
    try:
        if cls == 2:
            (e_type,) = struct.unpack_from(e + "H", data, 16)
            shoff, = struct.unpack_from(e + "Q", data, 0x28)
            shentsize, shnum = struct.unpack_from(e + "HH", data, 0x3A)
            shfmt, symfmt = e + "IIQQQQIIQQ", e + "IBBHQQ"
        else:
            (e_type,) = struct.unpack_from(e + "H", data, 16)
            shoff, = struct.unpack_from(e + "I", data, 0x20)
            shentsize, shnum = struct.unpack_from(e + "HH", data, 0x2E)
            shfmt, symfmt = e + "IIIIIIIIII", e + "IIIBBH"
        if e_type != 3:
            raise PluginError("not an ELF shared object (ET_DYN)", path=p)
        if shoff == 0 or shnum == 0:
            raise PluginError("ELF file has no section headers", path=p)
        sections = []
        for i in range(shnum):
            h = struct.unpack_from(shfmt, data, shoff + i * shentsize)
            # (name, type, flags, addr, offset, size, link, info, addralign, entsize)
            sections.append(_Section(h[1], h[3], h[4], h[5], h[6], h[9]))
        symbols: dict[str, Symbol] = {}
        for sec in sections:
            if sec.type != SHT_DYNSYM or sec.entsize == 0:
                continue
            strtab = sections[sec.link]
            strings = data[strtab.offset:strtab.offset + strtab.size]
            for i in range(1, sec.size // sec.entsize):
                raw = struct.unpack_from(symfmt, data, sec.offset + i * sec.entsize)
                if cls == 2:
                    st_name, st_info, _other, st_shndx, st_value, st_size = raw
                else:
                    st_name, st_value, st_size, st_info, _other, st_shndx = raw
                bind, typ = st_info >> 4, st_info & 0xF
                if st_shndx == 0 or bind not in (STB_GLOBAL, STB_WEAK):
                    continue
                end = strings.find(b"\0", st_name)
                name = strings[st_name:end if end >= 0 else None].decode("utf-8", "replace")
                symbols[name] = Symbol(name, st_value, st_size, typ, st_shndx)
    except (struct.error, IndexError):
        raise PluginError("truncated or corrupt ELF file", path=p) from None
    return ElfFile(p, symbols, tuple(sections))
