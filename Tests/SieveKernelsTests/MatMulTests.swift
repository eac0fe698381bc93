import SieveCore
import Testing
@testable import SieveKernels

@Suite struct MatMulTests {
    static let columns = 512
    static let rows = 13

    /// `Σ_c |W[r,c]·x[t,c]|` and `Σ_c |W[r,c]| · max_c |x[t,c]|` per output.
    static func magnitudes(_ w: [Float], _ x: [Float], rows: Int, columns: Int, tokens: Int) -> (products: [Float], bound: [Float]) {
        var products = [Float](repeating: 0, count: rows * tokens), bound = products
        for t in 0..<tokens {
            let xmax = x[(t * columns)..<((t + 1) * columns)].map(abs).max()!
            for r in 0..<rows {
                var p: Float = 0, s: Float = 0
                for c in 0..<columns {
                    p += abs(w[r * columns + c] * x[t * columns + c])
                    s += abs(w[r * columns + c])
                }
                products[t * rows + r] = p
                bound[t * rows + r] = s * xmax
            }
        }
        return (products, bound)
    }

    /// The decode kernels this CPU can run (the C VNNI ones and the Swift fallback on x86-64 with avx512_vnni).
    static let availableKernels = DecodeKernels.allCases.filter(\.isAvailable)

    static func fast(_ w: WeightMatrix, _ x: [Float], tokens: Int, kernels: DecodeKernels = .preferred) -> [Float] {
        let input = MatMulInput(maxTokens: max(32, tokens), maxColumns: columns, threads: 2, kernels: kernels)
        let pool = ThreadPool(threads: 2)
        var y = [Float](repeating: .nan, count: tokens * w.rows)
        x.withUnsafeBufferPointer { xb in
            input.bind(xb.baseAddress!, tokens: tokens, columns: w.columns)
            y.withUnsafeMutableBufferPointer { MatMul.multiply(w, input, into: $0.baseAddress!, pool: pool) }
        }
        return y
    }

