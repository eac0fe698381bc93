import CSieveKernels
import SieveCore

/// The right-hand side of the matrix products: `tokens` rows of `columns` floats, and the forms the kernels derive
/// from them on first use — 8-bit blocks for the quantized vector products, token panels for the prefill
/// products. Bind the input once and run every product that reads it (Q, K and V; gate and up): the derived
/// forms are computed once.
///
/// All buffers are allocated up front for `maxTokens × maxColumns` and `threads` threads of per-thread scratch;
/// nothing is allocated per product. Rebind (`bind`) whenever the floats change.
public final class MatMulInput: @unchecked Sendable {
    /// Largest token count `bind` accepts.
    public let maxTokens: Int
    /// Largest column count `bind` accepts.
    public let maxColumns: Int
    /// Largest thread count of a pool used with this input.
    public let threads: Int
    /// Whether every product quantizes the activations to 8 bits, whatever the token count (see `init`).
    public let alwaysQuantizeActivations: Bool
    /// The kernels of the 8-bit-activation products of q8_0, q4_0 and q4_1 (see `DecodeKernels`).
    public let kernels: DecodeKernels
    /// Bound token count.
    public var tokens: Int { binding.pointee.tokens }
    /// Bound column count.
    public var columns: Int { binding.pointee.columns }
    var x: UnsafePointer<Float> { binding.pointee.x }
    var stride: Int { binding.pointee.stride }
    var panelsReady: Bool { binding.pointee.panelsReady }

    /// The bound rows and which derived forms are current. They live behind a pointer, not in stored `var`s, which
    /// Swift checks for exclusive access at run time on every read: about a thousand checks per decoded token.
    private struct Binding {
        var x: UnsafePointer<Float>
        var tokens = 0
        var columns = 0
        var stride = 0
        var q8Ready = false
        var q8KReady = false
        var tokenPanelsReady = false
        var halfReady = false
        var panelsReady = false
        var mixedHalf = CRowKernels.mixedHalfConversionPays
    }
    private let binding: UnsafeMutablePointer<Binding>

    /// Tokens whose f16-kernel scaled copy is kept (decode tokens, or every token with `alwaysQuantizeActivations`).
    private let halfTokens: Int
    private let q8Codes: UnsafeMutablePointer<Int8>
    private let q8Scales: UnsafeMutablePointer<Float>
    private let q8Sums: UnsafeMutablePointer<Float>
    private let q8OffsetSums: UnsafeMutablePointer<Float>
    private let q8CodeSums: UnsafeMutablePointer<Int32>
    private let q8KCodes: UnsafeMutablePointer<Int8>
    private let q8KScales: UnsafeMutablePointer<Float>
    private let q8KSums: UnsafeMutablePointer<Int16>
    /// Prefill tokens in tiles of 16 for the VNNI panel kernels of the grid i-quants, q2_K, q3_K and q6_K
    /// (`sieve_q8K_token_panels`): codes + 128, scales and block sums, behind one pointer for the C kernels.
    let tokenPanels: UnsafeMutablePointer<SieveTokenPanels>
    /// Decode tokens times 2^112 for the C f16 kernels (`sieve_half_scale_activations`), and whether each token's
    /// scaled copy is usable.
    private let halfScaled: UnsafeMutablePointer<Float>
    private let halfUsable: UnsafeMutablePointer<Bool>
    private let maxBlocks: Int
    let panels: UnsafeMutablePointer<Float>
    private let tileFloatsPerThread: Int
    private let tiles: UnsafeMutablePointer<Float>

