import CSieveKernels

/// Decode products of interleaved q4_1 and q4_0 matrices (`WeightMatrix.interleaved()`): whole 16-row groups in
/// the C kernel, 16 rows per `vpdpbusd` (a prototype multiplied a 1536×576 q4_1 matrix on one core in 8.9 µs from
/// L2 and 24.6 µs from memory, against 26.0 and 30.5 µs for the four-row kernel), or with AVX2 alone 8 rows per
/// `vpmaddubsw`; any other rows (a listed neuron, a group cut by a range, or the Swift kernels) are copied back to
/// the row layout and run through the row kernels.
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

    /// The rows `rows` (whole groups) through the C kernel (`vnni`, else the AVX2 one), into `y[0..<rows.count]`.
    /// Only called when those kernels are available (never off x86-64).
    @inline(__always)
    private static func groups(_ w: WeightLayout, _ rows: Range<Int>, nb: Int32, _ act: Q8Activation, vnni: Bool,
                               into y: UnsafeMutablePointer<Float>) {
        #if arch(x86_64)
        let packed = w.base + (rows.lowerBound / 16) * w.groupBytes, groups = rows.count / 16
        switch (w.dtype == .q4_1, vnni) {
        case (true, true): sieve_q4_1_interleaved16_vnni(packed, groups, nb, act.qs, act.d, act.s, y)
        case (true, false): sieve_q4_1_interleaved16_avx2(packed, groups, nb, act.qs, act.d, act.s, y)
        case (false, true): sieve_q4_0_interleaved16_vnni(packed, groups, nb, act.qs, act.d, act.offsetSum, y)
        case (false, false): sieve_q4_0_interleaved16_avx2(packed, groups, nb, act.qs, act.d, act.offsetSum, y)
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
