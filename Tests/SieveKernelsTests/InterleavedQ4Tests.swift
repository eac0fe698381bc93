import SieveCore
import Testing
@testable import SieveKernels

/// Interleaved matrices (q4_1, q4_0, q5_0, q5_1, iq4_nl, q8_0, iq4_xs, q4_K and q5_K; `WeightMatrix.interleaved()`): the layout
/// gives back every row exactly, and every product (the 16-row kernel, rows it cannot take, the Swift kernels,
/// prefill) matches the row-major matrix's.
@Suite struct InterleavedQ4Tests {
    static let dtypes: [DType] = [.q4_1, .q4_0, .q5_0, .q5_1, .iq4_nl, .q8_0, .iq4_xs, .q4_K, .q5_K]

    /// `columns` rounded up to whole blocks of `dtype` (iq4_xs's super-blocks of 256).
    static func columns(_ columns: Int, _ dtype: DType) -> Int { (columns + dtype.blockSize - 1) / dtype.blockSize * dtype.blockSize }

    /// Outputs of `w` times `x` (`tokens` rows) for the rows `select` writes (NaN elsewhere).
    static func product(_ w: WeightMatrix, _ x: [Float], tokens: Int, kernels: DecodeKernels = .preferred,
                        _ select: (MatMulInput, UnsafeMutablePointer<Float>, ThreadPool) -> Void) -> [Float] {
        let input = MatMulInput(maxTokens: 32, maxColumns: w.columns, threads: 2, kernels: kernels)
        let pool = ThreadPool(threads: 2)
        var y = [Float](repeating: .nan, count: tokens * w.rows)
        x.withUnsafeBufferPointer { xb in
            input.bind(xb.baseAddress!, tokens: tokens, columns: w.columns)
            y.withUnsafeMutableBufferPointer { select(input, $0.baseAddress!, pool) }
        }
        return y
    }

    static func full(_ w: WeightMatrix, _ x: [Float], tokens: Int, kernels: DecodeKernels = .preferred) -> [Float] {
        product(w, x, tokens: tokens, kernels: kernels) { MatMul.multiply(w, $0, into: $1, pool: $2) }
    }

    @Test(arguments: dtypes)
    func rowsComeBackExactly(dtype: DType) throws {
        let columns = Self.columns(96, dtype)
        let w = try Fixtures.matrix(dtype, rows: 48, columns: columns, seed: 5)
        let v = w.interleaved()
        #expect(v.isInterleaved && !w.isInterleaved && v.rows == 48 && v.columns == columns && v.rowBytes == w.rowBytes)
        #expect(v.base != w.base)
        var copy = [UInt8](repeating: 0, count: w.rowBytes)
        var a = [Float](repeating: 0, count: columns), b = a
        for r in 0..<48 {
            copy.withUnsafeMutableBytes { v.layout.copyRow(r, into: $0.baseAddress!) }
            #expect(copy == Array(UnsafeRawBufferPointer(start: w.row(r), count: w.rowBytes)), "row \(r)")
            a.withUnsafeMutableBufferPointer { w.decodeRow(r, into: $0.baseAddress!) }
            b.withUnsafeMutableBufferPointer { v.decodeRow(r, into: $0.baseAddress!) }
            #expect(a == b, "decoded row \(r)")
        }
        // A slice at group boundaries is the same rows.
        let slice = v.rows(16..<48)
        b.withUnsafeMutableBufferPointer { slice.decodeRowReference(5, into: $0.baseAddress!) }
        a.withUnsafeMutableBufferPointer { w.decodeRowReference(21, into: $0.baseAddress!) }
        #expect(a == b)
    }

    @Test func onlyWholeGroupsOfInterleavableTypesInterleave() throws {
        #expect(try Fixtures.matrix(.q4_1, rows: 32, columns: 64, seed: 1).canInterleave)
        #expect(try Fixtures.matrix(.q8_0, rows: 32, columns: 64, seed: 1).canInterleave)
        #expect(try Fixtures.matrix(.iq4_xs, rows: 32, columns: 256, seed: 1).canInterleave)
        #expect(try Fixtures.matrix(.q4_K, rows: 32, columns: 256, seed: 1).canInterleave)
        #expect(try !Fixtures.matrix(.q6_K, rows: 32, columns: 256, seed: 1).canInterleave)
        #expect(try !Fixtures.matrix(.q4_1, rows: 40, columns: 64, seed: 1).canInterleave)
        #expect(try !Fixtures.matrix(.f16, rows: 32, columns: 64, seed: 1).canInterleave)
        #expect(try !Fixtures.matrix(.q4_0, rows: 32, columns: 64, seed: 1).interleaved().canInterleave)
    }

