import CSieveKernels
import SieveCore

/// Products with a weight matrix stored transposed, `W` `[inner, outputs]`: `y[t, c] = Σₙ x[t, n] · W[n, c]`, the
/// down projection of a blocked (sparse-bundle) feed-forward layer, whose row `n` is neuron `n`'s output column.
///
/// Each computed neuron streams one contiguous row, so a selection of neuron blocks reads exactly the selected
/// bytes, and neurons whose activation is zero (ReLU models, masked units) are skipped without reading their
/// row. The outputs are split across threads by column; each thread adds the rows into its own columns, so the
/// order of the sum over neurons is the same for every thread count.
///
/// One token runs a fused decode-and-accumulate loop per weight type (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0) that
/// keeps 128 output columns in registers while every row streams past;
/// several tokens decode each row slice once into per-thread scratch and add it to every token that uses the
/// neuron. Both are compared with `reference` within `Tolerances.floatSum` (they only reorder float sums).
public enum TransposedMatMul {
    /// Floats of per-thread scratch `multiply` needs for a matrix of `columns` columns.
    public static func scratchFloats(columns: Int, threads: Int) -> Int { threads * (columns + 32) }

    /// `y[t·outputStride + c] = Σ_{n ∈ rows} x[t·inputStride + n] · W[n, c]` for every column `c` and token
    /// `t < tokens`; the rows are those of the blocks in `blocks` (rows `b·blockRows ..< (b+1)·blockRows`), or all
    /// rows when `blocks` is nil. `y`'s columns are overwritten. `scratch` holds `scratchFloats(columns:threads:)`
    /// floats for the pool's thread count.
    public static func multiply(_ w: WeightMatrix, _ x: UnsafePointer<Float>, inputStride: Int, tokens: Int,
                                blocks: UnsafeBufferPointer<Int>?, blockRows: Int,
                                into y: UnsafeMutablePointer<Float>, outputStride: Int,
                                scratch: UnsafeMutablePointer<Float>, scratchCount: Int, pool: ThreadPool) {
        precondition(tokens >= 1 && blockRows >= 1, "TransposedMatMul needs tokens and a block size")
        precondition(scratchCount >= scratchFloats(columns: w.columns, threads: pool.threadCount), "scratch too small for \(w.columns) columns and \(pool.threadCount) threads")
        if let blocks {
            for b in blocks { precondition(b >= 0 && (b + 1) * blockRows <= w.rows, "block \(b) of \(blockRows) rows outside \(w.rows) rows") }
        }
        let unit = max(32, w.dtype.blockSize)
        let units = (w.columns + unit - 1) / unit
        // One column slice per thread: each slice then streams every selected row once.
        let perThread = (units + pool.threadCount - 1) / pool.threadCount
        let rows = RowBlocks(blocks: blocks, blockRows: blockRows, rows: w.rows)
        let work = rows.count * w.columns * tokens
        let layout = w.layout
        if work < serialWork || pool.threadCount == 1 {
            slice(layout, x, inputStride: inputStride, tokens: tokens, rows: rows, units: 0..<units, unit: unit, into: y,
                  outputStride: outputStride, scratch: scratch)
        } else {
            pool.parallelChunks(units, chunk: perThread) { range, thread in
                slice(layout, x, inputStride: inputStride, tokens: tokens, rows: rows, units: range, unit: unit, into: y,
                      outputStride: outputStride, scratch: scratch + thread * (w.columns + 32))
            }
        }
    }

    /// The columns of column units `units` (of `unit` columns each).
    @inline(__always)
    private static func slice(_ w: WeightLayout, _ x: UnsafePointer<Float>, inputStride: Int, tokens: Int, rows: RowBlocks,
                              units: Range<Int>, unit: Int, into y: UnsafeMutablePointer<Float>, outputStride: Int,
                              scratch: UnsafeMutablePointer<Float>) {
        let columns = (units.lowerBound * unit)..<min(w.columns, units.upperBound * unit)
        if tokens == 1 {
            accumulateOne(w, x, rows: rows, columns: columns, into: y, scratch: scratch)
        } else {
            accumulateMany(w, x, inputStride: inputStride, tokens: tokens, rows: rows, columns: columns, into: y,
                           outputStride: outputStride, scratch: scratch)
        }
    }

    /// Multiply-adds below which a product runs on the calling thread (a fork/join costs more).
    static let serialWork = 1 << 14