    /// Allocates buffers for up to `maxTokens` rows of up to `maxColumns` values, used with pools of up to
    /// `threads` threads.
    ///
    /// With `alwaysQuantizeActivations`, quantized weights are multiplied with 8-bit activations for every token
    /// count, as llama.cpp does, instead of switching to float activations from `MatMul.prefillMinimumTokens`
    /// tokens: use it to reproduce llama.cpp's numbers (perplexity); prefill is then several times slower.
    /// `kernels` must be available on this CPU (`DecodeKernels.isAvailable`).
    public init(maxTokens: Int, maxColumns: Int, threads: Int, alwaysQuantizeActivations: Bool = false,
                kernels: DecodeKernels = .preferred) {
        precondition(maxTokens >= 1 && maxColumns >= 1 && threads >= 1, "MatMulInput needs positive sizes")
        precondition(kernels.isAvailable, "the \(kernels.rawValue) kernels need a CPU feature this machine lacks")
        self.kernels = kernels
        self.maxTokens = maxTokens
        self.maxColumns = maxColumns
        self.threads = threads
        self.alwaysQuantizeActivations = alwaysQuantizeActivations
        halfTokens = alwaysQuantizeActivations ? maxTokens : min(maxTokens, MatMul.prefillMinimumTokens - 1)
        maxBlocks = (maxColumns + 31) / 32
        let superBlocks = (maxColumns + 255) / 256
        // Every token, in both 8-bit forms: the prefill products of the K-quants, iq4_xs, the grid i-quants and interleaved matrices
        // multiply 8-bit activations too (`CRowKernels.multipliesTokens`). Pages no product touches cost nothing.
        q8Codes = .allocate(capacity: maxTokens * maxColumns)
        q8Scales = .allocate(capacity: maxTokens * maxBlocks)
        q8Sums = .allocate(capacity: maxTokens * maxBlocks)
        q8OffsetSums = .allocate(capacity: maxTokens * maxBlocks)
        q8CodeSums = .allocate(capacity: maxTokens * maxBlocks)
        q8KCodes = .allocate(capacity: maxTokens * superBlocks * 256)
        q8KScales = .allocate(capacity: maxTokens * superBlocks)
        q8KSums = .allocate(capacity: maxTokens * superBlocks * 16)
        let tokenTiles = maxTokens >= MatMul.prefillMinimumTokens && kernels == .vnni ? (maxTokens + 15) / 16 : 0
        tokenPanels = .allocate(capacity: 1)
        tokenPanels.initialize(to: SieveTokenPanels(codes: .allocate(capacity: max(1, tokenTiles * superBlocks * 4096)),
                                                    scales: .allocate(capacity: max(1, tokenTiles * superBlocks * 16)),
                                                    sums: .allocate(capacity: max(1, tokenTiles * superBlocks * 128))))
        halfScaled = .allocate(capacity: halfTokens * maxColumns)
        halfUsable = .allocate(capacity: halfTokens)
        halfUsable.initialize(repeating: false, count: halfTokens)
        let panelTokens = maxTokens >= MatMul.prefillMinimumTokens && !alwaysQuantizeActivations ? (maxTokens + 15) / 16 * 16 : 0
        panels = .allocate(capacity: max(1, panelTokens * maxColumns))
        tileFloatsPerThread = panelTokens > 0 ? GEMM.tileRows * maxColumns : 0
        tiles = .allocate(capacity: max(1, threads * tileFloatsPerThread))
        binding = .allocate(capacity: 1)
        binding.initialize(to: Binding(x: UnsafePointer(tiles)))
    }

    deinit {
        q8Codes.deallocate(); q8Scales.deallocate(); q8Sums.deallocate(); q8OffsetSums.deallocate(); q8CodeSums.deallocate()
        q8KCodes.deallocate(); q8KScales.deallocate(); q8KSums.deallocate()
        tokenPanels.pointee.codes.deallocate(); tokenPanels.pointee.scales.deallocate(); tokenPanels.pointee.sums.deallocate()
        tokenPanels.deallocate()
        halfScaled.deallocate(); halfUsable.deallocate()
        panels.deallocate(); tiles.deallocate()
        binding.deallocate()
    }

    /// Binds `tokens` rows of `columns` floats at `x` (row `t` at `x + t·rowStride`, default `columns`).
    /// The memory must stay valid and unchanged until the products that read it have returned.
    public func bind(_ x: UnsafePointer<Float>, tokens: Int, columns: Int, rowStride: Int? = nil) {
        precondition(tokens >= 1 && tokens <= maxTokens, "bound \(tokens) tokens, MatMulInput holds 1…\(maxTokens)")
        precondition(columns >= 1 && columns <= maxColumns, "bound \(columns) columns, MatMulInput holds 1…\(maxColumns)")
        binding.pointee = Binding(x: x, tokens: tokens, columns: columns, stride: rowStride ?? columns, mixedHalf: binding.pointee.mixedHalf)
    }

