/// Reference (plain, scalar) dequantizers and quantizers for the block-quantized types, bit-compatible with
/// ggml's block layouts. The fast kernels in SieveKernels are tested against these.
///
/// Block layouts (little-endian; `half` is an IEEE binary16 scale):
///
/// | type | elements | bytes | layout |
/// |---|---|---|---|
/// | q8_0 | 32 | 34 | `half d; int8 qs[32]` — `x = d·q` |
/// | q4_0 | 32 | 18 | `half d; u8 qs[16]` — low nibbles are elements 0…15, high nibbles 16…31; `x = d·(q − 8)` |
/// | q4_1 | 32 | 20 | `half d, m; u8 qs[16]` — `x = d·q + m` |
/// | q5_0 | 32 | 22 | `half d; u32 qh; u8 qs[16]` — bit i of `qh` is bit 4 of element i; `x = d·(q − 16)` |
/// | q5_1 | 32 | 24 | `half d, m; u32 qh; u8 qs[16]` — `x = d·q + m` |
/// | q2_K | 256 | 84 | `u8 scales[16]; u8 qs[64]; half d, dmin` — 16 sub-blocks of 16, 4-bit scale (low nibble) and min; `x = d·sc·q − dmin·m` |
/// | q3_K | 256 | 110 | `u8 hmask[32]; u8 qs[64]; u8 scales[12]; half d` — 16 sub-blocks of 16, 6-bit scales − 32; `x = d·s·(q − 4)`, q's bit 2 in `hmask` |
/// | q4_K | 256 | 144 | `half d, dmin; u8 scales[12]; u8 qs[128]` — 8 sub-blocks of 32 with 6-bit scales and mins |
/// | q5_K | 256 | 176 | `half d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]` |
/// | q6_K | 256 | 210 | `u8 ql[128]; u8 qh[64]; int8 scales[16]; half d` — 16 sub-blocks of 16 |
/// | q8_K | 256 | 292 | `float d; int8 qs[256]; int16 bsums[16]` — `x = d·q`; bsums are sums of 16 quants |
///
/// iq4_nl and iq4_xs, whose codes index a book of values, are in `NonLinearCodecs.swift`; the grid types (iq2_xxs,
/// iq2_xs, iq2_s, iq3_xxs, iq3_s, iq1_s, iq1_m), decoded but never quantized to, in `GridCodecs.swift`.
///
/// The quantizers follow ggml's `quantize_row_*_ref` functions (round to nearest, no importance matrix), so
/// their output is what `llama-quantize` produces without an imatrix.
public enum QuantizedCodecs {
    // MARK: Whole tensors

    /// Dequantizes a whole tensor of `dtype` (whole blocks) into `out`; `tensor` names it in errors.
    public static func dequantize(_ bytes: UnsafeRawBufferPointer, dtype: DType, into out: UnsafeMutableBufferPointer<Float>, tensor: String) throws {
        try checkSizes(bytes: bytes.count, elements: out.count, dtype: dtype, tensor: tensor)
        dequantizeRow(bytes, dtype: dtype, into: out)
    }

