"""Entropy coding for compressed model files: a teaching Huffman coder, the standard coders to compare with, and
plain bit packing (the indices stored without a coder).

Huffman gives frequent symbols short codes; k-means indices of a pruned layer are far from uniform, which is why
Deep Compression's last stage still saves a third or more.
"""

from __future__ import annotations

import heapq
import lzma
import struct
import zlib
from collections import Counter
from collections.abc import Callable, Mapping

import numpy as np


class CompressedFileError(ValueError):
    """A compressed model file is truncated, corrupted, or does not fit the architecture it is loaded into."""


def huffman_code_lengths(counts: Mapping[int, int]) -> dict[int, int]:
    """Return {symbol: code length in bits} of a Huffman code for the symbol ``counts``."""
    if len(counts) == 1:  # one symbol still needs one bit per occurrence
        return {next(iter(counts)): 1}
    # Each heap entry: (total count, tie-breaker, {symbol: depth so far}). Merging the two rarest
    # subtrees puts every symbol in them one level deeper.
    heap = [(n, i, {symbol: 0}) for i, (symbol, n) in enumerate(sorted(counts.items()))]
    heapq.heapify(heap)
    while len(heap) > 1:
        n1, i, a = heapq.heappop(heap)
        n2, _, b = heapq.heappop(heap)
        heapq.heappush(heap, (n1 + n2, i, {s: depth + 1 for s, depth in {**a, **b}.items()}))
    return heap[0][2]


def canonical_codes(lengths: Mapping[int, int]) -> dict[int, str]:
    """Return {symbol: bit string}: the canonical prefix code with these lengths (only lengths need storing)."""
    codes, code, previous = {}, 0, 0
    for symbol, length in sorted(lengths.items(), key=lambda item: (item[1], item[0])):
        code <<= length - previous
        codes[symbol], code, previous = format(code, f"0{length}b"), code + 1, length
    return codes


def huffman_encode(data: bytes) -> bytes:
    """Return ``data`` Huffman-coded: symbol count, table size, code length of symbols 0..max, then the bits."""
    lengths = huffman_code_lengths(Counter(data)) if data else {}
    codes = canonical_codes(lengths)
    bits = "".join(codes[byte] for byte in data)
    stream = np.packbits(np.frombuffer(bits.encode(), dtype=np.uint8) - ord("0")).tobytes()
    table = bytes(lengths.get(symbol, 0) for symbol in range(max(lengths, default=-1) + 1))
    return struct.pack("<IH", len(data), len(table)) + table + stream


def huffman_decode(blob: bytes) -> bytes:
    """Return the bytes that ``huffman_encode`` turned into ``blob``."""
    n, size = struct.unpack_from("<IH", blob)
    table = blob[6 : 6 + size]
    lookup = {code: symbol for symbol, code in canonical_codes({s: k for s, k in enumerate(table) if k}).items()}
    bits = (np.unpackbits(np.frombuffer(blob[6 + size :], dtype=np.uint8)) + ord("0")).tobytes().decode()
    out, code = bytearray(), ""
    for bit in bits:  # a prefix code: the first match is the symbol
        code += bit
        if code in lookup:
            out.append(lookup[code])
            code = ""
            if len(out) == n:
                break
    if len(out) != n:
        raise CompressedFileError(f"Huffman stream ended after {len(out)} of {n} symbols: the file is truncated")
    return bytes(out)


def pack_bits(indices: np.ndarray, bits: int) -> bytes:
    """Return ``bits``-wide unsigned integers packed back to back: the indices stored without an entropy coder."""
    return np.packbits(np.unpackbits(indices.astype(np.uint8)[:, None], axis=1)[:, 8 - bits :]).tobytes()


def unpack_bits(blob: bytes, bits: int, n: int) -> np.ndarray:
    """Return the ``n`` unsigned ``bits``-wide integers that ``pack_bits`` stored in ``blob``, as uint8."""
    columns = np.unpackbits(np.frombuffer(blob, dtype=np.uint8))[: n * bits].reshape(n, bits)
    return np.packbits(np.pad(columns, ((0, 0), (8 - bits, 0))), axis=1).ravel()


CODERS: dict[str, tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]] = {
    "none": (bytes, bytes),
    "huffman": (huffman_encode, huffman_decode),
    "zlib": (lambda b: zlib.compress(b, 9), zlib.decompress),
    "lzma": (lambda b: lzma.compress(b, preset=9 | lzma.PRESET_EXTREME), lzma.decompress),
}