    /// Whether the C f16 decode kernels convert half of each row's values with integer instructions, against the
    /// activations scaled by 2^112, beside `vcvtph2ps` (same sums either way). That is faster when the weights come
    /// from the caches, where the conversion bounds a product (docs-opt-relu: 10.9 MB per token, 16 MiB L3), and
    /// slower when they stream from memory (an f16 SmolLM2: 129–134 against 136–145 tokens/s), where the extra
    /// instructions keep fewer loads in flight, and on CPUs whose `vcvtph2ps` is fast (Zen 4). Default: whether it
    /// pays on this CPU (`CRowKernels.mixedHalfConversionPays`); a `Model` also asks that its weights stay in the
    /// last-level cache. (A transposed down's f16 rows, `TransposedMatMul`, convert this way wherever it pays on the
    /// CPU: a selection's rows are prefetched, and its activations are scaled row by row.)
    public var mixedHalfConversion: Bool {
        get { binding.pointee.mixedHalf }
        set { binding.pointee.mixedHalf = newValue; binding.pointee.halfReady = false }
    }

    /// Whether the mixed f16 conversion is the faster one on this CPU (measured once per process; see
    /// `mixedHalfConversion`).
    public static var mixedHalfConversionPays: Bool { CRowKernels.mixedHalfConversionPays }

    /// Token `t`'s floats.
    @inline(__always)
    func row(_ t: Int) -> UnsafePointer<Float> { x + t * stride }

    /// Thread `thread`'s buffer for a decoded weight tile (prefill).
    @inline(__always)
    func tile(_ thread: Int) -> UnsafeMutablePointer<Float> { tiles + thread * tileFloatsPerThread }

    /// Token `t` in 8-bit blocks of 32 (valid after `prepareQ8`).
    @inline(__always)
    func q8(_ t: Int) -> Q8Activation {
        Q8Activation(qs: q8Codes + t * maxColumns, d: q8Scales + t * maxBlocks, s: q8Sums + t * maxBlocks,
                     offsetSum: q8OffsetSums + t * maxBlocks, codeSum: q8CodeSums + t * maxBlocks, blocks: columns / 32)
    }

    /// Token `t` in 8-bit super-blocks of 256 (valid after `prepareQ8K`). The bound tokens are back to back, as
    /// the multi-token kernels read them: token `t`'s codes start `256·blocks` after token `t − 1`'s.
    @inline(__always)
    func q8K(_ t: Int) -> Q8KActivation {
        let blocks = columns / 256
        return Q8KActivation(qs: q8KCodes + t * 256 * blocks, d: q8KScales + t * blocks, bsums: q8KSums + t * 16 * blocks, blocks: blocks)
    }

    /// Distance between consecutive tokens' q8 codes, and between their block values (`q8(t)`).
    var q8CodeStride: Int { maxColumns }
    var q8BlockStride: Int { maxBlocks }

    func prepareQ8() {
        if binding.pointee.q8Ready { return }
        for t in 0..<tokens { q8(t).quantize(row(t)) }
        binding.pointee.q8Ready = true
    }

    /// Token `t` times 2^112 for the C f16 kernels, or nil when a value is too large for that (valid after
    /// `prepareHalf`).
    @inline(__always)
    func halfScaledRow(_ t: Int) -> UnsafePointer<Float>? { t < halfTokens && halfUsable[t] ? UnsafePointer(halfScaled + t * maxColumns) : nil }

    func prepareHalf() {
        if binding.pointee.halfReady { return }
        let mixed = binding.pointee.mixedHalf
        for t in 0..<min(tokens, halfTokens) {
            halfUsable[t] = mixed && sieve_half_scale_activations(row(t), columns, halfScaled + t * maxColumns) != 0
        }
        binding.pointee.halfReady = true
    }