    /// Quantizes `values` (a whole number of blocks) to `dtype` into `out`; `tensor` names it in errors.
    /// Throws when a value is NaN or infinite (no block type can represent it), and for the grid types, which
    /// Sieve does not quantize to (`SieveCoreError.gridQuantization`).
    public static func quantize(_ values: UnsafeBufferPointer<Float>, as dtype: DType, into out: UnsafeMutableRawBufferPointer, tensor: String) throws {
        if dtype.isGridQuantized { throw SieveCoreError.gridQuantization(source: tensor, dtype: dtype.name) }
        try checkSizes(bytes: out.count, elements: values.count, dtype: dtype, tensor: tensor)
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw SieveCoreError.invalidShape(source: "quantize to \(dtype.name)", tensor: tensor,
                                              reason: "element \(bad) is \(values[bad]), which \(dtype.name) cannot represent")
        }
        quantizeRow(values, as: dtype, into: out)
    }

    private static func checkSizes(bytes: Int, elements: Int, dtype: DType, tensor: String) throws {
        guard dtype.isQuantized else {
            throw SieveCoreError.unsupportedConversion(source: tensor, from: dtype.name, to: "a block-quantized codec")
        }
        guard let needed = dtype.byteCount(elements: elements) else {
            throw SieveCoreError.invalidShape(source: "\(dtype.name) codec", tensor: tensor,
                                              reason: "\(elements) elements are not a whole number of \(dtype.blockSize)-element blocks")
        }
        guard needed == bytes else {
            throw SieveCoreError.invalidShape(source: "\(dtype.name) codec", tensor: tensor,
                                              reason: "\(elements) elements need \(needed) bytes of \(dtype.name) blocks but \(bytes) were given")
        }
    }

    // MARK: Rows

    /// Dequantizes consecutive blocks (a row, or any run of whole blocks) of `dtype` into `out`.
    ///
    /// Preconditions: `dtype` is block-quantized, `out.count` is a multiple of its block size and `bytes` holds
    /// exactly `out.count / blockSize` blocks.
    public static func dequantizeRow(_ bytes: UnsafeRawBufferPointer, dtype: DType, into out: UnsafeMutableBufferPointer<Float>) {
        precondition(dtype.isQuantized, "\(dtype.name) is not block-quantized")
        precondition(out.count % dtype.blockSize == 0 && bytes.count == out.count / dtype.blockSize * dtype.blockBytes,
                     "\(bytes.count) bytes do not hold \(out.count) \(dtype.name) elements")
        guard let src = bytes.baseAddress, let dst = out.baseAddress else { return }
        for b in 0..<(out.count / dtype.blockSize) {
            dequantizeBlock(src + b * dtype.blockBytes, dtype: dtype, into: dst + b * dtype.blockSize)
        }
    }

    /// Quantizes consecutive blocks of values to `dtype` into `out` (same preconditions as `dequantizeRow`, and
    /// `dtype` is not a grid type). No value traps: non-finite inputs give unspecified (but in-range) codes;
    /// `quantize` rejects them first.
    public static func quantizeRow(_ values: UnsafeBufferPointer<Float>, as dtype: DType, into out: UnsafeMutableRawBufferPointer) {
        precondition(dtype.isQuantized, "\(dtype.name) is not block-quantized")
        precondition(values.count % dtype.blockSize == 0 && out.count == values.count / dtype.blockSize * dtype.blockBytes,
                     "\(out.count) bytes do not hold \(values.count) \(dtype.name) elements")
        guard let src = values.baseAddress, let dst = out.baseAddress else { return }
        for b in 0..<(values.count / dtype.blockSize) {
            quantizeBlock(src + b * dtype.blockSize, as: dtype, into: dst + b * dtype.blockBytes)
        }
    }

    // MARK: Blocks

    /// Dequantizes one block of `dtype` at `block` into `dtype.blockSize` floats at `out`.
    public static func dequantizeBlock(_ block: UnsafeRawPointer, dtype: DType, into out: UnsafeMutablePointer<Float>) {
        switch dtype {
        case .q8_0: dequantizeQ8_0(block, out)
        case .q4_0: dequantizeQ4_0(block, out)
        case .q4_1: dequantizeQ4_1(block, out)
        case .q5_0: dequantizeQ5(block, out, hasMin: false)
        case .q5_1: dequantizeQ5(block, out, hasMin: true)
        case .q2_K: dequantizeQ2_K(block, out)
        case .q3_K: dequantizeQ3_K(block, out)
        case .q4_K: dequantizeQ4_K(block, out)
        case .q5_K: dequantizeQ5_K(block, out)
        case .q6_K: dequantizeQ6_K(block, out)
        case .q8_K: dequantizeQ8_K(block, out)
        case .iq4_nl: dequantizeIQ4_NL(block, out)
        case .iq4_xs: dequantizeIQ4_XS(block, out)
        case .mxfp4: dequantizeMXFP4(block, out)
        case .iq2_xxs: dequantizeIQ2_XXS(block, out)
        case .iq2_xs: dequantizeIQ2_XS(block, out)
        case .iq2_s: dequantizeIQ2_S(block, out)
        case .iq3_xxs: dequantizeIQ3_XXS(block, out)
        case .iq3_s: dequantizeIQ3_S(block, out)
        case .iq1_s: dequantizeIQ1_S(block, out)
        case .iq1_m: dequantizeIQ1_M(block, out)
        default: preconditionFailure("\(dtype.name) is not block-quantized")
        }
    }

    /// Quantizes `dtype.blockSize` floats at `values` into one block of `dtype` at `block` (not a grid type).
    public static func quantizeBlock(_ values: UnsafePointer<Float>, as dtype: DType, into block: UnsafeMutableRawPointer) {
        switch dtype {
        case .q8_0: quantizeQ8_0(values, block)
        case .q4_0: quantizeQ4_0(values, block)
        case .q4_1: quantizeQ4_1(values, block)
        case .q5_0: quantizeQ5_0(values, block)
        case .q5_1: quantizeQ5_1(values, block)
        case .q2_K: quantizeQ2_K(values, block)
        case .q3_K: quantizeQ3_K(values, block)
        case .q4_K: quantizeQ45_K(values, block, highBits: false)
        case .q5_K: quantizeQ45_K(values, block, highBits: true)
        case .q6_K: quantizeQ6_K(values, block)
        case .q8_K: quantizeQ8_K(values, block)
        case .iq4_nl: quantizeIQ4_NL(values, block)
        case .iq4_xs: quantizeIQ4_XS(values, block)
        case .mxfp4: quantizeMXFP4(values, block)
        case _ where dtype.isGridQuantized:
            preconditionFailure("Sieve does not quantize to the grid type \(dtype.name); QuantizedCodecs.quantize rejects it")
        default: preconditionFailure("\(dtype.name) is not block-quantized")
        }
    }

    // MARK: Scalar helpers

    @inline(__always) static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        HalfPrecision.f16ToFloat(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    @inline(__always) static func storeHalf(_ value: Float, _ p: UnsafeMutableRawPointer, _ offset: Int) {
        p.storeBytes(of: HalfPrecision.floatToF16(value).littleEndian, toByteOffset: offset, as: UInt16.self)
    }

    @inline(__always) static func byte(_ p: UnsafeRawPointer, _ offset: Int) -> UInt8 {
        p.load(fromByteOffset: offset, as: UInt8.self)
    }

    /// C's `(int)v` (truncation toward zero) clamped to `0...hi`; NaN gives 0. Used where ggml converts a value
    /// already offset into `[0, hi + 1)`.
    @inline(__always) static func truncated(_ v: Float, max hi: Int) -> Int {
        if v >= Float(hi) { return hi }
        return v >= 1 ? Int(v) : 0
    }

    /// ggml's `nearest_int`: round half to even, for |v| < 2^22; out-of-range values saturate, NaN gives 0.
    @inline(__always) static func nearestInt(_ v: Float) -> Int {
        if v >= 4_194_303 { return 4_194_303 }
        if v <= -4_194_303 { return -4_194_303 }
        return v == v ? Int(v.rounded(.toNearestOrEven)) : 0
    }

    // MARK: 32-element types

    static func dequantizeQ8_0(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0)
        for j in 0..<32 { y[j] = Float(b.load(fromByteOffset: 2 + j, as: Int8.self)) * d }
    }

    static func dequantizeQ4_0(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0)
        for j in 0..<16 {
            let q = byte(b, 2 + j)
            y[j] = Float(Int(q & 0x0F) - 8) * d
            y[j + 16] = Float(Int(q >> 4) - 8) * d
        }
    }

    static func dequantizeQ4_1(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0), m = half(b, 2)
        for j in 0..<16 {
            let q = byte(b, 4 + j)
            y[j] = Float(q & 0x0F) * d + m
            y[j + 16] = Float(q >> 4) * d + m
        }
    }

    static func dequantizeQ5(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, hasMin: Bool) {
        let d = half(b, 0)
        let m: Float = hasMin ? half(b, 2) : 0
        let base = hasMin ? 4 : 2
        let qh = UInt32(littleEndian: b.loadUnaligned(fromByteOffset: base, as: UInt32.self))
        for j in 0..<16 {
            let q = byte(b, base + 4 + j)
            let lo = Int(q & 0x0F) | Int((qh >> UInt32(j)) & 1) << 4
            let hi = Int(q >> 4) | Int((qh >> UInt32(j + 16)) & 1) << 4
            if hasMin {
                y[j] = Float(lo) * d + m
                y[j + 16] = Float(hi) * d + m
            } else {
                y[j] = Float(lo - 16) * d
                y[j + 16] = Float(hi - 16) * d
            }
        }
    }

    static func quantizeQ8_0(_ x: UnsafePointer<Float>, _ b: UnsafeMutableRawPointer) {
        var amax: Float = 0
        for j in 0..<32 { amax = max(amax, abs(x[j])) }
        let d = amax / 127
        let id: Float = d != 0 ? 1 / d : 0
        storeHalf(d, b, 0)
        for j in 0..<32 {
            let r = (x[j] * id).rounded(.toNearestOrAwayFromZero)
            let q: Int8 = r >= 127 ? 127 : (r <= -128 ? -128 : (r == r ? Int8(r) : 0))
            b.storeBytes(of: q, toByteOffset: 2 + j, as: Int8.self)
        }
    }

    /// The value of largest magnitude (the first one on ties), as ggml's `q4_0`/`q5_0` quantizers pick it.
    @inline(__always) static func signedAbsMax(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var amax: Float = 0, maxValue: Float = 0
        for j in 0..<n where amax < abs(x[j]) {
            amax = abs(x[j]); maxValue = x[j]
        }
        return maxValue
    }

    @inline(__always) static func minMax(_ x: UnsafePointer<Float>, _ n: Int) -> (Float, Float) {
        var lo = Float.greatestFiniteMagnitude, hi = -Float.greatestFiniteMagnitude
        for j in 0..<n {
            if x[j] < lo { lo = x[j] }
            if x[j] > hi { hi = x[j] }
        }
        return (lo, hi)
    }

    static func quantizeQ4_0(_ x: UnsafePointer<Float>, _ b: UnsafeMutableRawPointer) {
        let d = signedAbsMax(x, 32) / -8
        let id: Float = d != 0 ? 1 / d : 0
        storeHalf(d, b, 0)
        for j in 0..<16 {
            let lo = truncated(x[j] * id + 8.5, max: 15)
            let hi = truncated(x[j + 16] * id + 8.5, max: 15)
            b.storeBytes(of: UInt8(lo | hi << 4), toByteOffset: 2 + j, as: UInt8.self)
        }
    }

    static func quantizeQ4_1(_ x: UnsafePointer<Float>, _ b: UnsafeMutableRawPointer) {
        let (lo, hi) = minMax(x, 32)
        let d = (hi - lo) / 15
        let id: Float = d != 0 ? 1 / d : 0
        storeHalf(d, b, 0)
        storeHalf(lo, b, 2)
        for j in 0..<16 {
            let q0 = truncated((x[j] - lo) * id + 0.5, max: 15)
            let q1 = truncated((x[j + 16] - lo) * id + 0.5, max: 15)
            b.storeBytes(of: UInt8(q0 | q1 << 4), toByteOffset: 4 + j, as: UInt8.self)
        }
    }

    /// Packs 32 five-bit codes into `qh` (at `base`) and nibbles (at `base + 4`).
    @inline(__always) static func storeQ5Codes(_ codes: (Int) -> Int, _ b: UnsafeMutableRawPointer, base: Int) {
        var qh: UInt32 = 0
        for j in 0..<16 {
            let q0 = codes(j), q1 = codes(j + 16)
            b.storeBytes(of: UInt8((q0 & 0x0F) | (q1 & 0x0F) << 4), toByteOffset: base + 4 + j, as: UInt8.self)
            qh |= UInt32((q0 >> 4) & 1) << UInt32(j)
            qh |= UInt32((q1 >> 4) & 1) << UInt32(j + 16)
        }
        b.storeBytes(of: qh.littleEndian, toByteOffset: base, as: UInt32.self)
    }

    static func quantizeQ5_0(_ x: UnsafePointer<Float>, _ b: UnsafeMutableRawPointer) {
        let d = signedAbsMax(x, 32) / -16
        let id: Float = d != 0 ? 1 / d : 0
        storeHalf(d, b, 0)
        storeQ5Codes({ truncated(x[$0] * id + 16.5, max: 31) }, b, base: 2)
    }

    static func quantizeQ5_1(_ x: UnsafePointer<Float>, _ b: UnsafeMutableRawPointer) {
        let (lo, hi) = minMax(x, 32)
        let d = (hi - lo) / 31
        let id: Float = d != 0 ? 1 / d : 0
        storeHalf(d, b, 0)
        storeHalf(lo, b, 2)
        storeQ5Codes({ truncated((x[$0] - lo) * id + 0.5, max: 31) }, b, base: 4)
    }

    // MARK: K-quants

    /// Unpacks the 6-bit scale and min of sub-block `j` (0…7) from the 12 packed bytes of a q4_K/q5_K block.
    @inline(__always) static func scaleMinK4(_ j: Int, _ s: UnsafeRawPointer) -> (scale: UInt8, min: UInt8) {
        if j < 4 {
            return (byte(s, j) & 63, byte(s, j + 4) & 63)
        }
        return ((byte(s, j + 4) & 0x0F) | (byte(s, j - 4) >> 6) << 4,
                (byte(s, j + 4) >> 4) | (byte(s, j) >> 6) << 4)
    }

    static func dequantizeQ4_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0), dmin = half(b, 2)
        let scales = b + 4
        for g in 0..<4 {
            let (s1, m1) = scaleMinK4(2 * g, scales)
            let (s2, m2) = scaleMinK4(2 * g + 1, scales)
            let d1 = d * Float(s1), min1 = dmin * Float(m1)
            let d2 = d * Float(s2), min2 = dmin * Float(m2)
            for l in 0..<32 {
                let q = byte(b, 16 + 32 * g + l)
                y[64 * g + l] = d1 * Float(q & 0x0F) - min1
                y[64 * g + 32 + l] = d2 * Float(q >> 4) - min2
            }
        }
    }

    static func dequantizeQ5_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0), dmin = half(b, 2)
        let scales = b + 4
        for g in 0..<4 {
            let (s1, m1) = scaleMinK4(2 * g, scales)
            let (s2, m2) = scaleMinK4(2 * g + 1, scales)
            let d1 = d * Float(s1), min1 = dmin * Float(m1)
            let d2 = d * Float(s2), min2 = dmin * Float(m2)
            for l in 0..<32 {
                let q = byte(b, 48 + 32 * g + l)
                let h = byte(b, 16 + l)
                let lo = Int(q & 0x0F) + Int((h >> UInt8(2 * g)) & 1) * 16
                let hi = Int(q >> 4) + Int((h >> UInt8(2 * g + 1)) & 1) * 16
                y[64 * g + l] = d1 * Float(lo) - min1
                y[64 * g + 32 + l] = d2 * Float(hi) - min2
            }
        }
    }

    static func dequantizeQ6_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 208)
        for n in 0..<2 {
            let ql = 64 * n, qh = 128 + 32 * n, sc = 192 + 8 * n
            for l in 0..<32 {
                let s = l / 16
                let h = byte(b, qh + l)
                let a = byte(b, ql + l), c = byte(b, ql + 32 + l)
                let q1 = Int(a & 0x0F) | Int(h & 3) << 4
                let q2 = Int(c & 0x0F) | Int((h >> 2) & 3) << 4
                let q3 = Int(a >> 4) | Int((h >> 4) & 3) << 4
                let q4 = Int(c >> 4) | Int((h >> 6) & 3) << 4
                let out = y + 128 * n
                out[l] = d * Float(b.load(fromByteOffset: sc + s, as: Int8.self)) * Float(q1 - 32)
                out[l + 32] = d * Float(b.load(fromByteOffset: sc + s + 2, as: Int8.self)) * Float(q2 - 32)
                out[l + 64] = d * Float(b.load(fromByteOffset: sc + s + 4, as: Int8.self)) * Float(q3 - 32)
                out[l + 96] = d * Float(b.load(fromByteOffset: sc + s + 6, as: Int8.self)) * Float(q4 - 32)
            }
        }
    }

    static func dequantizeQ8_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = Float(bitPattern: UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 0, as: UInt32.self)))
        for j in 0..<256 { y[j] = d * Float(b.load(fromByteOffset: 4 + j, as: Int8.self)) }
    }

    /// ggml's `make_qkx2_quants`: codes in `0...nmax` for `x` with a scale and a (non-positive) offset, chosen by a
    /// weighted least-squares search over `nstep + 1` candidate scales. Returns (scale, -offset).
    static func makeQKX2Quants(_ x: UnsafePointer<Float>, _ n: Int, nmax: Int, weights: UnsafePointer<Float>,
                               codes: UnsafeMutablePointer<UInt8>, scratch: UnsafeMutablePointer<UInt8>,
                               rmin: Float, rdelta: Float, nstep: Int, absoluteErrors: Bool = false) -> (scale: Float, min: Float) {
        var lo = x[0], hi = x[0]
        var sumW = weights[0]
        var sumX = sumW * x[0]
        for i in 1..<n {
            if x[i] < lo { lo = x[i] }
            if x[i] > hi { hi = x[i] }
            sumW += weights[i]
            sumX += weights[i] * x[i]
        }
        if lo > 0 { lo = 0 }
        if hi == lo {
            for i in 0..<n { codes[i] = 0 }
            return (0, -lo)
        }
        var iscale = Float(nmax) / (hi - lo)
        var scale = 1 / iscale
        var bestError: Float = 0
        for i in 0..<n {
            let l = Swift.max(0, Swift.min(nmax, nearestInt(iscale * (x[i] - lo))))
            codes[i] = UInt8(l)
            let diff = scale * Float(l) + lo - x[i]
            bestError += weights[i] * (absoluteErrors ? abs(diff) : diff * diff)
        }
        for step in 0...nstep {
            iscale = (rmin + rdelta * Float(step) + Float(nmax)) / (hi - lo)
            var sumL: Float = 0, sumL2: Float = 0, sumXL: Float = 0
            for i in 0..<n {
                let l = Swift.max(0, Swift.min(nmax, nearestInt(iscale * (x[i] - lo))))
                scratch[i] = UInt8(l)
                let w = weights[i], fl = Float(l)
                sumL += w * fl
                sumL2 += w * fl * fl
                sumXL += w * fl * x[i]
            }
            let det = sumW * sumL2 - sumL * sumL
            guard det > 0 else { continue }
            var thisScale = (sumW * sumXL - sumX * sumL) / det
            var thisMin = (sumL2 * sumX - sumL * sumXL) / det
            if thisMin > 0 {
                thisMin = 0
                thisScale = sumXL / sumL2
            }
            var error: Float = 0
            for i in 0..<n {
                let diff = thisScale * Float(scratch[i]) + thisMin - x[i]
                error += weights[i] * (absoluteErrors ? abs(diff) : diff * diff)
            }
            if error < bestError {
                for i in 0..<n { codes[i] = scratch[i] }
                bestError = error
                scale = thisScale
                lo = thisMin
            }
        }
        return (scale, -lo)
    }

    // MARK: 2- and 3-bit K-quants

    /// Element `e` of a q2_K/q3_K super-block: its 2-bit code is bits 2j…2j+1 of byte `32·half + l` of the codes,
    /// and its sub-block of 16 is `8·half + 2j + l/16` (e = 128·half + 32j + l).
    @inline(__always) static func twoBitPosition(_ e: Int) -> (byte: Int, shift: UInt8, group: Int) {
        let half = e / 128, j = (e % 128) / 32, l = e % 32
        return (32 * half + l, UInt8(2 * j), 8 * half + 2 * j + l / 16)
    }

    static func dequantizeQ2_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 80), dmin = half(b, 82)
        for e in 0..<256 {
            let (at, shift, g) = twoBitPosition(e)
            let sc = byte(b, g), q = (byte(b, 16 + at) >> shift) & 3
            y[e] = d * Float(sc & 0x0F) * Float(q) - dmin * Float(sc >> 4)
        }
    }

    /// The 6-bit scale (0…63, before its −32 offset) of sub-block `g` of a q3_K block whose 12 scale bytes are at
    /// `s`: the low four bits in a nibble of bytes 0…7, the high two in bits 2(g/4)… of byte 8 + g%4.
    @inline(__always) static func q3KScale(_ s: UnsafeRawPointer, _ g: Int) -> Int {
        let low = g < 8 ? byte(s, g) & 0x0F : byte(s, g - 8) >> 4
        return Int(low | ((byte(s, 8 + g % 4) >> UInt8(2 * (g / 4))) & 3) << 4)
    }

    static func dequantizeQ3_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 108)
        for e in 0..<256 {
            let (at, shift, g) = twoBitPosition(e)
            let low = Int((byte(b, 32 + at) >> shift) & 3)
            // Bit 2 of the code: bit 4·half + j of hmask byte l (bit `shift/2 + 4·half`).
            let high = Int((byte(b, e % 32) >> UInt8(e / 32)) & 1)
            y[e] = d * Float(q3KScale(b + 96, g) - 32) * Float(low + 4 * high - 4)
        }
    }

    /// Packs 256 codes of 0…3 as q2_K/q3_K store them (four per byte, see `twoBitPosition`) at `qs`.
    static func packTwoBitCodes(_ codes: [UInt8], into qs: UnsafeMutableRawPointer) {
        for half in 0..<2 {
            for l in 0..<32 {
                let c = 128 * half + l
                let packed = codes[c] | codes[c + 32] << 2 | codes[c + 64] << 4 | codes[c + 96] << 6
                qs.storeBytes(of: packed, toByteOffset: 32 * half + l, as: UInt8.self)
            }
        }
    }

    /// q2_K quantization, as ggml's `quantize_row_q2_K_ref`: each sub-block's scale and min by `make_qkx2_quants`
    /// (weights |x|, absolute errors), both quantized to 4 bits against the block's largest, then the codes again
    /// against the stored scales.
    static func quantizeQ2_K(_ x: UnsafePointer<Float>, _ b: UnsafeMutableRawPointer) {
        var codes = [UInt8](repeating: 0, count: 256)
        var scratch = [UInt8](repeating: 0, count: 16)
        var weights = [Float](repeating: 0, count: 16)
        var scales = [Float](repeating: 0, count: 16), mins = [Float](repeating: 0, count: 16)
        var maxScale: Float = 0, maxMin: Float = 0
        for j in 0..<16 {
            let xs = x + 16 * j
            for l in 0..<16 { weights[l] = abs(xs[l]) }
            let (s, m) = codes.withUnsafeMutableBufferPointer { c in
                scratch.withUnsafeMutableBufferPointer { a in
                    weights.withUnsafeBufferPointer { w in
                        makeQKX2Quants(xs, 16, nmax: 3, weights: w.baseAddress!, codes: c.baseAddress! + 16 * j,
                                       scratch: a.baseAddress!, rmin: -0.5, rdelta: 0.1, nstep: 15, absoluteErrors: true)
                    }
                }
            }
            scales[j] = s; mins[j] = m
            if s > maxScale { maxScale = s }
            if m > maxMin { maxMin = m }
        }
        // ggml stores the rounded values in bytes as they are (wrapping; in range for finite inputs).
        for j in 0..<16 {
            let ls = maxScale > 0 ? nearestInt(15 / maxScale * scales[j]) : 0
            let lm = maxMin > 0 ? nearestInt(15 / maxMin * mins[j]) : 0
            b.storeBytes(of: UInt8(truncatingIfNeeded: ls | lm << 4), toByteOffset: j, as: UInt8.self)
        }
        storeHalf(maxScale > 0 ? maxScale / 15 : 0, b, 80)
        storeHalf(maxMin > 0 ? maxMin / 15 : 0, b, 82)
        let d = half(b, 80), dmin = half(b, 82)
        for j in 0..<16 {
            let sc = byte(b, j)
            let dj = d * Float(sc & 0x0F)
            if dj == 0 { continue }
            let dm = dmin * Float(sc >> 4)
            for i in 0..<16 {
                codes[16 * j + i] = UInt8(Swift.max(0, Swift.min(3, nearestInt((x[16 * j + i] + dm) / dj))))
            }
        }
        packTwoBitCodes(codes, into: b + 16)
    }

    /// The first of `x[0..<n]` with the largest magnitude, or nil (and all `n` codes 0) when every magnitude is
    /// below 1e-15: the start of ggml's `make_q3_quants` and `make_qx_quants`.
    static func largestValue(_ x: UnsafePointer<Float>, _ n: Int, orZeroCodes codes: UnsafeMutablePointer<UInt8>) -> Float? {
        var amax: Float = 0, maxValue: Float = 0
        for i in 0..<n where abs(x[i]) > amax {
            amax = abs(x[i]); maxValue = x[i]
        }
        guard amax >= 1e-15 else {
            codes.update(repeating: 0, count: n)
            return nil
        }
        return maxValue
    }

    /// ggml's `make_q3_quants` with `do_rmse`: signed codes in `-nmax..<nmax` (returned offset by `nmax`), first
    /// by the largest magnitude, then changed one at a time (up to five passes) while that raises the x²-weighted
    /// fit `(Σw·x·l)² / Σw·l²`; returns the scale `Σw·x·l / Σw·l²`.
    static func makeQ3Quants(_ x: UnsafePointer<Float>, _ n: Int, nmax: Int, codes: UnsafeMutablePointer<UInt8>) -> Float {
        guard let maxValue = largestValue(x, n, orZeroCodes: codes) else { return 0 }
        func clamped(_ v: Int) -> Int { Swift.max(-nmax, Swift.min(nmax - 1, v)) }
        let iscale = -Float(nmax) / maxValue
        var l = [Int](repeating: 0, count: n)
        var sumLX: Float = 0, sumL2: Float = 0
        for i in 0..<n {
            l[i] = clamped(nearestInt(iscale * x[i]))
            let w = x[i] * x[i]
            sumLX += w * x[i] * Float(l[i])
            sumL2 += w * Float(l[i]) * Float(l[i])
        }
        for _ in 0..<5 {
            var changed = false
            for i in 0..<n {
                let w = x[i] * x[i]
                var slx = sumLX - w * x[i] * Float(l[i])
                guard slx > 0 else { continue }
                var sl2 = sumL2 - w * Float(l[i]) * Float(l[i])
                let candidate = clamped(nearestInt(x[i] * sl2 / slx))
                guard candidate != l[i] else { continue }
                slx += w * x[i] * Float(candidate)
                sl2 += w * Float(candidate) * Float(candidate)
                if sl2 > 0 && slx * slx * sumL2 > sumLX * sumLX * sl2 {
                    l[i] = candidate; sumLX = slx; sumL2 = sl2
                    changed = true
                }
            }
            if !changed { break }
        }
        for i in 0..<n { codes[i] = UInt8(l[i] + nmax) }
        return sumL2 > 0 ? sumLX / sumL2 : 0
    }

    /// q3_K quantization, as ggml's `quantize_row_q3_K_ref`: each sub-block's scale by `make_q3_quants`, the
    /// scales quantized to 6 bits (−32…31) against the one of largest magnitude, then the codes (−4…3) again against
    /// the stored scales.
    static func quantizeQ3_K(_ x: UnsafePointer<Float>, _ b: UnsafeMutableRawPointer) {
        var codes = [UInt8](repeating: 0, count: 256)
        let (scales, maxScale) = subBlockScales(x, codes: &codes) { makeQ3Quants($0, 16, nmax: 4, codes: $1) }
        b.initializeMemory(as: UInt8.self, repeating: 0, count: 110)
        if maxScale != 0 {
            let iscale = -32 / maxScale
            for j in 0..<16 {
                let l = UInt8(Swift.max(-32, Swift.min(31, nearestInt(iscale * scales[j]))) + 32)
                let low = j < 8 ? j : j - 8
                let nibble = j < 8 ? l & 0x0F : (l & 0x0F) << 4
                b.storeBytes(of: byte(b, 96 + low) | nibble, toByteOffset: 96 + low, as: UInt8.self)
                let high = 96 + 8 + j % 4
                b.storeBytes(of: byte(b, high) | (l >> 4) << UInt8(2 * (j / 4)), toByteOffset: high, as: UInt8.self)
            }
            storeHalf(1 / iscale, b, 108)
        }
        let d = half(b, 108)
        for j in 0..<16 {
            let dj = d * Float(q3KScale(b + 96, j) - 32)
            if dj == 0 { continue }
            for i in 0..<16 {
                codes[16 * j + i] = UInt8(Swift.max(-4, Swift.min(3, nearestInt(x[16 * j + i] / dj))) + 4)
            }
        }
        // Bit 2 of element e's code goes to bit e/32 of hmask byte e%32.
        for e in 0..<256 where codes[e] > 3 {
            codes[e] -= 4
            b.storeBytes(of: byte(b, e % 32) | 1 << UInt8(e / 32), toByteOffset: e % 32, as: UInt8.self)
        }
        packTwoBitCodes(codes, into: b + 32)
    }

    /// q4_K (`highBits` false: 4-bit codes) and q5_K (`highBits` true: 5-bit codes) quantization, as ggml's
    /// `quantize_row_q4_K_ref` / `quantize_row_q5_K_ref`.
    static func quantizeQ45_K(_ x: UnsafePointer<Float>, _ b: UnsafeMutableRawPointer, highBits: Bool) {
        let nmax = highBits ? 31 : 15
        var codes = [UInt8](repeating: 0, count: 256)
        var scratch = [UInt8](repeating: 0, count: 32)
        var weights = [Float](repeating: 0, count: 32)
        var scales = [Float](repeating: 0, count: 8)
        var mins = [Float](repeating: 0, count: 8)
        var maxScale: Float = 0, maxMin: Float = 0
        for j in 0..<8 {
            let xs = x + 32 * j
            var sumX2: Float = 0
            for l in 0..<32 { sumX2 += xs[l] * xs[l] }
            let avX = (sumX2 / 32).squareRoot()
            for l in 0..<32 { weights[l] = avX + abs(xs[l]) }
            let (s, m) = codes.withUnsafeMutableBufferPointer { c in
                scratch.withUnsafeMutableBufferPointer { a in
                    weights.withUnsafeBufferPointer { w in
                        makeQKX2Quants(xs, 32, nmax: nmax, weights: w.baseAddress!, codes: c.baseAddress! + 32 * j,
                                       scratch: a.baseAddress!, rmin: highBits ? -0.5 : -1, rdelta: 0.1,
                                       nstep: highBits ? 15 : 20)
                    }
                }
            }
            scales[j] = s; mins[j] = m
            if s > maxScale { maxScale = s }
            if m > maxMin { maxMin = m }
        }
        let invScale: Float = maxScale > 0 ? 63 / maxScale : 0
        let invMin: Float = maxMin > 0 ? 63 / maxMin : 0
        var packed = [UInt8](repeating: 0, count: 12)
        for j in 0..<8 {
            let ls = UInt8(Swift.min(63, Swift.max(0, nearestInt(invScale * scales[j]))))
            let lm = UInt8(Swift.min(63, Swift.max(0, nearestInt(invMin * mins[j]))))
            if j < 4 {
                packed[j] = ls
                packed[j + 4] = lm
            } else {
                packed[j + 4] = (ls & 0x0F) | (lm & 0x0F) << 4
                packed[j - 4] |= (ls >> 4) << 6
                packed[j] |= (lm >> 4) << 6
            }
        }
        storeHalf(maxScale / 63, b, 0)
        storeHalf(maxMin / 63, b, 2)
        for j in 0..<12 { b.storeBytes(of: packed[j], toByteOffset: 4 + j, as: UInt8.self) }
        let d = half(b, 0), dmin = half(b, 2)
        for j in 0..<8 {
            let (sc, m) = scaleMinK4(j, UnsafeRawPointer(b) + 4)
            let dj = d * Float(sc)
            if dj == 0 { continue }
            let dm = dmin * Float(m)
            for i in 0..<32 {
                codes[32 * j + i] = UInt8(Swift.max(0, Swift.min(nmax, nearestInt((x[32 * j + i] + dm) / dj))))
            }
        }
        let qsOffset = highBits ? 48 : 16
        if highBits {
            for j in 0..<32 { b.storeBytes(of: UInt8(0), toByteOffset: 16 + j, as: UInt8.self) }
        }
        for g in 0..<4 {
            for l in 0..<32 {
                var q1 = codes[64 * g + l], q2 = codes[64 * g + 32 + l]
                if highBits {
                    var h = byte(b, 16 + l)
                    if q1 > 15 { q1 -= 16; h |= 1 << UInt8(2 * g) }
                    if q2 > 15 { q2 -= 16; h |= 1 << UInt8(2 * g + 1) }
                    b.storeBytes(of: h, toByteOffset: 16 + l, as: UInt8.self)
                }
                b.storeBytes(of: q1 | q2 << 4, toByteOffset: qsOffset + 32 * g + l, as: UInt8.self)
            }
        }
    }

    /// ggml's `make_qx_quants` with `rmse_type` 1 and no importance weights: signed codes in `-nmax..<nmax`
    /// (stored offset by `nmax`) and a scale chosen among 19 candidates by weighted (x²) least squares.
    static func makeQXQuants(_ x: UnsafePointer<Float>, _ n: Int, nmax: Int, codes: UnsafeMutablePointer<UInt8>) -> Float {
        guard let maxValue = largestValue(x, n, orZeroCodes: codes) else { return 0 }
        func code(_ iscale: Float, _ i: Int) -> Int { Swift.max(-nmax, Swift.min(nmax - 1, nearestInt(iscale * x[i]))) }
        var iscale = -Float(nmax) / maxValue
        var sumLX: Float = 0, sumL2: Float = 0
        for i in 0..<n {
            let l = code(iscale, i)
            codes[i] = UInt8(l + nmax)
            let w = x[i] * x[i], fl = Float(l)
            sumLX += w * x[i] * fl
            sumL2 += w * fl * fl
        }
        var scale: Float = sumL2 != 0 ? sumLX / sumL2 : 0
        var best = scale * sumLX
        for step in -9...9 where step != 0 {
            iscale = -(Float(nmax) + 0.1 * Float(step)) / maxValue
            sumLX = 0; sumL2 = 0
            for i in 0..<n {
                let w = x[i] * x[i], fl = Float(code(iscale, i))
                sumLX += w * x[i] * fl
                sumL2 += w * fl * fl
            }
            if sumL2 > 0 && sumLX * sumLX > best * sumL2 {
                for i in 0..<n { codes[i] = UInt8(code(iscale, i) + nmax) }
                scale = sumLX / sumL2
                best = scale * sumLX
            }
        }
        return scale
    }

    /// The scales `quantize` gives the 16 sub-blocks of 16 values of a super-block (each writing its codes into
    /// `codes`), and the first one of the largest magnitude.
    static func subBlockScales(_ x: UnsafePointer<Float>, codes: inout [UInt8],
                               _ quantize: (UnsafePointer<Float>, UnsafeMutablePointer<UInt8>) -> Float) -> (scales: [Float], largest: Float) {
        var scales = [Float](repeating: 0, count: 16)
        var largest: Float = 0
        codes.withUnsafeMutableBufferPointer { c in
            for j in 0..<16 {
                scales[j] = quantize(x + 16 * j, c.baseAddress! + 16 * j)
                if abs(scales[j]) > abs(largest) { largest = scales[j] }
            }
        }
        return (scales, largest)
    }

    static func quantizeQ6_K(_ x: UnsafePointer<Float>, _ b: UnsafeMutableRawPointer) {
        var codes = [UInt8](repeating: 0, count: 256)
        let (scales, maxScale) = subBlockScales(x, codes: &codes) { makeQXQuants($0, 16, nmax: 32, codes: $1) }
        if abs(maxScale) < 1e-15 {
            b.initializeMemory(as: UInt8.self, repeating: 0, count: 210)
            return
        }
        let iscale = -128 / maxScale
        storeHalf(1 / iscale, b, 208)
        for j in 0..<16 {
            let s = Int8(Swift.max(-128, Swift.min(127, nearestInt(iscale * scales[j]))))
            b.storeBytes(of: s, toByteOffset: 192 + j, as: Int8.self)
        }
        let d = half(b, 208)
        for j in 0..<16 {
            let dj = d * Float(b.load(fromByteOffset: 192 + j, as: Int8.self))
            if dj == 0 { continue }
            for i in 0..<16 {
                codes[16 * j + i] = UInt8(Swift.max(-32, Swift.min(31, nearestInt(x[16 * j + i] / dj))) + 32)
            }
        }
        for n in 0..<2 {
            for l in 0..<32 {
                let c = 128 * n + l
                let q1 = codes[c], q2 = codes[c + 32], q3 = codes[c + 64], q4 = codes[c + 96]
                b.storeBytes(of: (q1 & 0x0F) | (q3 & 0x0F) << 4, toByteOffset: 64 * n + l, as: UInt8.self)
                b.storeBytes(of: (q2 & 0x0F) | (q4 & 0x0F) << 4, toByteOffset: 64 * n + 32 + l, as: UInt8.self)
                let h = (q1 >> 4) | (q2 >> 4) << 2 | (q3 >> 4) << 4 | (q4 >> 4) << 6
                b.storeBytes(of: h, toByteOffset: 128 + 32 * n + l, as: UInt8.self)
            }
        }
    }

    static func quantizeQ8_K(_ x: UnsafePointer<Float>, _ b: UnsafeMutableRawPointer) {
        var amax: Float = 0, maxValue: Float = 0
        for j in 0..<256 where abs(x[j]) > amax {
            amax = abs(x[j]); maxValue = x[j]
        }
        if amax == 0 {
            b.initializeMemory(as: UInt8.self, repeating: 0, count: 292)
            return
        }
        let iscale = -127 / maxValue
        for g in 0..<16 {
            var sum = 0
            for i in 0..<16 {
                let q = Swift.max(-128, Swift.min(127, nearestInt(iscale * x[16 * g + i])))
                b.storeBytes(of: Int8(q), toByteOffset: 4 + 16 * g + i, as: Int8.self)
                sum += q
            }
            b.storeBytes(of: Int16(sum).littleEndian, toByteOffset: 260 + 2 * g, as: Int16.self)
        }
        b.storeBytes(of: (1 / iscale).bitPattern.littleEndian, toByteOffset: 0, as: UInt32.self)
    }
}
