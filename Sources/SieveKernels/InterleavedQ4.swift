import CSieveKernels

/// Products of interleaved matrices (`WeightMatrix.interleaved()`: q4_0, q4_1, q5_0, q5_1, q8_0, iq4_nl, iq4_xs,
/// q4_K, q5_K), decode and prefill (`rows`): whole 16-row groups in the C kernels, 16 rows per `vpdpbusd` (a prototype
/// multiplied a 1536×576 q4_1 matrix on one core in 8.9 µs from L2 and 24.6 µs from memory, against 26.0 and 30.5 µs
/// for the four-row kernel), or with AVX2 alone 8 rows per `vpmaddubsw`; any other rows (a listed neuron, a group
/// cut by a range, or the Swift kernels) are copied back to the row layout and run through the row kernels.
enum InterleavedQ4 {
    /// `output[t·outputStride + r]` for the rows `rows` of `w` and every bound token (their q8 forms prepared), decode
    /// or prefill: whole groups through the group kernels, up to `CRowKernels.tokenTile` tokens per call (each token
    /// bit for bit as alone), and the other rows (or all, with the Swift kernels) through the row kernels.
    static func rows(_ w: WeightLayout, output: UnsafeMutablePointer<Float>, outputStride: Int, rows: DecodeRows,
                     input: MatMulInput, thread: Int) {
        let grouped = multipliesTokens(w, input.kernels), vnni = input.kernels == .vnni
        let nb = Int32(w.columns / w.dtype.blockSize)
        rows.forEachRange { range in
            var first = range.lowerBound
            // Whole groups inside the range.
            let lo = (range.lowerBound + 15) / 16 * 16, hi = range.upperBound / 16 * 16
            if grouped && lo < hi {
                var t = 0
                while t < input.tokens {
                    let n = min(CRowKernels.tokenTile, input.tokens - t)
                    groups(w, lo..<hi, nb: nb, tokens: n, from: t, input, vnni: vnni, into: output + t * outputStride + lo,
                           outputStride: outputStride)
                    t += n
                }
                rowByRow(w, first..<lo, output: output, outputStride: outputStride, input: input, thread: thread)
                first = hi
            }
            rowByRow(w, first..<range.upperBound, output: output, outputStride: outputStride, input: input, thread: thread)
        }
    }

    /// Whether prefill products of `w` run here, several tokens at a time with 8-bit activations (an interleaved
    /// matrix and the group kernels): against decoding the weights to f32, a 2048×2048 q4_0 product of 8 tokens ran at
    /// 330 instead of about 110 GFLOP/s on one Zen 4 core (VNNI, from L2).
    @inline(__always)
    static func multipliesTokens(_ w: WeightLayout, _ kernels: DecodeKernels) -> Bool {
        w.interleaved && (kernels == .vnni || kernels == .avx2)
    }