    func prepareQ8K() {
        if binding.pointee.q8KReady { return }
        for t in 0..<tokens { q8K(t).quantize(row(t)) }
        binding.pointee.q8KReady = true
    }

    /// The q8_K tokens in the tiles of the VNNI panel kernels (after `prepareQ8K`).
    func prepareTokenPanels() {
        if binding.pointee.tokenPanelsReady { return }
        precondition(kernels == .vnni && tokens >= MatMul.prefillMinimumTokens, "token panels are for VNNI prefill")
        #if arch(x86_64)
        sieve_q8K_token_panels(q8KCodes, q8KScales, q8KSums, Int32(tokens), Int32(columns / 256), tokenPanels)
        #endif
        binding.pointee.tokenPanelsReady = true
    }

    func preparePanels(_ pool: ThreadPool) {
        if panelsReady { return }
        let count = (tokens + GEMM.panelWidth - 1) / GEMM.panelWidth
        pool.parallelFor(count) { range, _ in
            for p in range { GEMM.pack(self.x, tokens: self.tokens, columns: self.columns, stride: self.stride, panel: p, into: self.panels) }
        }
        binding.pointee.panelsReady = true
    }
}

/// One product of a fused group (`MatMul.multiply(_:_:pool:)`): a weight matrix and where its outputs go.
public struct MatMulProduct: @unchecked Sendable {
    /// The weights `[rows, columns]`.
    public let weights: WeightMatrix
    /// Output: token `t`, row `r` at `output[t·outputStride + r]`.
    public let output: UnsafeMutablePointer<Float>
    /// Distance between consecutive tokens' outputs (at least `weights.rows`).
    public let outputStride: Int
    /// The product's own right-hand side, when it differs from the group's (e.g. a sparsity predictor reading the
    /// raw residual stream, computed in the same parallel region as the Q/K/V products of the normed one).
    public let input: MatMulInput?
    /// `input`, for the kernels to use without retaining it (`input` keeps it alive).
    let inputReference: Unmanaged<MatMulInput>?

    /// A product writing rows contiguously per token (`outputStride` defaults to `weights.rows`).
    public init(weights: WeightMatrix, output: UnsafeMutablePointer<Float>, outputStride: Int? = nil, input: MatMulInput? = nil) {
        self.weights = weights
        self.output = output
        self.outputStride = outputStride ?? weights.rows
        self.input = input
        inputReference = input.map { Unmanaged.passUnretained($0) }
    }

    /// Calls `body` with the input of `product` (its own, or `group` if it has none), retaining neither: reading
    /// through the pointer copies no product.
    @inline(__always)
    static func withInput<R>(of product: UnsafePointer<MatMulProduct>, _ group: MatMulInput, _ body: (MatMulInput) -> R) -> R {
        (product.pointee.inputReference ?? Unmanaged.passUnretained(group))._withUnsafeGuaranteedRef(body)
    }
}

/// Matrix products `y = W·x` for every weight type, split across rows on a `ThreadPool`.
///
/// With fewer than `prefillMinimumTokens` tokens (decode) the quantized types multiply their blocks with 8-bit
/// activations (`Tolerances.q8Activation`, as llama.cpp does) and the float types multiply in float; with more
/// (prefill) the weights are decoded to float a tile at a time and multiplied with the float activations
/// (`Tolerances.dequantizedProduct`), unless the input was created with `alwaysQuantizeActivations`, or the C kernels
/// multiply the weights several tokens at a time with 8-bit activations, 1.2–3× faster than f32: the K-quants,
/// iq4_xs and the grid i-quants (`CRowKernels.multiTokenTypes`) and the interleaved q4_0, q4_1, q5_0, q5_1, q8_0, iq4_nl, iq4_xs, q4_K and q5_K matrices
/// (`InterleavedQ4.multipliesTokens`). The 8-bit products run in the C kernels (VNNI or AVX2) or in Swift, as the
/// input's `kernels` says.
public enum MatMul {
    /// Token count from which products use the prefill (matrix-matrix) path.
    public static let prefillMinimumTokens = 8

