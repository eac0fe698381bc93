import SieveCore
import Testing
@testable import SieveKernels

/// The transposed (blocked-FFN down) product against its plain reference.
@Suite struct TransposedMatMulTests {
    static let types: [DType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_nl, .iq4_xs,
                                 .iq2_xxs, .iq2_xs, .iq2_s, .iq3_xxs, .iq3_s, .iq1_s, .iq1_m]
    static let rows = 96
    static let columns = 512
    static let blockRows = 16

    /// `x` `[tokens, rows]` with some exact zeros (as after ReLU or masking).
    static func activations(tokens: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed)
        return (0..<(tokens * rows)).map { i in i % 7 == 3 ? 0 : rng.nextSignedUnit() }
    }

    /// `Σ_n |x[t,n]·W[n,c]|` per output, the scale of `Tolerances.floatSum`.
    static func magnitudes(_ w: [Float], _ x: [Float], tokens: Int, rows selected: [Int]) -> [Float] {
        var out = [Float](repeating: 0, count: tokens * columns)
        for t in 0..<tokens {
            for n in selected {
                let a = abs(x[t * rows + n])
                for c in 0..<columns { out[t * columns + c] += a * abs(w[n * columns + c]) }
            }
        }
        return out
    }

    static func run(_ w: WeightMatrix, _ x: [Float], tokens: Int, blocks: [Int]?, threads: Int, blockRows: Int = Self.blockRows) -> [Float] {
        let pool = ThreadPool(threads: threads)
        let scratchCount = TransposedMatMul.scratchFloats(columns: w.columns, threads: threads)
        var scratch = [Float](repeating: 0, count: scratchCount)
        var y = [Float](repeating: .nan, count: tokens * columns)
        x.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { yb in
                scratch.withUnsafeMutableBufferPointer { sb in
                    if let blocks {
                        blocks.withUnsafeBufferPointer { bb in
                            TransposedMatMul.multiply(w, xb.baseAddress!, inputStride: rows, tokens: tokens, blocks: bb,
                                                      blockRows: blockRows, into: yb.baseAddress!, outputStride: columns,
                                                      scratch: sb.baseAddress!, scratchCount: scratchCount, pool: pool)
                        }
                    } else {
                        TransposedMatMul.multiply(w, xb.baseAddress!, inputStride: rows, tokens: tokens, blocks: nil,
                                                  blockRows: blockRows, into: yb.baseAddress!, outputStride: columns,
                                                  scratch: sb.baseAddress!, scratchCount: scratchCount, pool: pool)
                    }
                }
            }
        }
        return y
    }

    @Test(arguments: types)
    func matchesTheReference(_ dtype: DType) throws {
        let w = try Fixtures.matrix(dtype, rows: Self.rows, columns: Self.columns, seed: 7)
        let decoded = Fixtures.decoded(w)
        for tokens in [1, 3, 20] {
            let x = Self.activations(tokens: tokens, seed: UInt64(tokens))
            for blocks in [nil, [0, 2, 5], [4]] as [[Int]?] {
                let selected = blocks.map { $0.flatMap { b in (b * Self.blockRows)..<((b + 1) * Self.blockRows) } } ?? Array(0..<Self.rows)
                var expected = [Float](repeating: .nan, count: tokens * Self.columns)
                x.withUnsafeBufferPointer { xb in
                    expected.withUnsafeMutableBufferPointer {
                        TransposedMatMul.reference(w, xb.baseAddress!, inputStride: Self.rows, tokens: tokens, blocks: blocks,
                                                   blockRows: Self.blockRows, into: $0.baseAddress!, outputStride: Self.columns)
                    }
                }
                // The reference is the plain definition over the selected rows.
                var plain = [Float](repeating: 0, count: tokens * Self.columns)
                for t in 0..<tokens {
                    for n in selected {
                        for c in 0..<Self.columns { plain[t * Self.columns + c] += x[t * Self.rows + n] * decoded[n * Self.columns + c] }
                    }
                }
                let scale = Self.magnitudes(decoded, x, tokens: tokens, rows: selected)
                #expect(worstRatio(expected, plain, scale: scale, tolerance: Tolerances.floatSum) <= 1)
                for threads in [1, 3] {
                    let fast = Self.run(w, x, tokens: tokens, blocks: blocks, threads: threads)
                    let ratio = worstRatio(fast, expected, scale: scale, tolerance: Tolerances.floatSum)
                    #expect(ratio <= 1, "\(dtype.name) tokens \(tokens) blocks \(String(describing: blocks)) threads \(threads): \(ratio)")
                }
            }
        }
    }

    /// `multiplyNonzero` (one token over its non-zero rows, listed when few enough, else walked) equals the product
    /// over every row exactly (same sums in the same order) and the reference within `Tolerances.floatSum`, from no
    /// non-zero row to all of them; `nonzeroRows` lists exactly the non-zero entries in order.
    @Test(arguments: [DType.f16, .q8_0, .q4_1])
    func nonzeroRowsMatchEveryRow(_ dtype: DType) throws {
        let w = try Fixtures.matrix(dtype, rows: Self.rows, columns: Self.columns, seed: 11)
        let decoded = Fixtures.decoded(w)
        var rng = SplitMix64(seed: 12)
        // Shares of non-zero rows: none, a few and half (listed), about the threshold, 0.9 and all (walked).
        for share in [0.0, 0.1, 0.5, 0.75, 0.9, 1.0] {
            let x = (0..<Self.rows).map { _ in Double(rng.nextSignedUnit() + 1) / 2 < share ? rng.nextSignedUnit() + 2 : 0 }
            let nonzero = (0..<Self.rows).filter { x[$0] != 0 }
            var listed = [Int](repeating: -1, count: Self.rows)
            let count = x.withUnsafeBufferPointer { TransposedMatMul.nonzeroRows($0.baseAddress!, count: Self.rows, into: &listed) }
            #expect(Array(listed.prefix(count)) == nonzero, "share \(share)")
            let every = Self.run(w, x, tokens: 1, blocks: nil, threads: 2)
            for threads in [1, 2] {
                let pool = ThreadPool(threads: threads)
                let scratchCount = TransposedMatMul.scratchFloats(columns: w.columns, threads: threads)
                var scratch = [Float](repeating: 0, count: scratchCount)
                var rowList = [Int](repeating: 0, count: Self.rows)
                var y = [Float](repeating: .nan, count: Self.columns)
                rowList.withUnsafeMutableBufferPointer {
                    TransposedMatMul.multiplyNonzero(w, x, into: &y, rowList: $0, scratch: &scratch, scratchCount: scratchCount, pool: pool)
                }
                #expect(y == every, "\(dtype.name) share \(share) threads \(threads)")
                var plain = [Float](repeating: 0, count: Self.columns)
                for n in nonzero {
                    for c in 0..<Self.columns { plain[c] += x[n] * decoded[n * Self.columns + c] }
                }
                let scale = Self.magnitudes(decoded, x, tokens: 1, rows: nonzero)
                #expect(worstRatio(y, plain, scale: scale, tolerance: Tolerances.floatSum) <= 1, "\(dtype.name) share \(share)")
            }
        }
    }

    /// Single-neuron blocks (neuron-level selection): every count of non-zero rows from 1 to 9, so the fused loop's
    /// groups of four and its one to three leftover rows all run.
    @Test(arguments: types)
    func singleRowsMatchTheReference(_ dtype: DType) throws {
        let w = try Fixtures.matrix(dtype, rows: Self.rows, columns: Self.columns, seed: 9)
        let decoded = Fixtures.decoded(w)
        for tokens in [1, 3] {
            let x = Self.activations(tokens: tokens, seed: 40 + UInt64(tokens))
            for count in 1...9 {
                // Token 0's activations are non-zero on these rows (zeros sit at n % 7 == 3).
                let rows = Array((0..<Self.rows).filter { $0 % 7 != 3 && $0 % 5 == 1 }.prefix(count))
                var expected = [Float](repeating: .nan, count: tokens * Self.columns)
                x.withUnsafeBufferPointer { xb in
                    expected.withUnsafeMutableBufferPointer {
                        TransposedMatMul.reference(w, xb.baseAddress!, inputStride: Self.rows, tokens: tokens, blocks: rows,
                                                   blockRows: 1, into: $0.baseAddress!, outputStride: Self.columns)
                    }
                }
                // With few rows a q4_1 weight's two terms (d·code and the min m) can cancel: scale the tolerance by
                // each row's largest weight too.
                var scale = Self.magnitudes(decoded, x, tokens: tokens, rows: rows)
                for t in 0..<tokens {
                    for n in rows {
                        let largest = (0..<Self.columns).map { abs(decoded[n * Self.columns + $0]) }.max() ?? 0
                        for c in 0..<Self.columns { scale[t * Self.columns + c] += abs(x[t * Self.rows + n]) * largest }
                    }
                }
                for threads in [1, 2] {
                    let fast = Self.run(w, x, tokens: tokens, blocks: rows, threads: threads, blockRows: 1)
                    let ratio = worstRatio(fast, expected, scale: scale, tolerance: Tolerances.floatSum)
                    #expect(ratio <= 1, "\(dtype.name) tokens \(tokens) rows \(rows) threads \(threads): \(ratio)")
                }
            }
        }
    }

    /// Several tokens take the panel kernel: shapes with several panels of rows (150), a last column slice of 32
    /// (544 columns) or a float tail under 16 (100 columns), token counts around its tiles of four, rows no token
    /// uses (skipped) and a block selection, on one and two threads.
    @Test(arguments: types)
    func severalTokensMatchTheReference(_ dtype: DType) throws {
        let rows = 150
        let columns = dtype.blockSize == 256 ? 768 : dtype.isQuantized ? 544 : 100
        let w = try Fixtures.matrix(dtype, rows: rows, columns: columns, seed: 11)
        var decoded = [Float](repeating: 0, count: rows * columns)
        decoded.withUnsafeMutableBufferPointer { out in
            for n in 0..<rows { w.decodeRowReference(n, into: out.baseAddress! + n * columns) }
        }
        for tokens in [2, 4, 5, 9] {
            var rng = SplitMix64(seed: 100 + UInt64(tokens))
            // Every fifth row is zero in every token.
            let x = (0..<(tokens * rows)).map { i in (i % rows) % 5 == 2 || i % 7 == 3 ? 0 : rng.nextSignedUnit() }
            for blocks in [nil, [0, 3, 7, 8]] as [[Int]?] {
                let blockRows = 10
                let selected = blocks.map { $0.flatMap { b in (b * blockRows)..<((b + 1) * blockRows) } } ?? Array(0..<rows)
                var expected = [Float](repeating: .nan, count: tokens * columns)
                x.withUnsafeBufferPointer { xb in
                    expected.withUnsafeMutableBufferPointer {
                        TransposedMatMul.reference(w, xb.baseAddress!, inputStride: rows, tokens: tokens, blocks: blocks,
                                                   blockRows: blockRows, into: $0.baseAddress!, outputStride: columns)
                    }
                }
                var scale = [Float](repeating: 0, count: tokens * columns)
                for t in 0..<tokens {
                    for n in selected {
                        for c in 0..<columns { scale[t * columns + c] += abs(x[t * rows + n] * decoded[n * columns + c]) }
                    }
                }
                for threads in [1, 2] {
                    let pool = ThreadPool(threads: threads)
                    let scratchCount = TransposedMatMul.scratchFloats(columns: columns, threads: threads)
                    var scratch = [Float](repeating: 0, count: scratchCount)
                    var y = [Float](repeating: .nan, count: tokens * columns)
                    x.withUnsafeBufferPointer { xb in
                        y.withUnsafeMutableBufferPointer { yb in
                            scratch.withUnsafeMutableBufferPointer { sb in
                                let (out, work) = (yb.baseAddress!, sb.baseAddress!)
                                func run(_ bb: UnsafeBufferPointer<Int>?) {
                                    TransposedMatMul.multiply(w, xb.baseAddress!, inputStride: rows, tokens: tokens, blocks: bb,
                                                              blockRows: blockRows, into: out, outputStride: columns,
                                                              scratch: work, scratchCount: scratchCount, pool: pool)
                                }
                                if let blocks { blocks.withUnsafeBufferPointer { run($0) } } else { run(nil) }
                            }
                        }
                    }
                    let ratio = worstRatio(y, expected, scale: scale, tolerance: Tolerances.floatSum)
                    #expect(ratio <= 1, "\(dtype.name) tokens \(tokens) blocks \(String(describing: blocks)) threads \(threads): \(ratio)")
                }
            }
        }
    }

    @Test func resultsDoNotDependOnTheThreadCount() throws {
        let w = try Fixtures.matrix(.q4_1, rows: Self.rows, columns: Self.columns, seed: 9)
        let x = Self.activations(tokens: 1, seed: 3)
        #expect(Self.run(w, x, tokens: 1, blocks: [1, 3], threads: 1) == Self.run(w, x, tokens: 1, blocks: [1, 3], threads: 4))
    }
}
