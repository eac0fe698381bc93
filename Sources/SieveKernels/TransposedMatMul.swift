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
/// several tokens decode panels of rows into per-thread scratch and add each to four tokens at a time in registers
/// (a matrix product). Both are compared with `reference` within `Tolerances.floatSum` (they only reorder float
/// sums).
public enum TransposedMatMul {
    /// Floats of per-thread scratch `multiply` needs for a matrix of `columns` columns (a decoded row slice, or a
    /// panel of rows and its row list for several tokens).
    public static func scratchFloats(columns: Int, threads: Int) -> Int { threads * threadScratchFloats(columns: columns) }

    /// Floats of one thread's scratch.
    static func threadScratchFloats(columns: Int) -> Int { max(columns + 32, panelRows * (panelWidth(.q4_K) + 2)) }

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
                      outputStride: outputStride, scratch: scratch + thread * threadScratchFloats(columns: w.columns))
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

    /// One token's product over the rows whose entry of `x` is non-zero (a ReLU layer's down, every neuron
    /// computed): `y[c] = Σ_{n: x[n] ≠ 0} x[n] · W[n, c]`. When at most `listedShare` of the rows are non-zero they
    /// are listed first (into `rowList`, at least `w.rows` Ints) and read as a selection is, prefetched ahead, since the
    /// hardware prefetcher cannot guess where the next one is; otherwise every row is walked. Same sums, in the
    /// same order, as `multiply` over all rows. docs-opt-relu's dense decode (its layers 1–5 keep 26–114 of 1024
    /// neurons non-zero, layer 0 about 519), which walked every row checking for zeros with nothing prefetched:
    /// 3060/3081/3106 against 3261/3312/3131 tokens/s (alternating runs); walking layer 0 (a share of 0.4 instead
    /// of 0.75) 3354/3226/3214 against 3480/3236/3269.
    public static func multiplyNonzero(_ w: WeightMatrix, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
                                       rowList: UnsafeMutableBufferPointer<Int>, scratch: UnsafeMutablePointer<Float>, scratchCount: Int,
                                       pool: ThreadPool) {
        precondition(rowList.count >= w.rows, "a row list of \(rowList.count) for \(w.rows) rows")
        let listed = nonzeroRows(x, count: w.rows, into: rowList.baseAddress!)
        let all = Double(listed) > listedShare * Double(w.rows)
        multiply(w, x, inputStride: w.rows, tokens: 1, blocks: all ? nil : UnsafeBufferPointer(rebasing: rowList[..<listed]),
                 blockRows: 1, into: y, outputStride: w.columns, scratch: scratch, scratchCount: scratchCount, pool: pool)
    }

    /// Largest share of non-zero rows that `multiplyNonzero` lists.
    static let listedShare = 0.75

    /// Writes the indices of the non-zero entries of `x[0..<count]` to `rows` (ascending; `count` Ints of room)
    /// and returns how many there are.
    public static func nonzeroRows(_ x: UnsafePointer<Float>, count: Int, into rows: UnsafeMutablePointer<Int>) -> Int {
        var k = 0
        for n in 0..<count {
            rows[k] = n
            k &+= x[n] != 0 ? 1 : 0
        }
        return k
    }

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

    /// Rows ahead of the one being added whose column slice is prefetched, in a selection of rows (the hardware
    /// prefetcher cannot guess where the next one is). A walk over every row of a matrix is read without:
    /// prefetching there made docs-opt-relu's dense decode 4% slower (3863 against 4023 tokens/s, five alternating
    /// runs) and an f16 SmolLM2 bundle's 2-4% slower; a ReLU layer's non-zero rows are listed first instead
    /// (`multiplyNonzero`).
    static let prefetchRows = 8

    /// Whether f16 rows are added by the C kernel (`sieve_f16_accumulate_avx2`: the same sums, half of the values
    /// converted with integer instructions where that pays, `CRowKernels.mixedHalfConversionPays`), unless
    /// `SIEVE_KERNELS=swift` chose the Swift loops.
    static let halfInC = CRowKernels.halfAvailable && DecodeKernels.preferred != .swift

    /// `y[columns] = Σ x[n]·W[n, columns]` over the rows of `rows` with a non-zero activation, each column summed in
    /// row order (`halfC` picks the C kernel for f16 rows, `mixedHalf` its conversion; the Swift loop gives the
    /// same sums).
    static func accumulateOne(_ w: WeightLayout, _ x: UnsafePointer<Float>, rows: RowBlocks, columns: Range<Int>,
                              into y: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, halfC: Bool = halfInC,
                              mixedHalf: Bool = CRowKernels.mixedHalfConversionPays) {
        for c in columns { y[c] = 0 }
        switch w.dtype {
        case .f32: accumulate(F32Accumulate.self, w, x, rows, columns, y)
        case .f16:
            #if arch(x86_64)
            if halfC {
                return sieve_f16_accumulate_avx2(w.base, w.rowBytes, rows.blocks?.baseAddress, rows.blockRows, rows.count, x,
                                                 columns.lowerBound, columns.count, y, mixedHalf ? 1 : 0)
            }
            #endif
            accumulate(F16Accumulate.self, w, x, rows, columns, y)
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
                Activations.add(scratch, scaledBy: a, into: y + columns.lowerBound, count: columns.count)
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
        let prefetching = rows.blocks != nil
        while chunk + 4 <= end {
            var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
            var a4 = SIMD16<Float>(), a5 = SIMD16<Float>(), a6 = SIMD16<Float>(), a7 = SIMD16<Float>()
            let sliceOffset = w.dtype.byteCount(elements: 32 * chunk) ?? 0
            for i in 0..<count {
                // A selection's rows with a non-zero activation are a data-dependent subset: fetch ahead.
                if prefetching && i + prefetchRows < count {
                    let ahead = rows[i + prefetchRows]
                    if x[ahead] != 0 { sieve_prefetch(w.base + ahead * w.rowBytes + sliceOffset, sliceBytes) }
                }
                let n = rows[i]
                let a = x[n]
                if a == 0 { continue }
                let p = w.base + n * w.rowBytes
                K.add(p, chunk: chunk, scale: a, to: &a0, &a1)
                K.add(p, chunk: chunk + 1, scale: a, to: &a2, &a3)
                K.add(p, chunk: chunk + 2, scale: a, to: &a4, &a5)
                K.add(p, chunk: chunk + 3, scale: a, to: &a6, &a7)
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
                K.add(w.base + n * w.rowBytes, chunk: chunk, scale: a, to: &lo, &hi)
            }
            y.store16(lo, 32 * chunk); y.store16(hi, 32 * chunk + 16)
            chunk += 1
        }
        for c in (end * 32)..<columns.upperBound {
            var sum: Float = 0
            for i in 0..<count {
                let n = rows[i]
                let a = x[n]
                if a != 0 { sum = sum.addingProduct(a, K.element(w.base + n * w.rowBytes, c)) }
            }
            y[c] = sum
        }
    }

    // MARK: - Several tokens

    /// Rows of a decoded panel (`accumulateMany`).
    static let panelRows = 64

    /// Floats of a thread's panel: `panelRows` rows of `panelWidth` columns.
    static func panelFloats(_ dtype: DType) -> Int { panelRows * panelWidth(dtype) }

    /// Columns of a panel: 64, or a whole block of wider block types (K-quants).
    static func panelWidth(_ dtype: DType) -> Int { max(64, dtype.blockSize) }

    /// Several tokens, as a matrix product: the used rows (a non-zero activation in some token) are decoded
    /// `panelRows` at a time, `panelWidth` columns wide, into the thread's scratch, and each tile of four tokens by
    /// 64 columns adds a panel in sixteen registers (`tile`), so every decoded weight serves four tokens from L1 and
    /// `y` is read and written once per panel rather than once per row. Each output's sum still runs over the rows
    /// in order, panel after panel.
    private static func accumulateMany(_ w: WeightLayout, _ x: UnsafePointer<Float>, inputStride: Int, tokens: Int, rows: RowBlocks,
                                       columns: Range<Int>, into y: UnsafeMutablePointer<Float>, outputStride: Int,
                                       scratch: UnsafeMutablePointer<Float>) {
        for t in 0..<tokens {
            (y + t * outputStride + columns.lowerBound).update(repeating: 0, count: columns.count)
        }
        let width = panelWidth(w.dtype)
        let panel = scratch
        let used = UnsafeMutableRawPointer(scratch + panelRows * width).bindMemory(to: Int.self, capacity: panelRows)
        var i = 0
        let count = rows.count
        while i < count {
            // The next rows some token uses.
            var n = 0
            while n < panelRows && i < count {
                let row = rows[i]
                i += 1
                var any = false
                for t in 0..<tokens where x[t * inputStride + row] != 0 { any = true; break }
                if any { used[n] = row; n += 1 }
            }
            if n == 0 { continue }
            var c0 = columns.lowerBound
            while c0 < columns.upperBound {
                let span = min(width, columns.upperBound - c0)
                for r in 0..<n { decodeSlice(w, row: used[r], columns: c0..<(c0 + span), into: panel + r * width) }
                var t = 0
                while t + 4 <= tokens {
                    addPanel(panel, width: width, span: span, rows: UnsafePointer(used), count: n, x: x + t * inputStride,
                             inputStride: inputStride, tokens: 4, into: y + t * outputStride + c0, outputStride: outputStride)
                    t += 4
                }
                if t < tokens {
                    addPanel(panel, width: width, span: span, rows: UnsafePointer(used), count: n, x: x + t * inputStride,
                             inputStride: inputStride, tokens: tokens - t, into: y + t * outputStride + c0, outputStride: outputStride)
                }
                c0 += span
            }
        }
    }

    /// Adds `Σᵢ x[t, rows[i]] · panel[i, c]` to `y[t, c]` for `t < tokens` (at most 4) and `c < span`.
    @inline(__always)
    private static func addPanel(_ panel: UnsafePointer<Float>, width: Int, span: Int, rows: UnsafePointer<Int>, count: Int,
                                 x: UnsafePointer<Float>, inputStride: Int, tokens: Int,
                                 into y: UnsafeMutablePointer<Float>, outputStride: Int) {
        var c = 0
        if tokens == 4 {
            while c + 64 <= span {
                tile4(panel + c, width: width, rows: rows, count: count, x: x, inputStride: inputStride, into: y + c, outputStride: outputStride)
                c += 64
            }
        }
        // Other token counts and the last columns: sixteen columns of one token at a time.
        while c + 16 <= span {
            for t in 0..<tokens {
                let xt = x + t * inputStride, out = y + t * outputStride + c
                var acc = out.load16(0)
                for i in 0..<count { acc.addProduct(SIMD16(repeating: xt[rows[i]]), panel.load16(i * width + c)) }
                out.store16(acc, 0)
            }
            c += 16
        }
        while c < span {
            for t in 0..<tokens {
                let xt = x + t * inputStride
                var sum = y[t * outputStride + c]
                for i in 0..<count { sum += xt[rows[i]] * panel[i * width + c] }
                y[t * outputStride + c] = sum
            }
            c += 1
        }
    }

    /// Four tokens by 64 columns of `addPanel`, in sixteen registers.
    @inline(__always)
    private static func tile4(_ panel: UnsafePointer<Float>, width: Int, rows: UnsafePointer<Int>, count: Int, x: UnsafePointer<Float>,
                              inputStride: Int, into y: UnsafeMutablePointer<Float>, outputStride: Int) {
        let x0 = x, x1 = x + inputStride, x2 = x + 2 * inputStride, x3 = x + 3 * inputStride
        let y0 = y, y1 = y + outputStride, y2 = y + 2 * outputStride, y3 = y + 3 * outputStride
        var a00 = y0.load16(0), a01 = y0.load16(16), a02 = y0.load16(32), a03 = y0.load16(48)
        var a10 = y1.load16(0), a11 = y1.load16(16), a12 = y1.load16(32), a13 = y1.load16(48)
        var a20 = y2.load16(0), a21 = y2.load16(16), a22 = y2.load16(32), a23 = y2.load16(48)
        var a30 = y3.load16(0), a31 = y3.load16(16), a32 = y3.load16(32), a33 = y3.load16(48)
        for i in 0..<count {
            let p = panel + i * width, n = rows[i]
            let w0 = p.load16(0), w1 = p.load16(16), w2 = p.load16(32), w3 = p.load16(48)
            let s0 = SIMD16<Float>(repeating: x0[n]), s1 = SIMD16<Float>(repeating: x1[n])
            let s2 = SIMD16<Float>(repeating: x2[n]), s3 = SIMD16<Float>(repeating: x3[n])
            a00.addProduct(s0, w0); a01.addProduct(s0, w1); a02.addProduct(s0, w2); a03.addProduct(s0, w3)
            a10.addProduct(s1, w0); a11.addProduct(s1, w1); a12.addProduct(s1, w2); a13.addProduct(s1, w3)
            a20.addProduct(s2, w0); a21.addProduct(s2, w1); a22.addProduct(s2, w2); a23.addProduct(s2, w3)
            a30.addProduct(s3, w0); a31.addProduct(s3, w1); a32.addProduct(s3, w2); a33.addProduct(s3, w3)
        }
        y0.store16(a00, 0); y0.store16(a01, 16); y0.store16(a02, 32); y0.store16(a03, 48)
        y1.store16(a10, 0); y1.store16(a11, 16); y1.store16(a12, 32); y1.store16(a13, 48)
        y2.store16(a20, 0); y2.store16(a21, 16); y2.store16(a22, 32); y2.store16(a23, 48)
        y3.store16(a30, 0); y3.store16(a31, 16); y3.store16(a32, 32); y3.store16(a33, 48)
    }

    /// Decodes columns `columns` (starting on a block boundary) of row `row`.
    @inline(__always)
    private static func decodeSlice(_ w: WeightLayout, row: Int, columns: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        let start = w.dtype.byteCount(elements: columns.lowerBound) ?? 0
        Dequantize.row(w.base + row * w.rowBytes + start, dtype: w.dtype, columns: columns.count, into: out)
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

/// Decoding of one 32-column chunk of a row, scaled and added, per weight type (the fused loops of
/// `TransposedMatMul`): one fused multiply-add per 16 values where the type allows. Slices start at a multiple of
/// 32 columns; only float rows can end in a partial chunk (`element`).
protocol AccumulateKind {
    /// `(lo, hi) += scale · row[32·chunk ..< 32·chunk + 32]`, 16 values each.
    static func add(_ row: UnsafeRawPointer, chunk: Int, scale: Float, to lo: inout SIMD16<Float>, _ hi: inout SIMD16<Float>)
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
    static func add(_ row: UnsafeRawPointer, chunk: Int, scale: Float, to lo: inout SIMD16<Float>, _ hi: inout SIMD16<Float>) {
        let s = SIMD16<Float>(repeating: scale)
        lo.addProduct(s, load16(row, 32 * chunk))
        hi.addProduct(s, load16(row, 32 * chunk + 16))
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
    static func add(_ row: UnsafeRawPointer, chunk: Int, scale: Float, to lo: inout SIMD16<Float>, _ hi: inout SIMD16<Float>) {
        let p = row + chunk * 34
        let f = SIMD16<Float>(repeating: scale * Dequantize.half(p))
        lo.addProduct(f, toFloat(widen(p.vector(at: 2, as: SIMD16<Int8>.self))))
        hi.addProduct(f, toFloat(widen(p.vector(at: 18, as: SIMD16<Int8>.self))))
    }
}

/// `(scale·d) · (code − 8)`.
enum Q4_0Accumulate: AccumulateKind {
    @inline(__always)
    static func add(_ row: UnsafeRawPointer, chunk: Int, scale: Float, to lo: inout SIMD16<Float>, _ hi: inout SIMD16<Float>) {
        let p = row + chunk * 18
        let f = SIMD16<Float>(repeating: scale * Dequantize.half(p))
        let q: SIMD16<UInt8> = p.vector(at: 2)
        lo.addProduct(f, toFloat(widen(q & 15) &- 8))
        hi.addProduct(f, toFloat(widen(q &>> 4) &- 8))
    }
}

/// `(scale·d) · code + scale·m`.
enum Q4_1Accumulate: AccumulateKind {
    @inline(__always)
    static func add(_ row: UnsafeRawPointer, chunk: Int, scale: Float, to lo: inout SIMD16<Float>, _ hi: inout SIMD16<Float>) {
        let p = row + chunk * 20
        let f = SIMD16<Float>(repeating: scale * Dequantize.half(p))
        let m = SIMD16<Float>(repeating: scale * Dequantize.half(p, 2))
        let q: SIMD16<UInt8> = p.vector(at: 4)
        lo += m
        hi += m
        lo.addProduct(f, toFloat(widen(q & 15)))
        hi.addProduct(f, toFloat(widen(q &>> 4)))
    }
}

/// `(scale·d) · (code − 16)` with the fifth bits.
enum Q5_0Accumulate: AccumulateKind {
    @inline(__always)
    static func add(_ row: UnsafeRawPointer, chunk: Int, scale: Float, to lo: inout SIMD16<Float>, _ hi: inout SIMD16<Float>) {
        let p = row + chunk * 22
        let f = SIMD16<Float>(repeating: scale * Dequantize.half(p))
        let (w0, w1) = Q5_0Dot.codes(p)
        lo.addProduct(f, toFloat(w0 &- 16))
        hi.addProduct(f, toFloat(w1 &- 16))
    }
}