    /// `y[t·outputStride + r] = Σ_c W[r, c]·x[t, c]` for every row `r` and bound token `t`.
    public static func multiply(_ w: WeightMatrix, _ input: MatMulInput, into y: UnsafeMutablePointer<Float>,
                                outputStride: Int? = nil, pool: ThreadPool) {
        withUnsafeTemporaryAllocation(of: MatMulProduct.self, capacity: 1) { products in
            products.initializeElement(at: 0, to: MatMulProduct(weights: w, output: y, outputStride: outputStride))
            run(UnsafeBufferPointer(products), input, rows: .all, pool: pool)
            products.deinitialize()
        }
    }

    /// `multiply(w, input, into: y, pool:)` with `task` run once in the same parallel region, by the thread that
    /// takes the region's first chunk, while the other threads share the rows: serial work that does not depend on
    /// the product (a predictor's scores and selection) then runs beside it. `task` must not use `pool`.
    public static func multiply(_ w: WeightMatrix, _ input: MatMulInput, into y: UnsafeMutablePointer<Float>, pool: ThreadPool,
                                alongside task: () -> Void) {
        withUnsafeTemporaryAllocation(of: MatMulProduct.self, capacity: 1) { products in
            products.initializeElement(at: 0, to: MatMulProduct(weights: w, output: y))
            run(UnsafeBufferPointer(products), input, rows: .all, pool: pool, task: task, taskUnits: 1)
            products.deinitialize()
        }
    }

    /// Several products of the same input in one parallel region (fewer fork/joins, better balance).
    public static func multiply(_ products: [MatMulProduct], _ input: MatMulInput, pool: ThreadPool) {
        products.withUnsafeBufferPointer { run($0, input, rows: .all, pool: pool) }
    }

    /// The same for products made per call (in a temporary allocation, so that a hot loop allocates nothing).
    public static func multiply(_ products: UnsafeBufferPointer<MatMulProduct>, _ input: MatMulInput, pool: ThreadPool) {
        run(products, input, rows: .all, pool: pool)
    }

    /// Several products of the same input, each only for the rows of the selected blocks (fused gate and up of a
    /// sparse feed-forward layer); see `multiply(_:_:blocks:blockRows:into:outputStride:pool:)`.
    public static func multiply(_ products: [MatMulProduct], _ input: MatMulInput, blocks: UnsafeBufferPointer<Int>, blockRows: Int,
                                pool: ThreadPool) {
        precondition(blockRows >= 1, "blockRows must be positive")
        for p in products {
            for b in blocks { precondition(b >= 0 && (b + 1) * blockRows <= p.weights.rows, "block \(b) of \(blockRows) rows outside \(p.weights.rows) rows") }
        }
        products.withUnsafeBufferPointer { run($0, input, rows: .blocks(blocks, blockRows), pool: pool) }
    }

    /// Only the rows of the selected blocks: rows `b·blockRows ..< (b+1)·blockRows` for each `b` in `blocks`,
    /// written at their own row index (`y[t·outputStride + r]`); other outputs are left untouched. For blocked
    /// FFNs and selected attention heads. Results are bit-identical to the same rows of a full product.
    public static func multiply(_ w: WeightMatrix, _ input: MatMulInput, blocks: UnsafeBufferPointer<Int>, blockRows: Int,
                                into y: UnsafeMutablePointer<Float>, outputStride: Int? = nil, pool: ThreadPool) {
        precondition(blockRows >= 1, "blockRows must be positive")
        for b in blocks { precondition(b >= 0 && (b + 1) * blockRows <= w.rows, "block \(b) of \(blockRows) rows outside \(w.rows) rows") }
        withUnsafeTemporaryAllocation(of: MatMulProduct.self, capacity: 1) { products in
            products.initializeElement(at: 0, to: MatMulProduct(weights: w, output: y, outputStride: outputStride))
            run(UnsafeBufferPointer(products), input, rows: .blocks(blocks, blockRows), pool: pool)
            products.deinitialize()
        }
    }

