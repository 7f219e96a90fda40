from collections import Counter

import numpy as np
import pytest

from lightlab.techniques import entropy as E

TEXTBOOK = {"a": 45, "b": 13, "c": 12, "d": 16, "e": 9, "f": 5}


def test_huffman_is_optimal_on_the_textbook_example():
    lengths = E.huffman_code_lengths(TEXTBOOK)
    assert sum(TEXTBOOK[s] * n for s, n in lengths.items()) == 224
    assert lengths["a"] == 1 and lengths["f"] == 4
    codes = list(E.canonical_codes(lengths).values())
    assert not any(a != b and b.startswith(a) for a in codes for b in codes)  # a prefix code
    assert E.huffman_code_lengths({"z": 3}) == {"z": 1}


def test_huffman_round_trips_close_to_the_entropy():
    rng = np.random.default_rng(0)
    data = rng.choice(16, size=50_000, p=np.r_[0.4, 0.2, 0.1, [0.3 / 13] * 13]).astype(np.uint8).tobytes()
    blob = E.huffman_encode(data)
    assert E.huffman_decode(blob) == data
    p = np.array(list(Counter(data).values())) / len(data)
    entropy = -(p * np.log2(p)).sum()
    assert entropy <= 8 * (len(blob) - 6 - 16) / len(data) <= entropy + 1  # header: count, table of 16 lengths
    for edge in (b"", b"\x07" * 100):
        assert E.huffman_decode(E.huffman_encode(edge)) == edge
    with pytest.raises(E.CompressedFileError, match="truncated"):
        E.huffman_decode(blob[:-100])


@pytest.mark.parametrize("bits", [1, 3, 4, 8])
def test_bit_packing_round_trips_in_bits_wide_codes(bits):
    indices = np.random.default_rng(bits).integers(0, 2**bits, size=101).astype(np.uint8)
    blob = E.pack_bits(indices, bits)
    assert len(blob) == -(-101 * bits // 8)
    assert np.array_equal(E.unpack_bits(blob, bits, 101), indices)