    /// Plain reference: decodes each row with the scalar codecs and accumulates in row order.
    public static func reference(_ w: WeightMatrix, _ x: UnsafePointer<Float>, inputStride: Int, tokens: Int,
                                 blocks: [Int]?, blockRows: Int, into y: UnsafeMutablePointer<Float>, outputStride: Int) {
        let rows = blocks.map { $0.flatMap { b in (b * blockRows)..<((b + 1) * blockRows) } } ?? Array(0..<w.rows)
        var decoded = [Float](repeating: 0, count: w.columns)
        for t in 0..<tokens {
            let out = y + t * outputStride
            for c in 0..<w.columns { out[c] = 0 }
        }
        for n in rows {
            decoded.withUnsafeMutableBufferPointer { w.decodeRowReference(n, into: $0.baseAddress!) }
            for t in 0..<tokens {
                let a = x[t * inputStride + n]
                let out = y + t * outputStride
                for c in 0..<w.columns { out[c] += a * decoded[c] }
            }
        }
    }

    // MARK: - One token

    /// Rows ahead of the one being added whose column slice is prefetched.
    static let prefetchRows = 8

    static func accumulateOne(_ w: WeightLayout, _ x: UnsafePointer<Float>, rows: RowBlocks, columns: Range<Int>,
                                      into y: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        for c in columns { y[c] = 0 }
        switch w.dtype {
        case .f32: accumulate(F32Accumulate.self, w, x, rows, columns, y)
        case .f16: accumulate(F16Accumulate.self, w, x, rows, columns, y)
        case .bf16: accumulate(BF16Accumulate.self, w, x, rows, columns, y)
        case .q8_0: accumulate(Q8_0Accumulate.self, w, x, rows, columns, y)
        case .q4_0: accumulate(Q4_0Accumulate.self, w, x, rows, columns, y)
        case .q4_1: accumulate(Q4_1Accumulate.self, w, x, rows, columns, y)
        case .q5_0: accumulate(Q5_0Accumulate.self, w, x, rows, columns, y)
        default:
            // K-quants: decode the slice, then add it.
            rows.forEach { n in
                let a = x[n]
                if a == 0 { return }
                decodeSlice(w, row: n, columns: columns, into: scratch)
                axpy(a, scratch, y + columns.lowerBound, count: columns.count)
            }
        }
    }

    /// Adds the rows with a non-zero activation into `y` (zero on entry), 128 columns at a time held in eight
    /// registers across all the rows, so `y` is stored once per column chunk rather than read and written per row.
    /// Each column's sum runs over the rows in order, as in `reference`.
    @inline(__always)
    private static func accumulate<K: AccumulateKind>(_ kind: K.Type, _ w: WeightLayout, _ x: UnsafePointer<Float>, _ rows: RowBlocks,
                                                      _ columns: Range<Int>, _ y: UnsafeMutablePointer<Float>) {
        let count = rows.count
        var chunk = columns.lowerBound / 32
        let end = columns.upperBound / 32
        let sliceBytes = w.dtype.byteCount(elements: 128) ?? 0
        while chunk + 4 <= end {
            var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
            var a4 = SIMD16<Float>(), a5 = SIMD16<Float>(), a6 = SIMD16<Float>(), a7 = SIMD16<Float>()
            let sliceOffset = w.dtype.byteCount(elements: 32 * chunk) ?? 0
            for i in 0..<count {
                // The rows with a non-zero activation are a sparse, data-dependent subset: fetch ahead.
                if i + prefetchRows < count {
                    let ahead = rows[i + prefetchRows]
                    if x[ahead] != 0 { sieve_prefetch(w.base + ahead * w.rowBytes + sliceOffset, sliceBytes) }
                }
                let n = rows[i]
                let a = x[n]
                if a == 0 { continue }
                let p = w.base + n * w.rowBytes
                let (l0, h0) = K.decode(p, chunk: chunk, scale: a)
                let (l1, h1) = K.decode(p, chunk: chunk + 1, scale: a)
                let (l2, h2) = K.decode(p, chunk: chunk + 2, scale: a)
                let (l3, h3) = K.decode(p, chunk: chunk + 3, scale: a)
                a0 += l0; a1 += h0; a2 += l1; a3 += h1; a4 += l2; a5 += h2; a6 += l3; a7 += h3
            }
            let c = 32 * chunk
            y.store16(a0, c); y.store16(a1, c + 16); y.store16(a2, c + 32); y.store16(a3, c + 48)
            y.store16(a4, c + 64); y.store16(a5, c + 80); y.store16(a6, c + 96); y.store16(a7, c + 112)
            chunk += 4
        }
        while chunk < end {
            var lo = SIMD16<Float>(), hi = SIMD16<Float>()
            for i in 0..<count {
                let n = rows[i]
                let a = x[n]
                if a == 0 { continue }
                let (l, h) = K.decode(w.base + n * w.rowBytes, chunk: chunk, scale: a)
                lo += l; hi += h
            }
            y.store16(lo, 32 * chunk); y.store16(hi, 32 * chunk + 16)
            chunk += 1
        }
        for c in (end * 32)..<columns.upperBound {
            var sum: Float = 0
            for i in 0..<count {
                let n = rows[i]
                let a = x[n]
                if a != 0 { sum += a * K.element(w.base + n * w.rowBytes, c) }
            }
            y[c] = sum
        }
    }

