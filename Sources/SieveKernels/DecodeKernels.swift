import CSieveKernels
import Foundation
import SieveCore

/// Which implementation computes the decode (8-bit activation) products of the quantized types (q8_0, q4_0, q4_1,
/// q5_0, q5_1, the K-quants q2_K … q6_K, iq4_nl, iq4_xs, mxfp4 and the grid i-quants iq2_xxs … iq1_m), and the decode products of f16 weights (`vnni` and `avx2` both run the AVX2 C kernels of
/// `CRowKernels.halfRows` for those), and the prefill products of `CRowKernels.multiTokenTypes` and of interleaved
/// matrices (`InterleavedQ4.multipliesTokens`). Every other type, and every other prefill product, runs in Swift.
///
/// `preferred` is decided once, at first use: `vnni` when the CPU has AVX-512 VNNI, else `avx2` when it has AVX2
/// (with FMA and F16C), else `swift`. The environment variable `SIEVE_KERNELS=swift` (or `avx2`, where available)
/// forces a choice, to compare them on one machine. A `MatMulInput` carries the choice it was created with, so
/// tests and benchmarks can run several in one process.
public enum DecodeKernels: String, Sendable, CaseIterable {
    /// Swift SIMD kernels (`QuantizedGEMV`), portable to every CPU.
    case swift
    /// C kernels with AVX-512 VNNI byte dot products (`vpdpbusd`, `CSieveKernels`), x86-64 only.
    case vnni
    /// The same C kernels with AVX2 byte products (`vpmaddubsw`, then horizontal adds), for x86-64 CPUs without
    /// AVX-512 VNNI (AMD Zen 2/3, Intel before Ice Lake): the same integer block sums as `vnni`, scaled and summed
    /// in float in another order, so results agree to rounding.
    case avx2

    /// Whether this CPU can run these kernels.
    public var isAvailable: Bool {
        switch self {
        case .swift: return true
        case .vnni: return DecodeKernels.cpuHasVNNI
        case .avx2: return DecodeKernels.cpuHasAVX2
        }
    }

    /// The kernels used when a `MatMulInput` is created without an explicit choice.
    public static let preferred: DecodeKernels = {
        let forced = ProcessInfo.processInfo.environment["SIEVE_KERNELS"].flatMap { DecodeKernels(rawValue: $0.lowercased()) }
        if let forced, forced.isAvailable { return forced }
        return cpuHasVNNI ? .vnni : cpuHasAVX2 ? .avx2 : .swift
    }()

    private static let cpuHasVNNI = sieve_cpu_has_avx512_vnni() != 0
    private static let cpuHasAVX2 = sieve_cpu_has_avx2() != 0
}

