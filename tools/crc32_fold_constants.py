"""The folding constants of Sources/CSieveChecksum/CRC32Fold.c, and a check of the folding against zlib.

For the zlib CRC-32 (polynomial P = 0x104C11DB7, bits reflected), a 16-byte block moved D bits forward is its
older 64 bits times x^(64+D-1) mod P plus its newer 64 bits times x^(D-1) mod P (carry-less products, one bit short
of the block's reflection, which the -1 makes up). Each constant is printed reflected into the high half of 64
bits: the coefficient of x^t at bit 63 - t.

    python3 tools/crc32_fold_constants.py
"""
import os
import zlib

P = 0x104C11DB7


def x_power_mod(exponent):
    r = 1
    for _ in range(exponent):
        r <<= 1
        if r >> 32 & 1:
            r ^= P
    return r


def reflected64(k):
    return sum(1 << (63 - t) for t in range(32) if k >> t & 1)


def clmul(a, b):
    r = 0
    for i in range(64):
        if a >> i & 1:
            r ^= b << i
    return r


def fold(x, older, newer, following):
    return clmul(x & (1 << 64) - 1, older) ^ clmul(x >> 64, newer) ^ following


def crc_register(register, data):
    for byte in data:
        register ^= byte
        for _ in range(8):
            register = (register >> 1) ^ (0xEDB88320 if register & 1 else 0)
    return register


def main():
    k = {e: reflected64(x_power_mod(e)) for e in (575, 511, 191, 127)}
    for e, value in k.items():
        print(f"#define K{e} 0x{value:016x}ULL")
    for n in (64, 128, 640):
        data = os.urandom(n + 7)
        blocks = [int.from_bytes(data[i:i + 16], "little") for i in range(0, n, 16)]
        blocks[0] ^= 0xFFFFFFFF
        x = blocks[:4]
        for b in range(4, len(blocks), 4):
            x = [fold(x[i], k[575], k[511], blocks[b + i]) for i in range(4)]
        r = x[0]
        for i in (1, 2, 3):
            r = fold(r, k[191], k[127], x[i])
        register = crc_register(crc_register(0, r.to_bytes(16, "little")), data[n:])
        assert register ^ 0xFFFFFFFF == zlib.crc32(data), n
    print("folding checked against zlib.crc32")


if __name__ == "__main__":
    main()
