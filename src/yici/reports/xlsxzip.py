"""Writing a big worksheet part into an .xlsx without holding its XML: the rows are compressed as
they are made, and the part is put together from compressed pieces.

A raw deflate stream ended with a full flush stops on a byte boundary without closing the stream,
so pieces compressed separately (the part's head, each process's rows, its tail) concatenate into
one valid stream (as pigz does); their CRC-32s combine with ``crc32_combine`` (zlib's algorithm).
``build_zip`` writes the package with the pieces as they are, copying the other parts.
"""

import struct
import threading
import zipfile
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

LEVEL = 1  # the file is a download, not an archive: fast compression
CHUNK = 1 << 20


@dataclass(frozen=True)
class Piece:
    """A piece of a raw deflate stream ended by a full flush, with its text's CRC-32 and length."""

    data: bytes
    crc: int
    size: int


def _gf2_times(matrix: list[int], vector: int) -> int:
    total, i = 0, 0
    while vector:
        if vector & 1:
            total ^= matrix[i]
        vector >>= 1
        i += 1
    return total


def _gf2_square(matrix: list[int]) -> list[int]:
    return [_gf2_times(matrix, matrix[n]) for n in range(32)]


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """The CRC-32 of A+B from those of A and B and B's length (zlib's ``crc32_combine``)."""
    if len2 <= 0:
        return crc1
    odd = [0xEDB88320] + [1 << n for n in range(31)]  # the operator for one zero bit
    even = _gf2_square(odd)  # two zero bits
    odd = _gf2_square(even)  # four zero bits
    while True:
        even = _gf2_square(odd)
        if len2 & 1:
            crc1 = _gf2_times(even, crc1)
        len2 >>= 1
        if not len2:
            break
        odd = _gf2_square(even)
        if len2 & 1:
            crc1 = _gf2_times(odd, crc1)
        len2 >>= 1
        if not len2:
            break
    return crc1 ^ crc2


def deflate_piece(text: str | bytes, *, final: bool = False) -> Piece:
    data = text.encode("utf-8") if isinstance(text, str) else text
    z = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
    body = z.compress(data) + z.flush(zlib.Z_FINISH if final else zlib.Z_FULL_FLUSH)
    return Piece(body, zlib.crc32(data), len(data))


def join_pieces(pieces: list[Piece]) -> Piece:
    crc, size = 0, 0
    for piece in pieces:
        crc = crc32_combine(crc, piece.crc, piece.size)
        size += piece.size
    return Piece(b"".join(p.data for p in pieces), crc, size)


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """The process's one compression thread (made on first use; a thread per fill costs more than
    a village's compression when three hundred villages are filled in a row)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="yici-deflate")
        return _POOL


class Compressor:
    """Compression for the sinks of a fill, on the process's compression thread (zlib lets go of
    the GIL while it works, so compressing runs beside the rendering of the next rows)."""

    def __init__(self):
        self.pool = _pool()

    def sink(self) -> "DeflateSink":
        return DeflateSink(self)

    def close(self) -> None:
        """Nothing to stop: each sink waits for its own work when it is closed."""

    def __enter__(self) -> "Compressor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class DeflateSink:
    """Text written in order, compressed in the background to a ``Piece`` (``close``)."""

    def __init__(self, compressor: Compressor):
        self.compressor = compressor
        self.z = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
        self.buffer: list[str] = []
        self.buffered = 0
        self.parts: list[bytes] = []
        self.crc = 0
        self.size = 0
        self.pending: list[Future] = []

    def write(self, text: str) -> None:
        self.buffer.append(text)
        self.buffered += len(text)
        if self.buffered >= CHUNK:
            self._push()

    def _push(self) -> None:
        if not self.buffer:
            return
        data = "".join(self.buffer).encode("utf-8")
        self.buffer, self.buffered = [], 0
        self.pending.append(self.compressor.pool.submit(self._compress, data))

    def _compress(self, data: bytes) -> None:
        self.crc = zlib.crc32(data, self.crc)
        self.size += len(data)
        self.parts.append(self.z.compress(data))

    def close(self) -> Piece:
        self._push()
        self.pending.append(self.compressor.pool.submit(lambda: self.parts.append(self.z.flush(zlib.Z_FULL_FLUSH))))
        for job in self.pending:  # the single worker runs them in order; any failure is raised here
            job.result()
        self.pending = []
        return Piece(b"".join(self.parts), self.crc, self.size)


class PartTooLarge(Exception):
    """A part would need ZIP64 (4 GB or more)."""


def build_zip(skeleton: bytes, replaced: dict[str, Piece]) -> bytes:
    """The package ``skeleton`` with the parts named in ``replaced`` given as deflate pieces (the
    last piece of each must be final); every other part is copied, recompressed."""
    source = zipfile.ZipFile(_reader(skeleton))
    out = bytearray()
    central = bytearray()
    count = 0
    for info in source.infolist():
        name = info.filename.encode("utf-8")
        piece = replaced.get(info.filename)
        if piece is None:
            piece = deflate_piece(source.read(info), final=True)
        if piece.size >= 0xFFFFFFFF or len(piece.data) >= 0xFFFFFFFF or len(out) >= 0xFFFFFFFF:
            raise PartTooLarge(info.filename)
        dostime = (info.date_time[3] << 11) | (info.date_time[4] << 5) | (info.date_time[5] // 2)
        dosdate = ((info.date_time[0] - 1980) << 9) | (info.date_time[1] << 5) | info.date_time[2]
        flags = 0x800 if any(b > 127 for b in name) else 0
        offset = len(out)
        out += struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, flags, zipfile.ZIP_DEFLATED, dostime, dosdate,
                           piece.crc & 0xFFFFFFFF, len(piece.data), piece.size, len(name), 0)
        out += name
        out += piece.data
        central += struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, flags, zipfile.ZIP_DEFLATED,
                               dostime, dosdate, piece.crc & 0xFFFFFFFF, len(piece.data), piece.size, len(name), 0,
                               0, 0, 0, 0o600 << 16, offset)
        central += name
        count += 1
    start = len(out)
    out += central
    out += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(central), start, 0)
    return bytes(out)


def _reader(data: bytes):
    import io

    return io.BytesIO(data)
