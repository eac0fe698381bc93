/// One token's feed-forward layer over the selected neuron blocks of a blocked layout, in a single parallel region:
/// each chunk of selected blocks computes its gate/up rows, bias and activation, then adds its transposed down
/// rows into a partial output of its own; the partials are summed in chunk order after the region.
///
/// Against three steps (gate/up rows in one region, activation on the calling thread, down rows in another) this
/// saves a fork/join and a serial step per layer, and a chunk reads its up row and its down row while both are
/// hot. Chunks depend only on the selection, not on the thread count, so results do not depend on the thread
/// count either. `reference` composes the plain references.
public enum SparseFeedForward {
    /// The weights of one blocked feed-forward layer.
    public struct Layer {
        /// How gate and up are stored.
        public enum GateUp {
            /// `[ff, d]` up rows and, for gated layers, `[ff, d]` gate rows.
            case separate(gate: WeightMatrix?, up: WeightMatrix)
            /// Gate and up in one `[2·ff, d]` matrix, block by block (`WeightMatrix.interleavedBlocks`): one stream
            /// per selected block (gated layers only).
            case fused(WeightMatrix)
        }

        /// Gate and up rows.
        public let gateUp: GateUp
        /// `[ff, d]`: the down projection transposed (row `n` is neuron `n`'s output column).
        public let down: WeightMatrix
        /// `[ff]` bias of the gate (gated layers with a gate bias).
        public let gateBias: UnsafePointer<Float>?
        /// `[ff]` bias of up, if any.
        public let upBias: UnsafePointer<Float>?
        /// The activation (`f(gate)·up` for gated layers, `f(up)` otherwise).
        public let function: Activations.Function
        /// Neurons per block.
        public let blockRows: Int
        /// Neurons (FFN width).
        public let neurons: Int
        /// Values of the input.
        let inputs: Int
        /// Bytes of gate and up rows one neuron reads.
        let neuronBytes: Int
        /// Whether the activation is `f(gate)·up`.
        let gated: Bool
        /// What the kernel reads, without reference counting (the matrices above keep the bytes alive): the fused
        /// matrix, or up and gate.
        let fused: WeightLayout?
        let up: WeightLayout?
        let gate: WeightLayout?

        /// A layer from its gate (gated layers) and up matrices (one row per neuron each), biases, activation and
        /// block size; the bias pointers must stay valid while the layer is used.
        public init(gate: WeightMatrix?, up: WeightMatrix, down: WeightMatrix, gateBias: UnsafePointer<Float>?,
                    upBias: UnsafePointer<Float>?, function: Activations.Function, blockRows: Int) {
            precondition(gate.map { $0.rows == up.rows && $0.columns == up.columns } ?? true, "gate and up must have the same shape")
            self.init(gateUp: .separate(gate: gate, up: up), down: down, gateBias: gateBias, upBias: upBias, function: function,
                      blockRows: blockRows)
        }

        /// A gated layer whose gate and up are fused block by block in `gateUp` (`WeightMatrix.interleavedBlocks`,
        /// blocks of a multiple of 4 rows).
        public init(gateUp: WeightMatrix, down: WeightMatrix, gateBias: UnsafePointer<Float>?, upBias: UnsafePointer<Float>?,
                    function: Activations.Function, blockRows: Int) {
            precondition(gateUp.rows % 2 == 0 && blockRows % 4 == 0,
                         "a fused gate/up matrix has a gate's and an up's rows per neuron, in blocks of a multiple of 4")
            self.init(gateUp: .fused(gateUp), down: down, gateBias: gateBias, upBias: upBias, function: function, blockRows: blockRows)
        }

