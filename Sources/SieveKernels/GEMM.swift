import SieveCore

// Matrix-matrix products for prefill: the weights of 8 rows are decoded to floats once (any weight type), then
// multiplied with all tokens in float. Tokens are packed in panels of 16 (`panel[k][lane]` = token lane's value
// k), so the inner loop is one vector load of 16 tokens and eight fused multiply-adds with broadcast weights.

enum GEMM {
    /// Rows decoded and multiplied together.
    static let tileRows = 8
    /// Tokens per panel (one vector).
    static let panelWidth = 16

    /// Packs `tokens` rows of `x` (row stride `stride`) into panels of 16 tokens: panel `p` holds
    /// `panels[(p·columns + k)·16 + lane] = x[16p + lane, k]`, zero past the last token.
    static func pack(_ x: UnsafePointer<Float>, tokens: Int, columns: Int, stride: Int, panel p: Int, into panels: UnsafeMutablePointer<Float>) {
        let out = panels + p * columns * panelWidth
        let first = p * panelWidth
        let count = min(panelWidth, tokens - first)
        if count < panelWidth { out.initialize(repeating: 0, count: columns * panelWidth) }
        for lane in 0..<count {
            let src = x + (first + lane) * stride
            for k in 0..<columns { out[k * panelWidth + lane] = src[k] }
        }
    }

    /// Multiplies `rowCount` (≤ 8) float rows at `tile` (row stride `tileStride`) with every token panel and
    /// writes `y[t·outputStride + firstRow + i]`.
    static func multiplyTile(_ tile: UnsafePointer<Float>, tileStride: Int, rowCount: Int, columns: Int,
                             panels: UnsafePointer<Float>, tokens: Int, firstRow: Int,
                             _ y: UnsafeMutablePointer<Float>, outputStride: Int) {
        let panelCount = (tokens + panelWidth - 1) / panelWidth
        for p in 0..<panelCount {
            let xp = panels + p * columns * panelWidth
            let count = min(panelWidth, tokens - p * panelWidth)
            let out = y + p * panelWidth * outputStride + firstRow
            if rowCount == tileRows {
                microkernel8(tile, tileStride, columns, xp, out, outputStride, count)
            } else {
                for i in 0..<rowCount {
                    microkernel1(tile + i * tileStride, columns, xp, out + i, outputStride, count)
                }
            }
        }
    }

    @inline(__always)
    static func microkernel8(_ w: UnsafePointer<Float>, _ stride: Int, _ columns: Int, _ xp: UnsafePointer<Float>,
                             _ out: UnsafeMutablePointer<Float>, _ outputStride: Int, _ count: Int) {
        let w0 = w, w1 = w + stride, w2 = w1 + stride, w3 = w2 + stride
        let w4 = w3 + stride, w5 = w4 + stride, w6 = w5 + stride, w7 = w6 + stride
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
        var a4 = SIMD16<Float>(), a5 = SIMD16<Float>(), a6 = SIMD16<Float>(), a7 = SIMD16<Float>()
        for k in 0..<columns {
            let x = xp.load16(16 * k)
            a0.addProduct(x, SIMD16(repeating: w0[k]))
            a1.addProduct(x, SIMD16(repeating: w1[k]))
            a2.addProduct(x, SIMD16(repeating: w2[k]))
            a3.addProduct(x, SIMD16(repeating: w3[k]))
            a4.addProduct(x, SIMD16(repeating: w4[k]))
            a5.addProduct(x, SIMD16(repeating: w5[k]))
            a6.addProduct(x, SIMD16(repeating: w6[k]))
            a7.addProduct(x, SIMD16(repeating: w7[k]))
        }
        for t in 0..<count {
            let o = out + t * outputStride
            o[0] = a0[t]; o[1] = a1[t]; o[2] = a2[t]; o[3] = a3[t]
            o[4] = a4[t]; o[5] = a5[t]; o[6] = a6[t]; o[7] = a7[t]
        }
    }

    @inline(__always)
    static func microkernel1(_ w: UnsafePointer<Float>, _ columns: Int, _ xp: UnsafePointer<Float>,
                             _ out: UnsafeMutablePointer<Float>, _ outputStride: Int, _ count: Int) {
        // One accumulator, in the same order as `microkernel8`, so a row's result does not depend on its tile.
        var a = SIMD16<Float>()
        for k in 0..<columns { a.addProduct(xp.load16(16 * k), SIMD16(repeating: w[k])) }
        for t in 0..<count { out[t * outputStride] = a[t] }
    }

    /// Rows `rows` of `w` times all packed tokens, decoding the weights 8 rows at a time into `scratch`.
    @inline(never)
    static func rows(_ w: WeightLayout, _ rows: Range<Int>, panels: UnsafePointer<Float>, tokens: Int,
                     _ y: UnsafeMutablePointer<Float>, outputStride: Int, scratch: UnsafeMutablePointer<Float>) {
        var r = rows.lowerBound
        while r < rows.upperBound {
            let n = min(tileRows, rows.upperBound - r)
            let tile: UnsafePointer<Float>
            if w.dtype == .f32 {
                tile = w.row(r).assumingMemoryBound(to: Float.self)
            } else {
                for i in 0..<n { w.withRow(r + i) { Dequantize.row($0, dtype: w.dtype, columns: w.columns, into: scratch + i * w.columns) } }
                tile = UnsafePointer(scratch)
            }
            multiplyTile(tile, tileStride: w.columns, rowCount: n, columns: w.columns, panels: panels, tokens: tokens,
                         firstRow: r, y, outputStride: outputStride)
            r += n
        }
    }
}