    /// Whole matrices through the 16-row kernels (VNNI or AVX2; the Swift kernels row by row): against the plain reference with
    /// the same 8-bit activations and against the row-major matrix's product, for one and three tokens; a
    /// projection's shape and a sparsity predictor's `up` (short rows of two blocks, as `--predictor-dtype q4_0`).
    @Test(arguments: dtypes, MatMulTests.availableKernels)
    func decodeProductMatchesTheRowLayout(dtype: DType, kernels: DecodeKernels) throws {
        for (rows, columns) in [(80, 576), (1024, 64)] {
            try decodeProductMatchesTheRowLayout(dtype: dtype, kernels: kernels, rows: rows, columns: Self.columns(columns, dtype))
        }
    }

    private func decodeProductMatchesTheRowLayout(dtype: DType, kernels: DecodeKernels, rows: Int, columns: Int) throws {
        let w = try Fixtures.matrix(dtype, rows: rows, columns: columns, seed: 7)
        let v = w.interleaved()
        for tokens in [1, 3] {
            var rng = SplitMix64(seed: 70 + UInt64(tokens))
            let x = rng.floats(tokens * columns, scale: 2)
            let (products, _) = MatMulTests.magnitudes(Fixtures.decoded(w), x, rows: rows, columns: columns, tokens: tokens)
            let fast = Self.full(v, x, tokens: tokens, kernels: kernels)
            let reference = MatMulTests.reference(w, x, tokens: tokens, quantizedActivations: true)
            let rowMajor = Self.full(w, x, tokens: tokens, kernels: kernels)
            let r1 = worstRatio(fast, reference, scale: products, tolerance: Tolerances.quantizedSameActivations)
            let r2 = worstRatio(fast, rowMajor, scale: products, tolerance: Tolerances.quantizedSameActivations)
            #expect(r1 <= 1 && r2 <= 1, "\(dtype.name) \(rows)×\(columns) \(kernels) tokens \(tokens): worst/allowed \(r1), \(r2)")
        }
    }

    /// The row subsets the sparse runtime asks for: blocks of 32 rows (whole groups: bit-identical to the full
    /// product), blocks of 8 and single listed rows, and ranges cutting groups (row by row), in one product or
    /// beside a row-major one in the same region; other outputs untouched.
    @Test(arguments: dtypes)
    func rowSubsetsMatchTheFullProduct(dtype: DType) throws {
        let rows = 96, columns = 256
        let w = try Fixtures.matrix(dtype, rows: rows, columns: columns, seed: 9)
        let v = w.interleaved()
        var rng = SplitMix64(seed: 10)
        let x = rng.floats(columns, scale: 2)
        let full = Self.full(v, x, tokens: 1)
        let (products, _) = MatMulTests.magnitudes(Fixtures.decoded(w), x, rows: rows, columns: columns, tokens: 1)
        func check(_ y: [Float], _ wanted: (Int) -> Bool, exact: Bool, _ what: String) {
            for r in 0..<rows {
                if !wanted(r) {
                    #expect(y[r].isNaN, "\(what): row \(r) was written")
                } else if exact {
                    #expect(y[r] == full[r], "\(what): row \(r)")
                } else {
                    #expect(abs(y[r] - full[r]) <= Tolerances.quantizedSameActivations * products[r], "\(what): row \(r)")
                }
            }
        }
        for (blockRows, blocks) in [(32, [2, 0]), (16, [5, 1, 2]), (8, [11, 0, 3]), (1, [95, 3, 17, 40, 41])] {
            let y = Self.product(v, x, tokens: 1) { input, out, pool in
                blocks.withUnsafeBufferPointer { MatMul.multiply(v, input, blocks: $0, blockRows: blockRows, into: out, pool: pool) }
            }
            check(y, { blocks.contains($0 / blockRows) }, exact: blockRows % 16 == 0, "blocks of \(blockRows) \(blocks)")
        }
        let ranges = [70..<90, 3..<5, 32..<48]
        let y = Self.product(v, x, tokens: 1) { input, out, pool in
            ranges.withUnsafeBufferPointer { MatMul.multiply(v, input, rowRanges: $0, into: out, pool: pool) }
        }
        check(y, { r in ranges.contains { $0.contains(r) } }, exact: false, "ranges \(ranges)")

        // One region with the interleaved product and a row-major one of 13 rows (units of 16 and of 4 rows).
        let other = try Fixtures.matrix(.q8_0, rows: 13, columns: columns, seed: 12)
        var both = [Float](repeating: .nan, count: rows + 13)
        let input = MatMulInput(maxTokens: 1, maxColumns: columns, threads: 2)
        x.withUnsafeBufferPointer { xb in
            input.bind(xb.baseAddress!, tokens: 1, columns: columns)
            both.withUnsafeMutableBufferPointer { out in
                MatMul.multiply([MatMulProduct(weights: v, output: out.baseAddress!), MatMulProduct(weights: other, output: out.baseAddress! + rows)],
                                input, pool: ThreadPool(threads: 2))
            }
        }
        #expect(Array(both[0..<rows]) == full)
        #expect(Array(both[rows...]) == Self.full(other, x, tokens: 1))
    }