        private init(gateUp: GateUp, down: WeightMatrix, gateBias: UnsafePointer<Float>?, upBias: UnsafePointer<Float>?,
                     function: Activations.Function, blockRows: Int) {
            self.gateUp = gateUp
            self.down = down
            self.gateBias = gateBias
            self.upBias = upBias
            self.function = function
            self.blockRows = blockRows
            switch gateUp {
            case let .separate(gate, up):
                (neurons, inputs, gated) = (up.rows, up.columns, gate != nil)
                (fused, self.up, self.gate) = (nil, up.layout, gate?.layout)
                neuronBytes = up.rowBytes + (gate?.rowBytes ?? 0)
            case let .fused(m):
                (neurons, inputs, gated) = (m.rows / 2, m.columns, true)
                (fused, self.up, self.gate) = (m.layout, nil, nil)
                neuronBytes = 2 * m.rowBytes
            }
            precondition(blockRows >= 1 && neurons % blockRows == 0, "\(neurons) neurons are not whole blocks of \(blockRows)")
            precondition(down.rows == neurons, "the transposed down must have one row per neuron")
        }

        var outputs: Int { down.columns }
    }

    /// Most chunks a selection is split into (each holds a partial output).
    public static let maxChunks = 8
    /// Selected neurons per pair of chunks: a selection is split into an even number of chunks of equal size (up to
    /// `maxChunks`), two per 512 neurons, so that two threads share it evenly in long row streams. On docs-opt-relu
    /// (2 Zen 2 cores, profiled decode runs alternating in one slow spell), block 0's 512 neurons took 28.6–29.3 µs
    /// per token in 8 chunks, 25.8–28.1 in 4 and 23.6–25.1 in 2; layers of 102 and 154 neurons in chunks of 32 cut
    /// from the front (32 + 32 + 32 + 6, 4 × 32 + 26) 5.6–6.3 and 7.8–8.6 µs in a faster spell, in two equal
    /// halves 4.8–5.6 and 7.0–8.3 µs.
    static let neuronsPerChunkPair = 512
    /// Gate/up bytes below which a selection is one chunk, run on the calling thread without a parallel region: a
    /// region's fork/join and the partial output crossing cores cost more than the second thread saves on a few
    /// rows. docs-opt-relu's schedule (f16 rows of 512 bytes; 51 neurons in blocks 1–3, 102 in block 4, 154 in
    /// block 5) decoded 3714/3733/3776/3789 tokens/s in two chunks everywhere, 3820/3745/3934/3920 with blocks 1–3
    /// (26 KB) in one, 3839/3843/3834/3843 with blocks 1–4 (52 KB) and 3863/3824/3871/3854 with all five (79 KB),
    /// alternating runs; one chunk of 256 neurons (131 KB) was 1–5% slower than two.
    static let singleChunkBytes = 64 << 10

    /// The chunks a selection of `count` blocks of `blockRows` neurons, each reading `neuronBytes` of gate/up rows,
    /// is split into: one below `singleChunkBytes` (or for a single block), else an even number, independent of
    /// the thread count.
    static func chunkCount(blocks count: Int, blockRows: Int, neuronBytes: Int) -> Int {
        if count * blockRows * neuronBytes < singleChunkBytes { return 1 }
        let pairs = (count * blockRows + neuronsPerChunkPair - 1) / neuronsPerChunkPair
        return max(1, min(count, maxChunks, 2 * pairs))
    }

    /// Floats of scratch `multiply` needs for `outputs` outputs on `threads` threads.
    public static func scratchFloats(outputs: Int, threads: Int) -> Int { maxChunks * outputs + threads * (outputs + 32) }