    /// Only the rows in `ranges` (any order, not overlapping), written at their own row index; other outputs are
    /// left untouched. Results are bit-identical to the same rows of a full product.
    public static func multiply(_ w: WeightMatrix, _ input: MatMulInput, rowRanges ranges: UnsafeBufferPointer<Range<Int>>,
                                into y: UnsafeMutablePointer<Float>, outputStride: Int? = nil, pool: ThreadPool) {
        for r in ranges { precondition(r.lowerBound >= 0 && r.upperBound <= w.rows, "rows \(r) outside \(w.rows) rows") }
        withUnsafeTemporaryAllocation(of: MatMulProduct.self, capacity: 1) { products in
            products.initializeElement(at: 0, to: MatMulProduct(weights: w, output: y, outputStride: outputStride))
            run(UnsafeBufferPointer(products), input, rows: .ranges(ranges), pool: pool)
            products.deinitialize()
        }
    }

    /// Which rows of each product to compute.
    enum RowSelection {
        case all
        case blocks(UnsafeBufferPointer<Int>, Int)
        case ranges(UnsafeBufferPointer<Range<Int>>)

        /// Units of `unit` rows (a range's last unit may be shorter).
        @inline(__always)
        func unitCount(rows: Int, unit: Int) -> Int {
            switch self {
            case .all: return (rows + unit - 1) / unit
            case let .blocks(blocks, 1): return (blocks.count + unit - 1) / unit
            case let .blocks(blocks, blockRows): return blocks.count * ((blockRows + unit - 1) / unit)
            case let .ranges(ranges):
                var n = 0
                for r in ranges { n += (r.count + unit - 1) / unit }
                return n
            }
        }

        /// Calls `body` with the rows of units `units`: contiguous ranges, or, for blocks of one row, positions in
        /// the block list, or, decoding blocks of a multiple of 4 rows, their groups (prefetched ahead).
        @inline(__always)
        func forEachRows(units: Range<Int>, rows: Int, unit: Int, decode: Bool, _ body: (DecodeRows) -> Void) {
            switch self {
            case .all:
                body(DecodeRows((units.lowerBound * unit)..<min(rows, units.upperBound * unit)))
            case let .blocks(blocks, 1):
                body(DecodeRows(list: blocks.baseAddress!, positions: (units.lowerBound * unit)..<min(blocks.count, units.upperBound * unit)))
            case let .blocks(blocks, blockRows) where decode && unit == 4 && blockRows % 4 == 0:
                body(DecodeRows(blocks: blocks.baseAddress!, blockRows: blockRows, groups: units))
            case let .blocks(blocks, blockRows):
                let perBlock = (blockRows + unit - 1) / unit
                var u = units.lowerBound
                while u < units.upperBound {
                    let b = u / perBlock
                    let last = min(units.upperBound, (b + 1) * perBlock)
                    let blockStart = blocks[b] * blockRows
                    body(DecodeRows((blockStart + (u - b * perBlock) * unit)..<min(blockStart + blockRows, blockStart + (last - b * perBlock) * unit)))
                    u = last
                }
            case let .ranges(ranges):
                var first = 0
                for r in ranges {
                    let n = (r.count + unit - 1) / unit
                    let lo = max(units.lowerBound, first), hi = min(units.upperBound, first + n)
                    if lo < hi {
                        body(DecodeRows((r.lowerBound + (lo - first) * unit)..<min(r.upperBound, r.lowerBound + (hi - first) * unit)))
                    }
                    first += n
                    if first >= units.upperBound { return }
                }
            }
        }
    }

    /// Whether products of `input` take the prefill (matrix-matrix) path.
    @inline(__always)
    private static func isPrefill(_ input: MatMulInput) -> Bool {
        input.tokens >= prefillMinimumTokens && !input.alwaysQuantizeActivations
    }

    /// Rows handled together by a unit of work: a group of an interleaved matrix (16 rows), else a decode kernel's
    /// group (4 rows) or a prefill tile.
    @inline(__always)
    private static func unitRows(prefill: Bool, _ w: WeightLayout) -> Int { w.interleaved ? 16 : prefill ? GEMM.tileRows : 4 }