    // MARK: - Several tokens

    private static func accumulateMany(_ w: WeightLayout, _ x: UnsafePointer<Float>, inputStride: Int, tokens: Int, rows: RowBlocks,
                                       columns: Range<Int>, into y: UnsafeMutablePointer<Float>, outputStride: Int,
                                       scratch: UnsafeMutablePointer<Float>) {
        let width = columns.count
        // Token tiles small enough that their output slices stay in L1 while the rows stream past.
        let tile = max(1, min(tokens, 16 * 1024 / max(1, width)))
        var t0 = 0
        while t0 < tokens {
            let t1 = min(tokens, t0 + tile)
            for t in t0..<t1 {
                let out = y + t * outputStride + columns.lowerBound
                for c in 0..<width { out[c] = 0 }
            }
            rows.forEach { n in
                var used = false
                for t in t0..<t1 where x[t * inputStride + n] != 0 { used = true; break }
                if !used { return }
                decodeSlice(w, row: n, columns: columns, into: scratch)
                for t in t0..<t1 {
                    let a = x[t * inputStride + n]
                    if a != 0 { axpy(a, scratch, y + t * outputStride + columns.lowerBound, count: width) }
                }
            }
            t0 = t1
        }
    }

    /// Decodes columns `columns` (starting on a block boundary) of row `row`.
    @inline(__always)
    private static func decodeSlice(_ w: WeightLayout, row: Int, columns: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        let start = w.dtype.byteCount(elements: columns.lowerBound) ?? 0
        Dequantize.row(w.base + row * w.rowBytes + start, dtype: w.dtype, columns: columns.count, into: out)
    }

    /// `y[0..<count] += a · s[0..<count]`.
    @inline(__always)
    static func axpy(_ a: Float, _ s: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        let va = SIMD16<Float>(repeating: a)
        var c = 0
        while c + 16 <= count {
            y.store16(y.load16(c) + va * s.load16(c), c)
            c += 16
        }
        while c < count { y[c] += a * s[c]; c += 1 }
    }

}

/// The rows of a selection of equal-sized blocks (or all rows), iterated without allocating.
struct RowBlocks {
    let blocks: UnsafeBufferPointer<Int>?
    let blockRows: Int
    let rows: Int

    var count: Int { blocks.map { $0.count * blockRows } ?? rows }

    /// The `i`-th row.
    @inline(__always)
    subscript(i: Int) -> Int {
        guard let blocks else { return i }
        if blockRows == 1 { return blocks[i] }
        return blocks[i / blockRows] * blockRows + i % blockRows
    }

    @inline(__always)
    func forEach(_ body: (Int) -> Void) {
        if let blocks {
            for b in blocks {
                for n in (b * blockRows)..<((b + 1) * blockRows) { body(n) }
            }
        } else {
            for n in 0..<rows { body(n) }
        }
    }
}

/// Decoding of one 32-column chunk of a row, scaled, per weight type (the fused loops of `TransposedMatMul`).
/// Slices start at a multiple of 32 columns; only float rows can end in a partial chunk (`element`).
protocol AccumulateKind {
    /// `scale · row[32·chunk ..< 32·chunk + 32]` as two vectors of 16.
    static func decode(_ row: UnsafeRawPointer, chunk: Int, scale: Float) -> (SIMD16<Float>, SIMD16<Float>)
    /// `row[c]` (float rows' tails).
    static func element(_ row: UnsafeRawPointer, _ c: Int) -> Float
}