    /// `y[0..<d] = Σ_{n ∈ selected rows} a[n] · down[n, :]` with `a[n] = f(gate[n]·x + gb[n]) · (up[n]·x + ub[n])`
    /// (gated) or `f(up[n]·x + ub[n])`, for the rows of `blocks` (ascending block indices). `input` is bound to the
    /// token. The selected entries of `activations` (and `gateOutput` for gated layers, each `ff` floats; with
    /// `gateUp`, `2·ff` floats receiving both products block by block) receive `a` (and the products); the others
    /// are left as they were.
    public static func multiply(_ layer: Layer, _ input: MatMulInput, blocks: UnsafeBufferPointer<Int>,
                                gateOutput: UnsafeMutablePointer<Float>?, activations: UnsafeMutablePointer<Float>,
                                into y: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, scratchCount: Int,
                                pool: ThreadPool) {
        let d = layer.outputs
        precondition(input.tokens == 1 && input.columns == layer.inputs, "SparseFeedForward multiplies one token of \(layer.inputs) values")
        precondition(!layer.gated || gateOutput != nil, "a gated layer needs a gate output buffer")
        precondition(scratchCount >= scratchFloats(outputs: d, threads: pool.threadCount), "scratch too small for \(d) outputs and \(pool.threadCount) threads")
        for b in blocks { precondition(b >= 0 && (b + 1) * layer.blockRows <= layer.neurons, "block \(b) of \(layer.blockRows) rows outside \(layer.neurons) rows") }
        guard !blocks.isEmpty else {
            y.update(repeating: 0, count: d)
            return
        }
        if let fused = layer.fused { MatMul.prepareDecode(fused.dtype, input) }
        if let gate = layer.gate { MatMul.prepareDecode(gate.dtype, input) }
        if let up = layer.up { MatMul.prepareDecode(up.dtype, input) }
        let chunks = chunkCount(blocks: blocks.count, blockRows: layer.blockRows, neuronBytes: layer.neuronBytes)
        // Chunk c holds blocks c·n/chunks ..< (c+1)·n/chunks: sizes differ by one at most.
        let n = blocks.count
        let threadScratch = scratch + maxChunks * d
        pool.parallelChunks(chunks, chunk: 1) { range, thread in
            for c in range {
                let selection = (c * n / chunks)..<((c + 1) * n / chunks)
                chunk(layer, input, blocks: UnsafeBufferPointer(rebasing: blocks[selection]), gateOutput: gateOutput,
                      activations: activations, into: c == 0 ? y : scratch + c * d, scratch: threadScratch + thread * (d + 32),
                      thread: thread)
            }
        }
        for c in 1..<max(1, chunks) { Activations.add(scratch + c * d, into: y, count: d) }
    }

    /// One chunk: its rows' activations, then their down rows into `out` (overwritten).
    @inline(__always)
    private static func chunk(_ layer: Layer, _ input: MatMulInput, blocks: UnsafeBufferPointer<Int>,
                              gateOutput: UnsafeMutablePointer<Float>?, activations: UnsafeMutablePointer<Float>,
                              into out: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, thread: Int) {
        let b = layer.blockRows
        func forEachRows(_ body: (DecodeRows) -> Void) {
            if b == 1 {
                body(DecodeRows(list: blocks.baseAddress!, positions: 0..<blocks.count))
            } else if b % 4 == 0 {
                body(DecodeRows(blocks: blocks.baseAddress!, blockRows: b, groups: 0..<(blocks.count * b / 4)))
            } else {
                for block in blocks { body(DecodeRows((block * b)..<((block + 1) * b))) }
            }
        }
        if let fused = layer.fused {
            // Both products of each block from one stream, then the activations from them.
            let products = gateOutput!
            MatMul.compute(fused, output: products, outputStride: fused.rows,
                           rows: DecodeRows(blocks: blocks.baseAddress!, blockRows: 2 * b, groups: 0..<(blocks.count * 2 * b / 4)),
                           input: input, prefill: false, thread: thread)
            for block in blocks {
                activateFusedBlock(block, blockRows: b, layer.function, products: products, gateBias: layer.gateBias,
                                   upBias: layer.upBias, into: activations)
            }
        } else if let up = layer.up {
            if let gate = layer.gate, let gateOutput {
                forEachRows { MatMul.compute(gate, output: gateOutput, outputStride: gate.rows, rows: $0, input: input, prefill: false, thread: thread) }
            }
            forEachRows { MatMul.compute(up, output: activations, outputStride: up.rows, rows: $0, input: input, prefill: false, thread: thread) }
            if b == 1 && !layer.gated {
                Activations.applyListed(layer.function, activations, bias: layer.upBias, at: blocks)
            } else {
                activateBlocks(layer, blocks, gateOutput: gateOutput, activations: activations)
            }
        }
        TransposedMatMul.accumulateOne(layer.down.layout, activations, rows: RowBlocks(blocks: blocks, blockRows: b, rows: layer.neurons),
                                       columns: 0..<layer.outputs, into: out, scratch: scratch)
    }