    private static func run(_ products: UnsafeBufferPointer<MatMulProduct>, _ input: MatMulInput, rows selection: RowSelection,
                            pool: ThreadPool, task: () -> Void = {}, taskUnits: Int = 0) {
        precondition(pool.threadCount <= input.threads, "the pool has \(pool.threadCount) threads, the MatMulInput was sized for \(input.threads)")
        let prefill = isPrefill(input)
        // Products are read in place (their fields, not copies): a copy of a product retains its weights' owner and
        // its input, atomics that both threads would otherwise hit on every chunk of every region.
        for i in products.indices {
            let w = products[i].weights.layout, outputStride = products[i].outputStride
            MatMulProduct.withInput(of: products.baseAddress! + i, input) { own in
                precondition(w.columns == own.columns, "\(products[i].weights.name) has \(w.columns) columns, the input \(own.columns)")
                precondition(outputStride >= w.rows || own.tokens == 1, "output stride \(outputStride) < \(w.rows) rows")
                precondition(isPrefill(own) == prefill, "the products of one region must all be prefill or all decode")
                if prefill && CRowKernels.multipliesTokens(w.dtype, own.kernels) {
                    own.prepareQ8K()
                    if CRowKernels.multipliesInPanels(w.dtype, own.kernels) { own.prepareTokenPanels() }
                } else if prefill && InterleavedQ4.multipliesTokens(w, own.kernels) {
                    own.prepareQ8()
                } else if prefill {
                    own.preparePanels(pool)
                } else {
                    prepareDecode(w.dtype, own)
                }
            }
        }
        // Units: row groups of each product in turn.
        var total = 0
        for i in products.indices {
            let w = products[i].weights.layout
            total += selection.unitCount(rows: w.rows, unit: unitRows(prefill: prefill, w))
        }
        // With a task, unit 0 is the task and the rows' units follow. A decode product streams its weights from
        // memory, in long row streams: one chunk per thread (two chunks per thread, and four before that, cut the
        // streams shorter). On a 2-core Zen 2 EPYC, four chunks per thread to two took SmolLM2 Q4_1 from
        // 171.1/166.5/173.9 to 192.1/179.4/189.9 tokens/s and docs-opt-relu from 2408 to 2753; two to one took SmolLM2
        // from 204.5/215.0/209.8 to 217.6/222.1/224.0 and docs-opt-relu's dense decode from 3316/3346/3047 to
        // 3359/3420/3289 (alternating runs). A region with a task keeps two per thread, so the thread that takes the
        // task takes a quarter of the rows with it rather than half (docs-opt-relu's schedule, where the task is a
        // predictor's scores and selection: 3885/4030/3910 tokens/s with two, 3784/3731/3649 with one). Prefill tiles
        // keep four, to balance compute.
        pool.parallelFor(total + taskUnits, chunksPerThread: prefill ? 4 : taskUnits > 0 ? 2 : 1) { range, thread in
            var u = range.lowerBound, end = range.upperBound
            if taskUnits > 0 {
                if u == 0 {
                    task()
                    u = 1
                }
                u -= 1
                end -= 1
            }
            var productIndex = 0
            var base = 0
            while u < end {
                var unit = unitRows(prefill: prefill, products[productIndex].weights.layout)
                var count = selection.unitCount(rows: products[productIndex].weights.layout.rows, unit: unit)
                while u >= base + count {
                    base += count
                    productIndex += 1
                    unit = unitRows(prefill: prefill, products[productIndex].weights.layout)
                    count = selection.unitCount(rows: products[productIndex].weights.layout.rows, unit: unit)
                }
                let last = min(end, base + count)
                let p = products.baseAddress! + productIndex
                selection.forEachRows(units: (u - base)..<(last - base), rows: p.pointee.weights.layout.rows, unit: unit, decode: !prefill) { rows in
                    compute(p, rows: rows, input: input, prefill: prefill, thread: thread)
                }
                u = last
            }
        }
    }

    /// Derives the 8-bit forms of `input` that decode products with weights of `dtype` read.
    static func prepareDecode(_ dtype: DType, _ input: MatMulInput) {
        switch dtype {
        case .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .iq4_nl, .mxfp4: input.prepareQ8()
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_xs: input.prepareQ8K()
        case _ where dtype.isGridQuantized: input.prepareQ8K()
        case .f16 where input.kernels != .swift && CRowKernels.decodesInC(.f16): input.prepareHalf()
        default: break
        }
    }