    static func reference(_ w: WeightMatrix, _ x: [Float], tokens: Int, quantizedActivations: Bool = false) -> [Float] {
        var y = [Float](repeating: 0, count: tokens * w.rows)
        x.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer {
                if quantizedActivations {
                    MatMul.multiplyReferenceQuantizedActivations(w, x: xb.baseAddress!, tokens: tokens, into: $0.baseAddress!)
                } else {
                    MatMul.multiplyReference(w, x: xb.baseAddress!, tokens: tokens, into: $0.baseAddress!)
                }
            }
        }
        return y
    }

    @Test(arguments: WeightMatrix.supportedTypes, availableKernels)
    func decodeProductMatchesReference(dtype: DType, kernels: DecodeKernels) throws {
        let w = try Fixtures.matrix(dtype, rows: Self.rows, columns: Self.columns, seed: 11)
        let wf = Fixtures.decoded(w)
        for tokens in [1, 3] {
            var rng = SplitMix64(seed: 100 + UInt64(tokens))
            let x = rng.floats(tokens * Self.columns, scale: 2)
            let (products, bound) = Self.magnitudes(wf, x, rows: Self.rows, columns: Self.columns, tokens: tokens)
            let y = Self.fast(w, x, tokens: tokens, kernels: kernels)
            if dtype.isQuantized {
                let same = Self.reference(w, x, tokens: tokens, quantizedActivations: true)
                let ratio = worstRatio(y, same, scale: products, tolerance: Tolerances.quantizedSameActivations)
                #expect(ratio <= 1, "\(dtype.name) \(kernels) tokens \(tokens): vs same activations, worst/allowed = \(ratio)")
                let float = Self.reference(w, x, tokens: tokens)
                let r2 = worstRatio(y, float, scale: bound, tolerance: Tolerances.q8Activation)
                #expect(r2 <= 1, "\(dtype.name) \(kernels) tokens \(tokens): vs float activations, worst/allowed = \(r2)")
            } else {
                let float = Self.reference(w, x, tokens: tokens)
                let ratio = worstRatio(y, float, scale: products, tolerance: Tolerances.floatSum)
                #expect(ratio <= 1, "\(dtype.name) tokens \(tokens): worst/allowed = \(ratio)")
            }
        }
    }

    /// Every row count from 1 to 11 (whole groups of four, leftovers of one to three rows, fewer rows than a
    /// group) through each decode kernel, and the row-subset products the sparse runtime calls (ranges, blocks,
    /// and listed single rows).
    @Test(arguments: [DType.q4_1, .q8_0, .q4_0, .q5_0, .q5_1, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq2_xxs, .iq2_xs, .iq2_s, .iq3_xxs,
                      .iq3_s, .iq1_s, .iq1_m], availableKernels)
    func decodeKernelsHandleAnyRowCountAndSubset(dtype: DType, kernels: DecodeKernels) throws {
        // Three blocks of 32, or two super-blocks of 256.
        let columns = dtype.blockSize == 256 ? 512 : 96
        let w = try Fixtures.matrix(dtype, rows: 11, columns: columns, seed: 21)
        var rng = SplitMix64(seed: 22)
        let x = rng.floats(columns, scale: 2)
        let reference = Self.reference(w, x, tokens: 1, quantizedActivations: true)
        let (products, _) = Self.magnitudes(Fixtures.decoded(w), x, rows: 11, columns: columns, tokens: 1)
        let input = MatMulInput(maxTokens: 1, maxColumns: columns, threads: 2, kernels: kernels)
        let pool = ThreadPool(threads: 2)
        x.withUnsafeBufferPointer { xb in
            input.bind(xb.baseAddress!, tokens: 1, columns: columns)
            for rows in 1...11 {
                var y = [Float](repeating: .nan, count: rows)
                y.withUnsafeMutableBufferPointer { MatMul.multiply(w.rows(0..<rows), input, into: $0.baseAddress!, pool: pool) }
                let ratio = worstRatio(y, Array(reference[0..<rows]), scale: Array(products[0..<rows]),
                                       tolerance: Tolerances.quantizedSameActivations)
                #expect(ratio <= 1, "\(dtype.name) \(kernels) \(rows) rows: worst/allowed = \(ratio)")
            }
            let ranges = [9..<11, 0..<3, 4..<5]
            var byRanges = [Float](repeating: .nan, count: 11)
            ranges.withUnsafeBufferPointer { rb in
                byRanges.withUnsafeMutableBufferPointer { MatMul.multiply(w, input, rowRanges: rb, into: $0.baseAddress!, pool: pool) }
            }
            let blocks = [2, 0]
            var byBlocks = [Float](repeating: .nan, count: 11)
            blocks.withUnsafeBufferPointer { bb in
                byBlocks.withUnsafeMutableBufferPointer {
                    MatMul.multiply(w, input, blocks: bb, blockRows: 3, into: $0.baseAddress!, pool: pool)
                }
            }
            // Single-row blocks take the listed-rows path (groups of four listed rows, in list order): each row
            // bit-identical to the full product's.
            var full = [Float](repeating: .nan, count: 11)
            full.withUnsafeMutableBufferPointer { MatMul.multiply(w, input, into: $0.baseAddress!, pool: pool) }
            // Blocks of a multiple of four rows take the block-group path (each block read as its four quarters,
            // the next groups prefetched): each row bit-identical to the full product's too.
            for (blockRows, selected) in [(4, [1, 0]), (8, [0]), (4, [1])] {
                var grouped = [Float](repeating: .nan, count: 11)
                selected.withUnsafeBufferPointer { bb in
                    grouped.withUnsafeMutableBufferPointer {
                        MatMul.multiply(w, input, blocks: bb, blockRows: blockRows, into: $0.baseAddress!, pool: pool)
                    }
                }
                for r in 0..<11 {
                    if selected.contains(r / blockRows) {
                        #expect(grouped[r] == full[r], "\(dtype.name) \(kernels) blocks of \(blockRows) \(selected): row \(r)")
                    } else {
                        #expect(grouped[r].isNaN, "row \(r) was written")
                    }
                }
            }
            for listed in [[10, 1, 4, 5, 7], [3], [0, 2, 4, 6, 8, 9, 10]] {
                var byRows = [Float](repeating: .nan, count: 11)
                listed.withUnsafeBufferPointer { lb in
                    byRows.withUnsafeMutableBufferPointer {
                        MatMul.multiply(w, input, blocks: lb, blockRows: 1, into: $0.baseAddress!, pool: pool)
                    }
                }
                for r in 0..<11 {
                    if listed.contains(r) {
                        #expect(byRows[r] == full[r], "\(dtype.name) \(kernels) listed row \(r) of \(listed)")
                    } else {
                        #expect(byRows[r].isNaN, "row \(r) was written")
                    }
                }
            }
            for r in 0..<11 {
                let allowed = Tolerances.quantizedSameActivations * products[r]
                if ranges.contains(where: { $0.contains(r) }) {
                    #expect(abs(byRanges[r] - reference[r]) <= allowed, "\(dtype.name) \(kernels) range row \(r)")
                } else {
                    #expect(byRanges[r].isNaN, "row \(r) was written")
                }
                if blocks.contains(r / 3) {
                    #expect(abs(byBlocks[r] - reference[r]) <= allowed, "\(dtype.name) \(kernels) block row \(r)")
                } else {
                    #expect(byBlocks[r].isNaN, "row \(r) was written")
                }
            }
        }
    }

    @Test(arguments: WeightMatrix.supportedTypes)
    func prefillProductMatchesReference(dtype: DType) throws {
        let w = try Fixtures.matrix(dtype, rows: Self.rows + 8, columns: Self.columns, seed: 12)
        let wf = Fixtures.decoded(w)
        for tokens in [8, 21] {
            var rng = SplitMix64(seed: 200 + UInt64(tokens))
            let x = rng.floats(tokens * Self.columns)
            let (products, _) = Self.magnitudes(wf, x, rows: w.rows, columns: Self.columns, tokens: tokens)
            let y = Self.fast(w, x, tokens: tokens)
            // The K-quants multiply 8-bit activations in prefill too, where the C kernels run.
            let eightBit = CRowKernels.multipliesTokens(dtype, .preferred)
            let ratio = worstRatio(y, Self.reference(w, x, tokens: tokens, quantizedActivations: eightBit), scale: products,
                                   tolerance: eightBit ? Tolerances.quantizedSameActivations : Tolerances.dequantizedProduct)
            #expect(ratio <= 1, "\(dtype.name) tokens \(tokens): worst/allowed = \(ratio)")
        }
    }

    /// The multi-token K-quant and grid kernels (prefill) give bit for bit the one-token products of decode: whole
    /// tiles of tokens and a partial one (the grid kernels' tiles of 16 in groups of four tokens, and a last group of
    /// one, two or three; the VNNI panel kernels' tiles of 16 tokens padded with zeros, and more than the 128 tokens
    /// they multiply per decoded super-block), whole groups of four (panels: eight) rows and a partial one.
    @Test(arguments: CRowKernels.multiTokenTypes.sorted { $0.rawValue < $1.rawValue }, availableKernels.filter { $0 != .swift })
    func multiTokenProductsEqualOneTokenProducts(dtype: DType, kernels: DecodeKernels) throws {
        let w = try Fixtures.matrix(dtype, rows: 4 * 9 + 3, columns: Self.columns, seed: 13)
        var counts = dtype.isGridQuantized ? [CRowKernels.gridTokenTile + 2, CRowKernels.gridTokenTile + 5, CRowKernels.gridTokenTile + 11]
                                           : [2 * CRowKernels.tokenTile + 5]
        if CRowKernels.multipliesInPanels(dtype, kernels) { counts.append(8 * 16 + 5) }
        for tokens in counts {
            var rng = SplitMix64(seed: 300)
            let x = rng.floats(tokens * Self.columns, scale: 2)
            let batch = Self.fast(w, x, tokens: tokens, kernels: kernels)
            for t in 0..<tokens {
                let one = Self.fast(w, Array(x[(t * Self.columns)..<((t + 1) * Self.columns)]), tokens: 1, kernels: kernels)
                let row = Array(batch[(t * w.rows)..<((t + 1) * w.rows)])
                #expect(zip(row, one).allSatisfy { $0.bitPattern == $1.bitPattern }, "\(dtype.name) \(kernels) \(tokens) tokens, token \(t): \(zip(row, one).filter { $0 != $1 }.count) outputs differ")
            }
        }
    }

    @Test(arguments: [(DType.q4_1, 1, DecodeKernels.swift), (.q4_1, 1, .preferred), (.q8_0, 2, .preferred), (.q4_1, 9, .preferred),
                      (.f16, 1, .preferred), (.q6_K, 1, .preferred), (.f32, 9, .preferred),
                      (.iq2_xs, 9, .preferred), (.iq1_m, 1, .preferred), (.q2_K, 9, .preferred)])
    func selectedRowsComputeOnlyThemselves(dtype: DType, tokens: Int, kernels: DecodeKernels) throws {
        let w = try Fixtures.matrix(dtype, rows: 64, columns: 256, seed: 3)
        var rng = SplitMix64(seed: 4)
        let x = rng.floats(tokens * 256)
        let input = MatMulInput(maxTokens: 16, maxColumns: 256, threads: 2, kernels: kernels)
        let pool = ThreadPool(threads: 2)
        var full = [Float](repeating: 0, count: tokens * 64)
        var byBlocks = [Float](repeating: .nan, count: tokens * 64), byRanges = byBlocks
        let blocks = [5, 0, 3]
        let ranges = [40..<41, 7..<19, 61..<64]
        x.withUnsafeBufferPointer { xb in
            input.bind(xb.baseAddress!, tokens: tokens, columns: 256)
            full.withUnsafeMutableBufferPointer { MatMul.multiply(w, input, into: $0.baseAddress!, pool: pool) }
            blocks.withUnsafeBufferPointer { bb in
                byBlocks.withUnsafeMutableBufferPointer {
                    MatMul.multiply(w, input, blocks: bb, blockRows: 6, into: $0.baseAddress!, pool: pool)
                }
            }
            ranges.withUnsafeBufferPointer { rb in
                byRanges.withUnsafeMutableBufferPointer {
                    MatMul.multiply(w, input, rowRanges: rb, into: $0.baseAddress!, pool: pool)
                }
            }
        }
        for t in 0..<tokens {
            for r in 0..<64 {
                let i = t * 64 + r
                if blocks.contains(r / 6) && r < 60 {
                    #expect(byBlocks[i] == full[i], "block row \(r) token \(t)")
                } else {
                    #expect(byBlocks[i].isNaN, "row \(r) token \(t) was written")
                }
                if ranges.contains(where: { $0.contains(r) }) {
                    #expect(byRanges[i] == full[i], "range row \(r) token \(t)")
                } else {
                    #expect(byRanges[i].isNaN, "row \(r) token \(t) was written")
                }
            }
        }
    }

    @Test(arguments: [DType.q4_1, .q4_K, .f16])
    func alwaysQuantizingMatchesTheDecodePathForManyTokens(dtype: DType) throws {
        let w = try Fixtures.matrix(dtype, rows: 20, columns: 256, seed: 13)
        var rng = SplitMix64(seed: 14)
        let tokens = 12
        let x = rng.floats(tokens * 256)
        let pool = ThreadPool(threads: 2)
        let many = MatMulInput(maxTokens: tokens, maxColumns: 256, threads: 2, alwaysQuantizeActivations: true)
        let one = MatMulInput(maxTokens: 1, maxColumns: 256, threads: 2)
        var all = [Float](repeating: .nan, count: tokens * 20), single = all
        x.withUnsafeBufferPointer { xb in
            many.bind(xb.baseAddress!, tokens: tokens, columns: 256)
            all.withUnsafeMutableBufferPointer { MatMul.multiply(w, many, into: $0.baseAddress!, pool: pool) }
            single.withUnsafeMutableBufferPointer { yb in
                for t in 0..<tokens {
                    one.bind(xb.baseAddress! + t * 256, tokens: 1, columns: 256)
                    MatMul.multiply(w, one, into: yb.baseAddress! + t * 20, pool: pool)
                }
            }
        }
        #expect(all == single)
    }

    @Test func fusedProductsEqualSeparateOnes() throws {
        let a = try Fixtures.matrix(.q8_0, rows: 40, columns: 256, seed: 5)
        let b = try Fixtures.matrix(.q4_K, rows: 24, columns: 256, seed: 6)
        let c = try Fixtures.matrix(.f16, rows: 7, columns: 256, seed: 7)
        var rng = SplitMix64(seed: 8)
        let x = rng.floats(256)
        let input = MatMulInput(maxTokens: 1, maxColumns: 256, threads: 2)
        let pool = ThreadPool(threads: 2)
        var fused = [Float](repeating: 0, count: 71), separate = fused
        x.withUnsafeBufferPointer { xb in
            input.bind(xb.baseAddress!, tokens: 1, columns: 256)
            fused.withUnsafeMutableBufferPointer { y in
                let p = y.baseAddress!
                MatMul.multiply([MatMulProduct(weights: a, output: p), MatMulProduct(weights: b, output: p + 40),
                                 MatMulProduct(weights: c, output: p + 64)], input, pool: pool)
            }
            separate.withUnsafeMutableBufferPointer { y in
                MatMul.multiply(a, input, into: y.baseAddress!, pool: pool)
                MatMul.multiply(b, input, into: y.baseAddress! + 40, pool: pool)
                MatMul.multiply(c, input, into: y.baseAddress! + 64, pool: pool)
            }
        }
        #expect(fused == separate)
    }

    /// A task run beside a product runs exactly once and leaves the product as it is without one: on one and two threads, for a decoded token and a batch of 16 (prefill).
    @Test(arguments: [(1, 1), (2, 1), (2, 16)])
    func taskBesideAProductRunsOnceAndChangesNothing(threads: Int, tokens: Int) throws {
        let w = try Fixtures.matrix(.f16, rows: 256, columns: 128, seed: 9)
        var rng = SplitMix64(seed: 10)
        let x = rng.floats(tokens * 128)
        let input = MatMulInput(maxTokens: tokens, maxColumns: 128, threads: threads)
        let pool = ThreadPool(threads: threads)
        var alone = [Float](repeating: 0, count: tokens * 256), beside = alone
        var runs = 0
        x.withUnsafeBufferPointer { xb in
            input.bind(xb.baseAddress!, tokens: tokens, columns: 128)
            alone.withUnsafeMutableBufferPointer { MatMul.multiply(w, input, into: $0.baseAddress!, pool: pool) }
            beside.withUnsafeMutableBufferPointer { y in
                MatMul.multiply(w, input, into: y.baseAddress!, pool: pool) { runs += 1 }
            }
        }
        #expect(runs == 1)
        #expect(beside == alone)
    }

    @Test(arguments: WeightMatrix.supportedTypes)
    func fastRowDecodingMatchesReference(dtype: DType) throws {
        let w = try Fixtures.matrix(dtype, rows: 3, columns: Self.columns, seed: 9, scale: 3)
        var fast = [Float](repeating: 0, count: Self.columns), reference = fast
        for r in 0..<w.rows {
            fast.withUnsafeMutableBufferPointer { w.decodeRow(r, into: $0.baseAddress!) }
            reference.withUnsafeMutableBufferPointer { w.decodeRowReference(r, into: $0.baseAddress!) }
            let scale = reference.map { max(abs($0), 1e-3) }
            #expect(worstRatio(fast, reference, scale: scale, tolerance: 1e-6) <= 1, "\(dtype.name) row \(r)")
        }
    }

    @Test func rejectsUnsupportedTypesAndWrongSizes() {
        let buffer = TensorBuffer(count: 24 * 4)
        #expect(throws: SieveKernelsError.self) {
            try WeightMatrix(bytes: UnsafeRawBufferPointer(buffer.bytes), dtype: .i32, rows: 4, columns: 6)
        }
        #expect(throws: SieveKernelsError.self) {
            try WeightMatrix(bytes: UnsafeRawBufferPointer(buffer.bytes), dtype: .f32, rows: 4, columns: 32)
        }
        #expect(throws: SieveKernelsError.self) {
            try WeightMatrix(bytes: UnsafeRawBufferPointer(buffer.bytes), dtype: .q8_0, rows: 1, columns: 48)
        }
    }
}