/// Decode products on quantized blocks through the C kernels (`DecodeKernels.vnni` or `.avx2`), four
/// rows at a time from the four quarters of the row range (as `QuantizedGEMV.rows`), reading the activations
/// `MatMulInput` prepared.
enum CRowKernels {
    /// `y[r] = W[r, :]·x` for `r` in `rows` (q8_0, q4_0, q4_1, q5_0, q5_1, iq4_nl or mxfp4 weights) with the C kernels `kernels` (`vnni` or
    /// `avx2`, available on this CPU).
    @inline(never)
    static func rows(_ w: WeightLayout, _ rows: DecodeRows, _ act: Q8Activation, _ y: UnsafeMutablePointer<Float>,
                     kernels: DecodeKernels) {
        #if arch(x86_64)
        let nb = Int32(act.blocks)
        let vnni = kernels == .vnni
        precondition(vnni || kernels == .avx2, "no C row kernels named \(kernels.rawValue)")
        if w.dtype == .q8_0 {
            // Row indices gathered in the groups' order and handed to C a batch at a time.
            withUnsafeTemporaryAllocation(of: Int.self, capacity: listBatch + 4) { batch in
                let list = batch.baseAddress!
                func flush(_ n: Int) {
                    if vnni {
                        sieve_q8_0_dot_list_vnni(w.base, w.rowBytes, list, n, nb, act.qs, act.d, y)
                    } else {
                        sieve_q8_0_dot_list_avx2(w.base, w.rowBytes, list, n, nb, act.qs, act.d, y)
                    }
                }
                var n = 0
                rows.forEachGroup(of: w) { r, valid in
                    list[n] = r.0; list[n + 1] = r.1; list[n + 2] = r.2; list[n + 3] = r.3
                    n += valid
                    if n >= listBatch {
                        flush(n)
                        n = 0
                    }
                }
                if n > 0 { flush(n) }
            }
            return
        }
        fourRowGroups(w, rows, y) { p0, p1, p2, p3, o in
            switch (w.dtype, vnni) {
            case (.q4_1, true): sieve_q4_1_dot_rows4_vnni(p0, p1, p2, p3, nb, act.qs, act.d, act.s, o)
            case (.q4_1, false): sieve_q4_1_dot_rows4_avx2(p0, p1, p2, p3, nb, act.qs, act.d, act.s, o)
            case (.q4_0, true): sieve_q4_0_dot_rows4_vnni(p0, p1, p2, p3, nb, act.qs, act.d, act.offsetSum, o)
            case (.q4_0, false): sieve_q4_0_dot_rows4_avx2(p0, p1, p2, p3, nb, act.qs, act.d, act.offsetSum, o)
            case (.q5_0, true): sieve_q5_0_dot_rows4_vnni(p0, p1, p2, p3, nb, act.qs, act.d, act.offsetSum, o)
            case (.q5_0, false): sieve_q5_0_dot_rows4_avx2(p0, p1, p2, p3, nb, act.qs, act.d, act.offsetSum, o)
            case (.q5_1, true): sieve_q5_1_dot_rows4_vnni(p0, p1, p2, p3, nb, act.qs, act.d, act.s, o)
            case (.q5_1, false): sieve_q5_1_dot_rows4_avx2(p0, p1, p2, p3, nb, act.qs, act.d, act.s, o)
            case (.iq4_nl, true): sieve_iq4_nl_dot_rows4_vnni(p0, p1, p2, p3, nb, act.qs, act.d, o)
            case (.iq4_nl, false): sieve_iq4_nl_dot_rows4_avx2(p0, p1, p2, p3, nb, act.qs, act.d, o)
            case (.mxfp4, true): sieve_mxfp4_dot_rows4_vnni(p0, p1, p2, p3, nb, act.qs, act.d, o)
            case (.mxfp4, false): sieve_mxfp4_dot_rows4_avx2(p0, p1, p2, p3, nb, act.qs, act.d, o)
            default: preconditionFailure("no C row kernel for \(w.dtype.name)")
            }
        }
        #else
        preconditionFailure("the C row kernels exist only on x86-64")
        #endif
    }