    /// Rows `rows` of product `p` (inputs prepared).
    static func compute(_ product: UnsafePointer<MatMulProduct>, rows: DecodeRows, input group: MatMulInput, prefill: Bool, thread: Int) {
        let w = product.pointee.weights.layout, output = product.pointee.output, outputStride = product.pointee.outputStride
        MatMulProduct.withInput(of: product, group) { input in
            compute(w, output: output, outputStride: outputStride, rows: rows, input: input, prefill: prefill, thread: thread)
        }
    }

    /// Rows `rows` of `w` times `input` into `output` (inputs prepared).
    static func compute(_ w: WeightLayout, output: UnsafeMutablePointer<Float>, outputStride: Int, rows: DecodeRows,
                        input: MatMulInput, prefill: Bool, thread: Int) {
        if w.interleaved && (!prefill || InterleavedQ4.multipliesTokens(w, input.kernels)) {
            return InterleavedQ4.rows(w, output: output, outputStride: outputStride, rows: rows, input: input, thread: thread)
        }
        if prefill && CRowKernels.multipliesTokens(w.dtype, input.kernels) {
            rows.forEachRange { CRowKernels.superBlockTokenRows(w, $0, input, output, outputStride: outputStride) }
            return
        }
        if prefill {
            rows.forEachRange { range in
                GEMM.rows(w, range, panels: input.panels, tokens: input.tokens, output, outputStride: outputStride,
                          scratch: input.tile(thread))
            }
            return
        }
        let inC = input.kernels != .swift && CRowKernels.decodesInC(w.dtype)
        for t in 0..<input.tokens {
            let y = output + t * outputStride
            if inC {
                if w.dtype == .f16 {
                    CRowKernels.halfRows(w, rows, input.row(t), input.halfScaledRow(t), y)
                } else if w.dtype.blockSize == 256 {
                    CRowKernels.superBlockRows(w, rows, input.q8K(t), y, kernels: input.kernels)
                } else {
                    CRowKernels.rows(w, rows, input.q8(t), y, kernels: input.kernels)
                }
                continue
            }
            switch w.dtype {
            case .f32: FloatGEMV.rows(F32Row.self, w, rows, input.row(t), y)
            case .f16: FloatGEMV.rows(F16Row.self, w, rows, input.row(t), y)
            case .bf16: FloatGEMV.rows(BF16Row.self, w, rows, input.row(t), y)
            case .q8_0: QuantizedGEMV.rows(Q8_0Dot.self, w, rows, input.q8(t), y)
            case .q4_0: QuantizedGEMV.rows(Q4_0Dot.self, w, rows, input.q8(t), y)
            case .q4_1: QuantizedGEMV.rows(Q4_1Dot.self, w, rows, input.q8(t), y)
            case .q5_0: QuantizedGEMV.rows(Q5_0Dot.self, w, rows, input.q8(t), y)
            case .q5_1: QuantizedGEMV.rows(Q5_1Dot.self, w, rows, input.q8(t), y)
            case .q2_K: KQuant.q2KRows(w, rows, input.q8K(t), y)
            case .q3_K: KQuant.q3KRows(w, rows, input.q8K(t), y)
            case .q4_K: KQuant.q4KRows(w, rows, input.q8K(t), y)
            case .q5_K: KQuant.q5KRows(w, rows, input.q8K(t), y)
            case .q6_K: KQuant.q6KRows(w, rows, input.q8K(t), y)
            case .iq4_nl: QuantizedGEMV.rows(IQ4NLDot.self, w, rows, input.q8(t), y)
            case .mxfp4: QuantizedGEMV.rows(MXFP4Dot.self, w, rows, input.q8(t), y)
            case .iq4_xs: KQuant.iq4XSRows(w, rows, input.q8K(t), y)
            case _ where w.dtype.isGridQuantized: GridQuant.rows(w, rows, input.q8K(t), y)
            default: preconditionFailure("WeightMatrix admits no \(w.dtype.name)")
            }
        }
    }
}