    /// The rows `rows` (whole groups) through the C kernel (`vnni`, else the AVX2 one) for the `tokens` tokens (1…8)
    /// from token `first`, token t's outputs into `y[(t − first)·outputStride ..< … + rows.count]`. The blocks of 32
    /// read the tokens' q8 forms: q4_1's and q5_1's the activation sums `s`, q4_0's and q5_0's the offset sums,
    /// iq4_nl's and q8_0's the code sums; iq4_xs, q4_K and q5_K read the q8_K forms. Only called when those kernels
    /// are available (never off x86-64).
    @inline(__always)
    private static func groups(_ w: WeightLayout, _ rows: Range<Int>, nb: Int32, tokens: Int, from first: Int, _ input: MatMulInput,
                               vnni: Bool, into y: UnsafeMutablePointer<Float>, outputStride: Int) {
        #if arch(x86_64)
        let packed = w.base + (rows.lowerBound / 16) * w.groupBytes, groups = rows.count / 16, n = Int32(tokens)
        if w.dtype.blockSize == 256 {
            // q8_K tokens are back to back: 256 codes, one scale and 16 sums per super-block.
            let a = input.q8K(first), (xs, bs, ys) = (256 * Int(nb), Int(nb), outputStride)
            // q4_K's and q5_K's one-token products run the AVX2 kernel even with VNNI: the two give the same bits (the
            // same exact int32 sums, the same float operations), and wide Q4_K_M decode was 0.68–0.88× the row layout's
            // in four alternating runs with the VNNI kernel, 0.79–1.23× (median 0.97) in six with the AVX2 one.
            switch (w.dtype, vnni) {
            case (.q4_K, true) where tokens > 1: sieve_q4_K_interleaved16_tokens_vnni(packed, groups, nb, n, a.qs, xs, a.d, a.bsums, bs, y, ys)
            case (.q4_K, _): sieve_q4_K_interleaved16_tokens_avx2(packed, groups, nb, n, a.qs, xs, a.d, a.bsums, bs, y, ys)
            case (.q5_K, true) where tokens > 1: sieve_q5_K_interleaved16_tokens_vnni(packed, groups, nb, n, a.qs, xs, a.d, a.bsums, bs, y, ys)
            case (.q5_K, _): sieve_q5_K_interleaved16_tokens_avx2(packed, groups, nb, n, a.qs, xs, a.d, a.bsums, bs, y, ys)
            case (_, true): sieve_iq4_xs_interleaved16_tokens_vnni(packed, groups, nb, n, a.qs, xs, a.d, a.bsums, bs, y, ys)
            case (_, false): sieve_iq4_xs_interleaved16_tokens_avx2(packed, groups, nb, n, a.qs, xs, a.d, a.bsums, bs, y, ys)
            }
            return
        }
        let a = input.q8(first), (cs, bs, ys) = (input.q8CodeStride, input.q8BlockStride, outputStride)
        switch (w.dtype, vnni) {
        case (.q4_1, true): sieve_q4_1_interleaved16_tokens_vnni(packed, groups, nb, n, a.qs, cs, a.d, a.s, bs, y, ys)
        case (.q4_1, false): sieve_q4_1_interleaved16_tokens_avx2(packed, groups, nb, n, a.qs, cs, a.d, a.s, bs, y, ys)
        case (.q4_0, true): sieve_q4_0_interleaved16_tokens_vnni(packed, groups, nb, n, a.qs, cs, a.d, a.offsetSum, bs, y, ys)
        case (.q4_0, false): sieve_q4_0_interleaved16_tokens_avx2(packed, groups, nb, n, a.qs, cs, a.d, a.offsetSum, bs, y, ys)
        case (.q5_0, true): sieve_q5_0_interleaved16_tokens_vnni(packed, groups, nb, n, a.qs, cs, a.d, a.offsetSum, bs, y, ys)
        case (.q5_0, false): sieve_q5_0_interleaved16_tokens_avx2(packed, groups, nb, n, a.qs, cs, a.d, a.offsetSum, bs, y, ys)
        case (.q5_1, true): sieve_q5_1_interleaved16_tokens_vnni(packed, groups, nb, n, a.qs, cs, a.d, a.s, bs, y, ys)
        case (.q5_1, false): sieve_q5_1_interleaved16_tokens_avx2(packed, groups, nb, n, a.qs, cs, a.d, a.s, bs, y, ys)
        case (.q8_0, true): sieve_q8_0_interleaved16_tokens_vnni(packed, groups, nb, n, a.qs, cs, a.d, a.codeSum, bs, y, ys)
        case (.q8_0, false): sieve_q8_0_interleaved16_tokens_avx2(packed, groups, nb, n, a.qs, cs, a.d, a.codeSum, bs, y, ys)
        case (_, true): sieve_iq4_nl_interleaved16_tokens_vnni(packed, groups, nb, n, a.qs, cs, a.d, a.codeSum, bs, y, ys)
        case (_, false): sieve_iq4_nl_interleaved16_tokens_avx2(packed, groups, nb, n, a.qs, cs, a.d, a.codeSum, bs, y, ys)
        }
        #else
        preconditionFailure("the group kernels exist only on x86-64")
        #endif
    }

    /// Rows `range`, four at a time copied to the row layout on the stack and multiplied by the row kernels.
    private static func rowByRow(_ w: WeightLayout, _ range: Range<Int>, output: UnsafeMutablePointer<Float>, outputStride: Int,
                                 input: MatMulInput, thread: Int) {
        guard !range.isEmpty else { return }
        withUnsafeTemporaryAllocation(byteCount: 4 * w.rowBytes + 16 * input.tokens, alignment: 64) { scratch in
            let copy = scratch.baseAddress!, y = (copy + 4 * w.rowBytes).assumingMemoryBound(to: Float.self)
            var r = range.lowerBound
            while r < range.upperBound {
                let n = min(4, range.upperBound - r)
                for i in 0..<n { w.copyRow(r + i, into: copy + i * w.rowBytes) }
                let rowMajor = WeightLayout(dtype: w.dtype, rows: n, columns: w.columns, rowBytes: w.rowBytes,
                                            base: UnsafeRawPointer(copy), interleaved: false)
                MatMul.compute(rowMajor, output: y, outputStride: 4, rows: DecodeRows(0..<n), input: input, prefill: false, thread: thread)
                for t in 0..<input.tokens {
                    for i in 0..<n { output[t * outputStride + r + i] = y[t * 4 + i] }
                }
                r += n
            }
        }
    }
}