    /// The biases and activation of the rows of `blocks` (separate gate and up products).
    @inline(__always)
    private static func activateBlocks(_ layer: Layer, _ blocks: UnsafeBufferPointer<Int>, gateOutput: UnsafeMutablePointer<Float>?,
                                       activations: UnsafeMutablePointer<Float>) {
        let b = layer.blockRows
        for block in blocks {
            let n = block * b
            if let bias = layer.gateBias, let gateOutput { Activations.add(bias + n, into: gateOutput + n, count: b) }
            if let bias = layer.upBias { Activations.add(bias + n, into: activations + n, count: b) }
            if let gateOutput, layer.gated {
                Activations.gatedProduct(layer.function, gate: gateOutput + n, up: activations + n, into: activations + n, count: b)
            } else {
                Activations.apply(layer.function, activations + n, count: b)
            }
        }
    }

    /// Block `block`'s activations `activations[B·block ..< B·(block+1)]` (B = `blockRows`) from one token's fused
    /// gate/up products (`products`: 2·B per block, gate's then up's, as `WeightMatrix.interleavedBlocks` lays them
    /// out), after adding the biases to them.
    @inline(__always)
    public static func activateFusedBlock(_ block: Int, blockRows b: Int, _ function: Activations.Function,
                                          products: UnsafeMutablePointer<Float>, gateBias: UnsafePointer<Float>?,
                                          upBias: UnsafePointer<Float>?, into activations: UnsafeMutablePointer<Float>) {
        let n = block * b, gate = products + 2 * n, up = gate + b
        if let gateBias { Activations.add(gateBias + n, into: gate, count: b) }
        if let upBias { Activations.add(upBias + n, into: up, count: b) }
        Activations.gatedProduct(function, gate: gate, up: up, into: activations + n, count: b)
    }

    /// Plain reference: gate/up rows by `MatMul.multiplyReference` (or its quantized-activation form, as the
    /// decode kernels compute quantized weights; a fused matrix's rows split back into gate and up), the reference
    /// activations, then the down rows of the selected neurons summed in Double. Returns `(activations of every
    /// neuron (zero when unselected), y)`.
    public static func reference(_ layer: Layer, x: [Float], blocks: [Int]) -> (activations: [Float], y: [Float]) {
        let ff = layer.neurons, d = layer.outputs
        func product(_ w: WeightMatrix) -> [Float] {
            var out = [Float](repeating: 0, count: w.rows)
            x.withUnsafeBufferPointer { xb in
                out.withUnsafeMutableBufferPointer {
                    if w.dtype.isFloat {
                        MatMul.multiplyReference(w, x: xb.baseAddress!, tokens: 1, into: $0.baseAddress!)
                    } else {
                        MatMul.multiplyReferenceQuantizedActivations(w, x: xb.baseAddress!, tokens: 1, into: $0.baseAddress!)
                    }
                }
            }
            return out
        }
        var up: [Float], gate: [Float]?
        switch layer.gateUp {
        case let .separate(g, u):
            up = product(u)
            gate = g.map(product)
        case let .fused(m):
            // Block b's B gate rows, then its B up rows.
            let both = product(m), b = layer.blockRows
            gate = (0..<ff).map { both[2 * b * ($0 / b) + $0 % b] }
            up = (0..<ff).map { both[2 * b * ($0 / b) + b + $0 % b] }
        }
        var a = [Float](repeating: 0, count: ff)
        for block in blocks {
            for n in (block * layer.blockRows)..<((block + 1) * layer.blockRows) {
                if let bias = layer.upBias { up[n] += bias[n] }
                if var g = gate?[n] {
                    if let bias = layer.gateBias { g += bias[n] }
                    a[n] = Activations.reference(layer.function, g) * up[n]
                } else {
                    a[n] = Activations.reference(layer.function, up[n])
                }
            }
        }
        var y = [Double](repeating: 0, count: d)
        var row = [Float](repeating: 0, count: d)
        for block in blocks {
            for n in (block * layer.blockRows)..<((block + 1) * layer.blockRows) where a[n] != 0 {
                row.withUnsafeMutableBufferPointer { layer.down.decodeRowReference(n, into: $0.baseAddress!) }
                for c in 0..<d { y[c] += Double(a[n]) * Double(row[c]) }
            }
        }
        return (a, y.map { Float($0) })
    }
}