extension AccumulateKind {
    @inline(__always)
    static func element(_ row: UnsafeRawPointer, _ c: Int) -> Float { preconditionFailure("quantized rows have whole 32-column blocks") }
}

/// Float rows.
protocol FloatAccumulateKind: AccumulateKind {
    static func load16(_ row: UnsafeRawPointer, _ i: Int) -> SIMD16<Float>
    static func load1(_ row: UnsafeRawPointer, _ i: Int) -> Float
}

extension FloatAccumulateKind {
    @inline(__always)
    static func decode(_ row: UnsafeRawPointer, chunk: Int, scale: Float) -> (SIMD16<Float>, SIMD16<Float>) {
        let s = SIMD16<Float>(repeating: scale)
        return (s * load16(row, 32 * chunk), s * load16(row, 32 * chunk + 16))
    }

    @inline(__always)
    static func element(_ row: UnsafeRawPointer, _ c: Int) -> Float { load1(row, c) }
}

enum F32Accumulate: FloatAccumulateKind {
    @inline(__always) static func load16(_ row: UnsafeRawPointer, _ i: Int) -> SIMD16<Float> { F32Row.load16(row, i) }
    @inline(__always) static func load1(_ row: UnsafeRawPointer, _ i: Int) -> Float { F32Row.load1(row, i) }
}

enum F16Accumulate: FloatAccumulateKind {
    @inline(__always) static func load16(_ row: UnsafeRawPointer, _ i: Int) -> SIMD16<Float> { F16Row.load16(row, i) }
    @inline(__always) static func load1(_ row: UnsafeRawPointer, _ i: Int) -> Float { F16Row.load1(row, i) }
}

enum BF16Accumulate: FloatAccumulateKind {
    @inline(__always) static func load16(_ row: UnsafeRawPointer, _ i: Int) -> SIMD16<Float> { BF16Row.load16(row, i) }
    @inline(__always) static func load1(_ row: UnsafeRawPointer, _ i: Int) -> Float { BF16Row.load1(row, i) }
}

/// Blocks of 32 with an f16 scale: `(scale·d) · code`.
enum Q8_0Accumulate: AccumulateKind {
    @inline(__always)
    static func decode(_ row: UnsafeRawPointer, chunk: Int, scale: Float) -> (SIMD16<Float>, SIMD16<Float>) {
        let p = row + chunk * 34
        let f = SIMD16<Float>(repeating: scale * Dequantize.half(p))
        return (f * toFloat(widen(p.vector(at: 2, as: SIMD16<Int8>.self))), f * toFloat(widen(p.vector(at: 18, as: SIMD16<Int8>.self))))
    }
}

/// `(scale·d) · (code − 8)`.
enum Q4_0Accumulate: AccumulateKind {
    @inline(__always)
    static func decode(_ row: UnsafeRawPointer, chunk: Int, scale: Float) -> (SIMD16<Float>, SIMD16<Float>) {
        let p = row + chunk * 18
        let f = SIMD16<Float>(repeating: scale * Dequantize.half(p))
        let q: SIMD16<UInt8> = p.vector(at: 2)
        return (f * toFloat(widen(q & 15) &- 8), f * toFloat(widen(q &>> 4) &- 8))
    }
}

/// `(scale·d) · code + scale·m`.
enum Q4_1Accumulate: AccumulateKind {
    @inline(__always)
    static func decode(_ row: UnsafeRawPointer, chunk: Int, scale: Float) -> (SIMD16<Float>, SIMD16<Float>) {
        let p = row + chunk * 20
        let f = SIMD16<Float>(repeating: scale * Dequantize.half(p))
        let m = SIMD16<Float>(repeating: scale * Dequantize.half(p, 2))
        let q: SIMD16<UInt8> = p.vector(at: 4)
        return (f * toFloat(widen(q & 15)) + m, f * toFloat(widen(q &>> 4)) + m)
    }
}

/// `(scale·d) · (code − 16)` with the fifth bits.
enum Q5_0Accumulate: AccumulateKind {
    @inline(__always)
    static func decode(_ row: UnsafeRawPointer, chunk: Int, scale: Float) -> (SIMD16<Float>, SIMD16<Float>) {
        let p = row + chunk * 22
        let f = SIMD16<Float>(repeating: scale * Dequantize.half(p))
        let (w0, w1) = Q5_0Dot.codes(p)
        return (f * toFloat(w0 &- 16), f * toFloat(w1 &- 16))
    }
}