    /// Gate and up fused block by block: rows come back from the right matrix; products of selected blocks (decode)
    /// and of everything (prefill) are bit for bit the separate interleaved matrices' (each row is one kernel lane);
    /// the sparse feed-forward layer gives the same activations and output with either.
    @Test(arguments: dtypes)
    func fusedGateAndUpMatchSeparateMatrices(dtype: DType) throws {
        let rows = 128, columns = Self.columns(192, dtype), blockRows = 32
        let gate = try Fixtures.matrix(dtype, rows: rows, columns: columns, seed: 21)
        let up = try Fixtures.matrix(dtype, rows: rows, columns: columns, seed: 22)
        let fused = WeightMatrix.interleavedBlocks(gate: gate, up: up, blockRows: blockRows)
        #expect(fused.isInterleaved && fused.rows == 2 * rows && fused.rowBytes == gate.rowBytes)
        var copy = [UInt8](repeating: 0, count: gate.rowBytes)
        for r in [0, 31, 32, 63, 64, 200, 255] {
            let block = r / (2 * blockRows), i = r % (2 * blockRows)
            let source = i < blockRows ? gate.row(block * blockRows + i) : up.row(block * blockRows + i - blockRows)
            copy.withUnsafeMutableBytes { fused.layout.copyRow(r, into: $0.baseAddress!) }
            #expect(copy == Array(UnsafeRawBufferPointer(start: source, count: gate.rowBytes)), "row \(r)")
        }
        let g = gate.interleaved(), u = up.interleaved()
        var rng = SplitMix64(seed: 23)
        let x = rng.floats(columns, scale: 2)
        let blocks = [3, 0, 2]
        let z = Self.product(fused, x, tokens: 1) { input, out, pool in
            blocks.sorted().withUnsafeBufferPointer { MatMul.multiply(fused, input, blocks: $0, blockRows: 2 * blockRows, into: out, pool: pool) }
        }
        let gy = Self.full(g, x, tokens: 1), uy = Self.full(u, x, tokens: 1)
        for b in 0..<(rows / blockRows) {
            for i in 0..<blockRows {
                let gz = z[2 * blockRows * b + i], uz = z[2 * blockRows * b + blockRows + i]
                if blocks.contains(b) {
                    #expect(gz == gy[blockRows * b + i] && uz == uy[blockRows * b + i], "block \(b) row \(i)")
                } else {
                    #expect(gz.isNaN && uz.isNaN, "block \(b) was written")
                }
            }
        }
        var prefillInput = SplitMix64(seed: 24)
        let xs = prefillInput.floats(9 * columns)
        let all = Self.full(fused, xs, tokens: 9), gAll = Self.full(g, xs, tokens: 9), uAll = Self.full(u, xs, tokens: 9)
        for t in 0..<9 {
            for n in 0..<rows {
                let b = n / blockRows, i = n % blockRows
                #expect(all[t * 2 * rows + 2 * blockRows * b + i] == gAll[t * rows + n] && all[t * 2 * rows + 2 * blockRows * b + blockRows + i] == uAll[t * rows + n])
            }
        }

        // The sparse feed-forward layer with and without the fused matrix.
        let down = try Fixtures.matrix(.q8_0, rows: rows, columns: 64, seed: 25)
        let bias = rng.floats(rows)
        try bias.withUnsafeBufferPointer { gb in
            func run(_ gateUp: WeightMatrix?) throws -> (a: [Float], y: [Float], reference: [Float]) {
                let layer = gateUp.map {
                    SparseFeedForward.Layer(gateUp: $0, down: down, gateBias: gb.baseAddress!, upBias: nil, function: .silu, blockRows: blockRows)
                } ?? SparseFeedForward.Layer(gate: g, up: u, down: down, gateBias: gb.baseAddress!, upBias: nil, function: .silu,
                                             blockRows: blockRows)
                let pool = ThreadPool(threads: 2)
                let input = MatMulInput(maxTokens: 1, maxColumns: columns, threads: 2)
                var gateOut = [Float](repeating: 0, count: 2 * rows), a = [Float](repeating: 0, count: rows), y = [Float](repeating: 0, count: 64)
                var scratch = [Float](repeating: 0, count: SparseFeedForward.scratchFloats(outputs: 64, threads: 2))
                let selected = blocks.sorted()
                x.withUnsafeBufferPointer { xb in
                    input.bind(xb.baseAddress!, tokens: 1, columns: columns)
                    selected.withUnsafeBufferPointer { sb in
                        SparseFeedForward.multiply(layer, input, blocks: sb, gateOutput: &gateOut, activations: &a, into: &y,
                                                   scratch: &scratch, scratchCount: scratch.count, pool: pool)
                    }
                }
                return (a, y, SparseFeedForward.reference(layer, x: x, blocks: selected).y)
            }
            let separate = try run(nil), together = try run(fused)
            #expect(separate.a == together.a && separate.y == together.y)
            // The reference splits the fused rows back into gate and up: the same sums as from the separate matrices.
            #expect(separate.reference == together.reference && together.reference.contains { $0 != 0 })
            #expect(together.a.contains { $0 != 0 })
        }
    }

