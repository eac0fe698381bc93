#ifndef CSIEVECHECKSUM_H
#define CSIEVECHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/// Whether this CPU runs `sieve_crc32_fold` (x86-64 with PCLMULQDQ).
int sieve_crc32_fold_available(void);

/// Folds `count` bytes at `data` (a multiple of 64, at least 64) for the zlib CRC-32 (reflected polynomial
/// 0xEDB88320), with the CRC register `crc` (before the final XOR) added to their first four bytes, into the 16
/// bytes at `out`: the CRC register after `data` is the byte-wise CRC of `out` from a zero register. Carry-less
/// multiplication by x^(D-1) mod P folds each 16-byte block D bits forward (D = 512 for four streams, then 128);
/// see Formats/Bundle/CRC32.swift.
void sieve_crc32_fold(uint32_t crc, const void *data, size_t count, void *out);

#endif
