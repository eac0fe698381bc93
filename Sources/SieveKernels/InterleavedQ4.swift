import CSieveKernels

/// Products of interleaved matrices (`WeightMatrix.interleaved()`: q4_0, q4_1, q5_0, q5_1, q8_0, iq4_nl), decode
/// (`rows`) and prefill (`tokenRows`): whole 16-row groups in the C kernels, 16 rows per `vpdpbusd` (a prototype
/// multiplied a 1536×576 q4_1 matrix on one core in 8.9 µs from L2 and 24.6 µs from memory, against 26.0 and 30.5 µs
/// for the four-row kernel), or with AVX2 alone 8 rows per `vpmaddubsw`; any other rows (a listed neuron, a group
/// cut by a range, or the Swift kernels) are copied back to the row layout and run through the row kernels.
enum InterleavedQ4 {
    /// `output[t·outputStride + r]` for the rows `rows` of `w` and every bound token (inputs prepared).
    static func rows(_ w: WeightLayout, output: UnsafeMutablePointer<Float>, outputStride: Int, rows: DecodeRows,
                     input: MatMulInput, thread: Int) {
        let grouped = input.kernels == .vnni || input.kernels == .avx2
        let nb = Int32(w.columns / 32)
        rows.forEachRange { range in
            var first = range.lowerBound
            if grouped {
                // Whole groups inside the range.
                let lo = (range.lowerBound + 15) / 16 * 16, hi = range.upperBound / 16 * 16
                if lo < hi {
                    for t in 0..<input.tokens {
                        groups(w, lo..<hi, nb: nb, input.q8(t), vnni: input.kernels == .vnni, into: output + t * outputStride + lo)
                    }
                    rowByRow(w, first..<lo, output: output, outputStride: outputStride, input: input, thread: thread)
                    first = hi
                }
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

    /// `output[t·outputStride + r]` for the rows `range` of `w` and every bound token (their q8 forms prepared):
    /// whole groups through the multi-token group kernel, eight tokens per call; bit for bit what `rows` computes one
    /// token at a time.
    static func tokenRows(_ w: WeightLayout, output: UnsafeMutablePointer<Float>, outputStride: Int, rows range: Range<Int>,
                          input: MatMulInput, thread: Int) {
        #if arch(x86_64)
        let lo = (range.lowerBound + 15) / 16 * 16, hi = range.upperBound / 16 * 16
        guard lo < hi else {
            return rowByRow(w, range, output: output, outputStride: outputStride, input: input, thread: thread)
        }
        rowByRow(w, range.lowerBound..<lo, output: output, outputStride: outputStride, input: input, thread: thread)
        let packed = w.base + (lo / 16) * w.groupBytes, groups = (hi - lo) / 16, nb = Int32(w.columns / 32)
        let vnni = input.kernels == .vnni, codeStride = input.q8CodeStride, blockStride = input.q8BlockStride
        var t = 0
        while t < input.tokens {
            let n = min(CRowKernels.tokenTile, input.tokens - t)
            let a = input.q8(t), y = output + t * outputStride + lo
            // q4_1's and q5_1's blocks take the activation sums s, q4_0's and q5_0's the offset sums, iq4_nl's and q8_0's the
            // code sums (as `groups`).
            switch (w.dtype, vnni) {
            case (.q4_1, true): sieve_q4_1_interleaved16_tokens_vnni(packed, groups, nb, Int32(n), a.qs, codeStride, a.d, a.s, blockStride, y, outputStride)
            case (.q4_1, false): sieve_q4_1_interleaved16_tokens_avx2(packed, groups, nb, Int32(n), a.qs, codeStride, a.d, a.s, blockStride, y, outputStride)
            case (.q4_0, true):
                sieve_q4_0_interleaved16_tokens_vnni(packed, groups, nb, Int32(n), a.qs, codeStride, a.d, a.offsetSum, blockStride, y, outputStride)
            case (.q4_0, false):
                sieve_q4_0_interleaved16_tokens_avx2(packed, groups, nb, Int32(n), a.qs, codeStride, a.d, a.offsetSum, blockStride, y, outputStride)
            case (.q5_0, true):
                sieve_q5_0_interleaved16_tokens_vnni(packed, groups, nb, Int32(n), a.qs, codeStride, a.d, a.offsetSum, blockStride, y, outputStride)
            case (.q5_0, false):
                sieve_q5_0_interleaved16_tokens_avx2(packed, groups, nb, Int32(n), a.qs, codeStride, a.d, a.offsetSum, blockStride, y, outputStride)
            case (.q5_1, true): sieve_q5_1_interleaved16_tokens_vnni(packed, groups, nb, Int32(n), a.qs, codeStride, a.d, a.s, blockStride, y, outputStride)
            case (.q5_1, false): sieve_q5_1_interleaved16_tokens_avx2(packed, groups, nb, Int32(n), a.qs, codeStride, a.d, a.s, blockStride, y, outputStride)
            case (.q8_0, true):
                sieve_q8_0_interleaved16_tokens_vnni(packed, groups, nb, Int32(n), a.qs, codeStride, a.d, a.codeSum, blockStride, y, outputStride)
            case (.q8_0, false):
                sieve_q8_0_interleaved16_tokens_avx2(packed, groups, nb, Int32(n), a.qs, codeStride, a.d, a.codeSum, blockStride, y, outputStride)
            case (_, true):
                sieve_iq4_nl_interleaved16_tokens_vnni(packed, groups, nb, Int32(n), a.qs, codeStride, a.d, a.codeSum, blockStride, y, outputStride)
            case (_, false):
                sieve_iq4_nl_interleaved16_tokens_avx2(packed, groups, nb, Int32(n), a.qs, codeStride, a.d, a.codeSum, blockStride, y, outputStride)
            }
            t += n
        }
        rowByRow(w, hi..<range.upperBound, output: output, outputStride: outputStride, input: input, thread: thread)
        #else
        preconditionFailure("the group kernels exist only on x86-64")
        #endif
    }

    /// The rows `rows` (whole groups) through the C kernel (`vnni`, else the AVX2 one), into `y[0..<rows.count]`.
    /// Only called when those kernels are available (never off x86-64).
    @inline(__always)
    private static func groups(_ w: WeightLayout, _ rows: Range<Int>, nb: Int32, _ act: Q8Activation, vnni: Bool,
                               into y: UnsafeMutablePointer<Float>) {
        #if arch(x86_64)
        let packed = w.base + (rows.lowerBound / 16) * w.groupBytes, groups = rows.count / 16
        switch (w.dtype, vnni) {
        case (.q4_1, true): sieve_q4_1_interleaved16_vnni(packed, groups, nb, act.qs, act.d, act.s, y)
        case (.q4_1, false): sieve_q4_1_interleaved16_avx2(packed, groups, nb, act.qs, act.d, act.s, y)
        case (.q4_0, true): sieve_q4_0_interleaved16_vnni(packed, groups, nb, act.qs, act.d, act.offsetSum, y)
        case (.q4_0, false): sieve_q4_0_interleaved16_avx2(packed, groups, nb, act.qs, act.d, act.offsetSum, y)
        case (.q5_0, true): sieve_q5_0_interleaved16_tokens_vnni(packed, groups, nb, 1, act.qs, 0, act.d, act.offsetSum, 0, y, 0)
        case (.q5_0, false): sieve_q5_0_interleaved16_tokens_avx2(packed, groups, nb, 1, act.qs, 0, act.d, act.offsetSum, 0, y, 0)
        case (.q5_1, true): sieve_q5_1_interleaved16_tokens_vnni(packed, groups, nb, 1, act.qs, 0, act.d, act.s, 0, y, 0)
        case (.q5_1, false): sieve_q5_1_interleaved16_tokens_avx2(packed, groups, nb, 1, act.qs, 0, act.d, act.s, 0, y, 0)
        case (.q8_0, true): sieve_q8_0_interleaved16_tokens_vnni(packed, groups, nb, 1, act.qs, 0, act.d, act.codeSum, 0, y, 0)
        case (.q8_0, false): sieve_q8_0_interleaved16_tokens_avx2(packed, groups, nb, 1, act.qs, 0, act.d, act.codeSum, 0, y, 0)
        case (_, true): sieve_iq4_nl_interleaved16_tokens_vnni(packed, groups, nb, 1, act.qs, 0, act.d, act.codeSum, 0, y, 0)
        case (_, false): sieve_iq4_nl_interleaved16_tokens_avx2(packed, groups, nb, 1, act.qs, 0, act.d, act.codeSum, 0, y, 0)
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