    /// Prefill with the group kernels multiplies up to eight tokens per call with 8-bit activations: each token's
    /// outputs are bit for bit its one-token product, over whole tiles of tokens and a partial one, for the whole
    /// matrix and for ranges cutting groups (whose rows go through the row kernels, as in decode). With the Swift
    /// kernels prefill decodes the rows to f32: exactly the row layout's prefill.
    @Test(arguments: dtypes, MatMulTests.availableKernels)
    func prefillEqualsOneTokenProducts(dtype: DType, kernels: DecodeKernels) throws {
        let rows = 80, columns = Self.columns(128, dtype)
        let w = try Fixtures.matrix(dtype, rows: rows, columns: columns, seed: 13)
        let v = w.interleaved()
        let tokens = 2 * CRowKernels.tokenTile + 3
        var rng = SplitMix64(seed: 14)
        let x = rng.floats(tokens * columns, scale: 2)
        let batch = Self.full(v, x, tokens: tokens, kernels: kernels)
        guard kernels != .swift else {
            #expect(batch == Self.full(w, x, tokens: tokens, kernels: kernels))
            return
        }
        let ranges = [70..<80, 3..<37]
        func subset(_ x: [Float], tokens: Int) -> [Float] {
            Self.product(v, x, tokens: tokens, kernels: kernels) { input, out, pool in
                ranges.withUnsafeBufferPointer { MatMul.multiply(v, input, rowRanges: $0, into: out, pool: pool) }
            }
        }
        let batchSubset = subset(x, tokens: tokens)
        for t in 0..<tokens {
            let xt = Array(x[(t * columns)..<((t + 1) * columns)])
            let one = Self.full(v, xt, tokens: 1, kernels: kernels), oneSubset = subset(xt, tokens: 1)
            let y = Array(batch[(t * rows)..<((t + 1) * rows)]), ys = Array(batchSubset[(t * rows)..<((t + 1) * rows)])
            #expect(zip(y, one).allSatisfy { $0.bitPattern == $1.bitPattern }, "\(dtype.name) \(kernels) token \(t): \(zip(y, one).filter { $0 != $1 }.count) outputs differ")
            #expect(zip(ys, oneSubset).allSatisfy { $0.bitPattern == $1.bitPattern }, "\(dtype.name) \(kernels) token \(t): subsets differ")
            #expect(ys.enumerated().allSatisfy { r, value in ranges.contains { $0.contains(r) } != value.isNaN }, "rows outside \(ranges) written")
        }
        // Against the plain reference with the same 8-bit activations.
        let (products, _) = MatMulTests.magnitudes(Fixtures.decoded(w), x, rows: rows, columns: columns, tokens: tokens)
        let reference = MatMulTests.reference(w, x, tokens: tokens, quantizedActivations: true)
        let ratio = worstRatio(batch, reference, scale: products, tolerance: Tolerances.quantizedSameActivations)
        #expect(ratio <= 1, "\(dtype.name) \(kernels): worst/allowed \(ratio)")
    }
}