    /// `y[r] = W[r, :]·x` for `r` in `rows` of a K-quant (q2_K … q6_K), iq4_xs or grid i-quant matrix with the C kernels
    /// `kernels` (`vnni` or `avx2`, available on this CPU), four rows at a time as `rows(_:_:_:_:kernels:)`.
    @inline(never)
    static func superBlockRows(_ w: WeightLayout, _ rows: DecodeRows, _ act: Q8KActivation, _ y: UnsafeMutablePointer<Float>,
                               kernels: DecodeKernels) {
        #if arch(x86_64)
        let nsb = Int32(act.blocks)
        let vnni = kernels == .vnni
        precondition(vnni || kernels == .avx2, "no C row kernels named \(kernels.rawValue)")
        if let grid = gridType(w.dtype) {
            return fourRowGroups(w, rows, y) { p0, p1, p2, p3, o in
                if vnni {
                    sieve_grid_dot_rows4_vnni(grid, p0, p1, p2, p3, nsb, act.qs, act.d, o)
                } else {
                    sieve_grid_dot_rows4_avx2(grid, p0, p1, p2, p3, nsb, act.qs, act.d, o)
                }
            }
        }
        fourRowGroups(w, rows, y) { p0, p1, p2, p3, o in
            switch (w.dtype, vnni) {
            case (.q2_K, true): sieve_q2_K_dot_rows4_vnni(p0, p1, p2, p3, nsb, act.qs, act.d, act.bsums, o)
            case (.q2_K, false): sieve_q2_K_dot_rows4_avx2(p0, p1, p2, p3, nsb, act.qs, act.d, act.bsums, o)
            case (.q3_K, true): sieve_q3_K_dot_rows4_vnni(p0, p1, p2, p3, nsb, act.qs, act.d, act.bsums, o)
            case (.q3_K, false): sieve_q3_K_dot_rows4_avx2(p0, p1, p2, p3, nsb, act.qs, act.d, act.bsums, o)
            case (.q4_K, true): sieve_q4_K_dot_rows4_vnni(p0, p1, p2, p3, nsb, act.qs, act.d, act.bsums, o)
            case (.q4_K, false): sieve_q4_K_dot_rows4_avx2(p0, p1, p2, p3, nsb, act.qs, act.d, act.bsums, o)
            case (.q5_K, true): sieve_q5_K_dot_rows4_vnni(p0, p1, p2, p3, nsb, act.qs, act.d, act.bsums, o)
            case (.q5_K, false): sieve_q5_K_dot_rows4_avx2(p0, p1, p2, p3, nsb, act.qs, act.d, act.bsums, o)
            case (.q6_K, true): sieve_q6_K_dot_rows4_vnni(p0, p1, p2, p3, nsb, act.qs, act.d, act.bsums, o)
            case (.q6_K, false): sieve_q6_K_dot_rows4_avx2(p0, p1, p2, p3, nsb, act.qs, act.d, act.bsums, o)
            case (.iq4_xs, true): sieve_iq4_xs_dot_rows4_vnni(p0, p1, p2, p3, nsb, act.qs, act.d, act.bsums, o)
            case (.iq4_xs, false): sieve_iq4_xs_dot_rows4_avx2(p0, p1, p2, p3, nsb, act.qs, act.d, act.bsums, o)
            default: preconditionFailure("no C super-block row kernel for \(w.dtype.name)")
            }
        }
        #else
        preconditionFailure("the C row kernels exist only on x86-64")
        #endif
    }

    /// The super-block types (K-quants, iq4_xs, the grid i-quants) whose C kernels also multiply several tokens at once:
    /// their prefill products use 8-bit activations as decode does (and as llama.cpp does), instead of dequantized
    /// weights in f32.
    static let multiTokenTypes = Set<DType>([.q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_xs] + DType.allCases.filter(\.isGridQuantized))

    #if arch(x86_64)
    /// The C kernels' name for a grid i-quant type (`sieve_grid_dot_rows4_vnni` …), nil for every other type.
    static func gridType(_ dtype: DType) -> SieveGridType? {
        switch dtype {
        case .iq2_xxs: return SIEVE_GRID_IQ2_XXS
        case .iq2_xs: return SIEVE_GRID_IQ2_XS
        case .iq2_s: return SIEVE_GRID_IQ2_S
        case .iq3_xxs: return SIEVE_GRID_IQ3_XXS
        case .iq3_s: return SIEVE_GRID_IQ3_S
        case .iq1_s: return SIEVE_GRID_IQ1_S
        case .iq1_m: return SIEVE_GRID_IQ1_M
        default: return nil
        }
    }
    #endif

    /// Whether prefill products of `dtype` weights run in the multi-token C kernels with the `kernels` choice.
    @inline(__always)
    static func multipliesTokens(_ dtype: DType, _ kernels: DecodeKernels) -> Bool {
        kernels != .swift && multiTokenTypes.contains(dtype)
    }

    /// Whether prefill products of `dtype` weights run in the VNNI panel kernels (`sieve_grid_panel_rows_vnni`,
    /// `sieve_k16_panel_rows_vnni`: eight rows decoded to signed bytes, 16 tokens per `vpdpbusd`), whose tokens
    /// `MatMulInput.prepareTokenPanels` lays out: the grid i-quants, q2_K, q3_K and q6_K.
    @inline(__always)
    static func multipliesInPanels(_ dtype: DType, _ kernels: DecodeKernels) -> Bool {
        kernels == .vnni && (dtype.isGridQuantized || dtype == .q2_K || dtype == .q3_K || dtype == .q6_K)
    }

    /// Tokens per call of the multi-token kernels.
    static let tokenTile = 8

    /// Tokens per call of the grid i-quants' AVX2 multi-token kernels, whose super-blocks cost more to decode than to
    /// multiply: 16 tokens of iq2_xxs took 4.6 ns per row, token and super-block against 5.0 for 8 (iq3_s 5.5 against
    /// 6.8; one Zen 4 core, with the VNNI form these kernels had before the panel kernels).
    static let gridTokenTile = 16

    /// `output[t·outputStride + r]` = row `r` of `w` times token `t` of `input` (its q8_K form prepared, and with
    /// `multipliesInPanels` its token panels), for the rows `rows` and every bound token: in the panel kernels, or
    /// four rows at a time, each super-block of the four rows unpacked once for up to `tokenTile` (grid types:
    /// `gridTokenTile`) tokens. Bit for bit what `superBlockRows` computes one token at a time.
    static func superBlockTokenRows(_ w: WeightLayout, _ rows: Range<Int>, _ input: MatMulInput, _ output: UnsafeMutablePointer<Float>,
                                    outputStride: Int) {
        #if arch(x86_64)
        let vnni = input.kernels == .vnni
        precondition(vnni || input.kernels == .avx2, "no C row kernels named \(input.kernels.rawValue)")
        let nsb = Int32(input.columns / 256), tokens = input.tokens
        let grid = gridType(w.dtype)
        if multipliesInPanels(w.dtype, input.kernels) {
            let first = w.row(rows.lowerBound), count = Int32(rows.count), out = output + rows.lowerBound
            if let grid {
                sieve_grid_panel_rows_vnni(grid, first, w.rowBytes, count, nsb, Int32(tokens), input.tokenPanels, out, outputStride)
            } else {
                let bits: Int32 = w.dtype == .q2_K ? 2 : w.dtype == .q3_K ? 3 : 6
                sieve_k16_panel_rows_vnni(bits, first, w.rowBytes, count, nsb, Int32(tokens), input.tokenPanels, out, outputStride)
            }
            return
        }
        let tile = grid == nil ? tokenTile : gridTokenTile
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 4 * tile) { buffer in
            let o = buffer.baseAddress!
            var r = rows.lowerBound
            while r < rows.upperBound {
                // A group of fewer than four rows repeats its last row and stores only the real ones.
                let valid = min(4, rows.upperBound - r), last = r + valid - 1
                let p0 = w.row(r), p1 = w.row(min(r + 1, last)), p2 = w.row(min(r + 2, last)), p3 = w.row(min(r + 3, last))
                var t = 0
                while t < tokens {
                    let n = min(tile, tokens - t)
                    let a = input.q8K(t)
                    if let grid {
                        sieve_grid_dot_rows4_tokens_avx2(grid, p0, p1, p2, p3, nsb, Int32(n), a.qs, a.d, o, 4)
                    } else {
                        switch (w.dtype, vnni) {
                        case (.q4_K, true): sieve_q4_K_dot_rows4_tokens_vnni(p0, p1, p2, p3, nsb, Int32(n), a.qs, a.d, a.bsums, o, 4)
                        case (.q4_K, false): sieve_q4_K_dot_rows4_tokens_avx2(p0, p1, p2, p3, nsb, Int32(n), a.qs, a.d, a.bsums, o, 4)
                        case (.q5_K, true): sieve_q5_K_dot_rows4_tokens_vnni(p0, p1, p2, p3, nsb, Int32(n), a.qs, a.d, a.bsums, o, 4)
                        case (.q5_K, false): sieve_q5_K_dot_rows4_tokens_avx2(p0, p1, p2, p3, nsb, Int32(n), a.qs, a.d, a.bsums, o, 4)
                        case (.q2_K, false): sieve_q2_K_dot_rows4_tokens_avx2(p0, p1, p2, p3, nsb, Int32(n), a.qs, a.d, a.bsums, o, 4)
                        case (.q3_K, false): sieve_q3_K_dot_rows4_tokens_avx2(p0, p1, p2, p3, nsb, Int32(n), a.qs, a.d, a.bsums, o, 4)
                        case (.q6_K, false): sieve_q6_K_dot_rows4_tokens_avx2(p0, p1, p2, p3, nsb, Int32(n), a.qs, a.d, a.bsums, o, 4)
                        case (.iq4_xs, true): sieve_iq4_xs_dot_rows4_tokens_vnni(p0, p1, p2, p3, nsb, Int32(n), a.qs, a.d, a.bsums, o, 4)
                        case (.iq4_xs, false): sieve_iq4_xs_dot_rows4_tokens_avx2(p0, p1, p2, p3, nsb, Int32(n), a.qs, a.d, a.bsums, o, 4)
                        default: preconditionFailure("no multi-token C kernel for \(w.dtype.name)")
                        }
                    }
                    for k in 0..<n {
                        for i in 0..<valid { output[(t + k) * outputStride + r + i] = o[4 * k + i] }
                    }
                    t += n
                }
                r += valid
            }
        }
        #else
        preconditionFailure("the C row kernels exist only on x86-64")
        #endif
    }

    /// Calls `kernel` with the four rows of each group of `rows` (`DecodeRows.forEachGroup`) and a buffer of four
    /// outputs, then stores the group's valid outputs into `y`.
    @inline(__always)
    private static func fourRowGroups(_ w: WeightLayout, _ rows: DecodeRows, _ y: UnsafeMutablePointer<Float>,
                                      _ kernel: (UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer,
                                                 UnsafeMutablePointer<Float>) -> Void) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 4) { out in
            let o = out.baseAddress!
            rows.forEachGroup(of: w) { r, valid in
                kernel(w.row(r.0), w.row(r.1), w.row(r.2), w.row(r.3), o)
                KQuant.store(SIMD4(o[0], o[1], o[2], o[3]), r, valid: valid, y)
            }
        }
    }

    /// Whether the C f16 row kernels (`halfRows`, `TransposedMatMul`'s f16 rows) can run here: x86-64 with AVX2,
    /// FMA and F16C. They serve the `vnni` and `avx2` choices; `swift` keeps the Swift SIMD loops.
    static let halfAvailable: Bool = {
        #if arch(x86_64)
        return sieve_cpu_has_avx2() != 0
        #else
        return false
        #endif
    }()

    /// Whether the f16 kernels convert half of each row's values with integer instructions on this CPU
    /// (`MatMulInput.mixedHalfConversion`, `TransposedMatMul`'s down rows): measured once per process on 64 rows
    /// of 256 values in the first-level cache, each conversion timed eight times over in seven alternating rounds
    /// (about 0.1 ms), the faster minimum chosen. Both give the same sums. Zen 2 converts eight halves per two
    /// cycles, and the mixed conversion was faster there (12.0 against 16.0 ns per row); Zen 4 converts faster,
    /// and the plain one was (7.5 against 11.0 ns; docs-opt-relu decoded 16–19% faster with it).
    static let mixedHalfConversionPays: Bool = {
        guard halfAvailable else { return false }
        let times = halfConversionNanoseconds()
        return times.mixed < times.plain
    }()

    /// Rows and passes over them of each timing of `halfConversionNanoseconds`.
    static let halfConversionRows = 64, halfConversionPasses = 8

    /// The shortest time of seven rounds of eight products of 64 L1-resident f16 rows of 256 values, with the plain
    /// and the mixed conversion (`mixedHalfConversionPays`).
    static func halfConversionNanoseconds() -> (plain: UInt64, mixed: UInt64) {
        #if arch(x86_64)
        let rows = halfConversionRows, columns = 256
        // Halves of magnitude 1/8…1/4, both signs; activations in ±1.
        let weights = (0..<(rows * columns)).map { UInt16(0x3000 | ($0 % 1021)) | UInt16(($0 % 3 == 0 ? 1 : 0) << 15) }
        let x = (0..<columns).map { Float($0 % 17) / 8 - 1 }
        var scaled = [Float](repeating: 0, count: columns)
        _ = sieve_half_scale_activations(x, columns, &scaled)
        let list = Array(0..<rows)
        var y = [Float](repeating: 0, count: rows)
        var best = (plain: UInt64.max, mixed: UInt64.max)
        weights.withUnsafeBytes { w in
            for _ in 0..<7 {
                for mixed in [false, true] {
                    let start = monotonicNanoseconds()
                    for _ in 0..<halfConversionPasses {
                        sieve_f16_dot_list_avx2(w.baseAddress!, 2 * columns, list, rows, columns, x, mixed ? scaled : nil, 0, &y)
                    }
                    let elapsed = monotonicNanoseconds() &- start
                    if mixed { best.mixed = min(best.mixed, elapsed) } else { best.plain = min(best.plain, elapsed) }
                }
            }
        }
        return best
        #else
        return (0, 0)
        #endif
    }

    /// `y[r] = W[r, :]·x` for `r` in `rows` of an f16 matrix, in C (`sieve_f16_dot_list_avx2`, half of the values
    /// converted with integer instructions against `scaled`, x·2^112, when given): row indices gathered in the
    /// groups' order and handed over a batch at a time (the kernel prefetches a selection's rows two groups ahead
    /// as it goes: listing a batch with its prefetches first made docs-opt-relu's sparse FFN slower).
    @inline(never)
    static func halfRows(_ w: WeightLayout, _ rows: DecodeRows, _ x: UnsafePointer<Float>, _ scaled: UnsafePointer<Float>?,
                         _ y: UnsafeMutablePointer<Float>) {
        #if arch(x86_64)
        withUnsafeTemporaryAllocation(of: Int.self, capacity: listBatch + 4) { batch in
            let list = batch.baseAddress!
            let prefetch: Int32 = rows.isSelection ? 1 : 0
            var n = 0
            rows.forEachGroup(of: w, prefetching: false) { r, valid in
                list[n] = r.0; list[n + 1] = r.1; list[n + 2] = r.2; list[n + 3] = r.3
                n += valid
                if n >= listBatch {
                    sieve_f16_dot_list_avx2(w.base, w.rowBytes, list, n, w.columns, x, scaled, prefetch, y)
                    n = 0
                }
            }
            if n > 0 { sieve_f16_dot_list_avx2(w.base, w.rowBytes, list, n, w.columns, x, scaled, prefetch, y) }
        }
        #else
        preconditionFailure("the C row kernels exist only on x86-64")
        #endif
    }

    /// Rows per call of the list kernel.
    static let listBatch = 64

    /// Whether `dtype` has a C row kernel.
    static func supports(_ dtype: DType) -> Bool { supportedTypes.contains(dtype) }

    /// The quantized types with C row kernels.
    static let supportedTypes = Set<DType>([.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_nl, .iq4_xs, .mxfp4]
                                           + DType.allCases.filter(\.isGridQuantized))

    /// Whether decode products of `dtype` run in C with the `vnni`/`avx2` choices on this CPU (the 8-bit kernels,
    /// or `halfRows`).
    static func decodesInC(_ dtype: DType) -> Bool { supports(dtype) || (dtype == .f16 && halfAvailable) }
}
