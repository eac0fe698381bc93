import SieveKernels

extension Model {
    /// Bytes of weights one decoded token reads with this model's options: each matrix of a dense product whole;
    /// in a mixture of experts the router and the experts a token runs; in a sparse FFN layer the kept blocks' gate and up rows, their down rows (or the whole source `down` of a
    /// layer that keeps one, which the runners multiply instead) and the predictor; one embedding row; the LM head.
    ///
    /// A layer with sparse heads still reads Q, K, V and O whole (only attention skips the unselected heads), plus
    /// its head predictor. Both runners skip the rows of a transposed `down` whose activation is zero (a ReLU
    /// layer's many exact zeros): `downRowsRead[l]`, the mean number of rows layer `l` read per token (see
    /// `meanDownRowsRead(decoding:)`), replaces the count of every kept row where given. Norms, biases and the KV
    /// cache are not counted. For two models of one bundle, the ratio of their values is the speed-up a sparse run
    /// would have if time followed the weights it reads (the "ideal").
    public func decodeWeightBytes(downRowsRead: [Double]? = nil) -> Double {
        decodeWeightBytes(downRowsRead: downRowsRead, dense: false)
    }

    /// `decodeWeightBytes(downRowsRead:)`, or with `dense` what a dense run of this model reads, whatever its sparsity.
    func decodeWeightBytes(downRowsRead: [Double]?, dense: Bool) -> Double {
        func bytes(_ w: WeightMatrix) -> Double { Double(w.rows * w.rowBytes) }
        func predictorBytes(_ p: SparsityPlan.ActivePredictor?) -> Double {
            guard let p else { return 0 }
            return bytes(p.plan.down) + (p.interleavedUp.map { Double($0.byteCount) } ?? bytes(p.plan.up))
        }
        var total = Double(plan.tokenEmbedding.rowBytes + (plan.positionEmbedding?.rowBytes ?? 0) + (plan.tokenTypeEmbedding?.rowBytes ?? 0))
        for (layer, block) in plan.blocks.enumerated() {
            let a = block.attention, f = block.feedForward
            let density = sparsity.densities[layer]
            total += bytes(a.q.weight) + bytes(a.k.weight) + bytes(a.v.weight) + bytes(a.o.weight)
            if !dense && density.sparseHeads && sparsity.mode == .predicted { total += predictorBytes(sparsity.headPredictors[layer]) }
            // Gate and up: one fused matrix, or separate rows.
            if let experts = f.experts {
                // The router, the gate, up and down of the experts a token runs, and the shared expert's.
                let perExpert = bytes(experts.gate[0]) + bytes(experts.up[0]) + bytes(experts.down[0])
                total += bytes(experts.router.weight) + Double(experts.routing.expertsPerToken) * perExpert
                if let shared = experts.shared {
                    total += bytes(shared.gate.weight) + bytes(shared.up.weight) + bytes(shared.down.weight) + (shared.outputGate.map { bytes($0.weight) } ?? 0)
                }
                continue
            }
            let gateAndUp = f.gateUp.map(bytes) ?? (f.up.map(bytes) ?? 0) + (f.gate.map(bytes) ?? 0)
            let neuronBytes = Double(f.gateUp.map { 2 * $0.rowBytes } ?? (f.up?.rowBytes ?? 0) + (f.gate?.rowBytes ?? 0))
            guard let blockSize = f.blockSize else {
                total += gateAndUp + (f.down.map(bytes) ?? 0)
                continue
            }
            // Rows of the transposed down a token reads: the kept ones, fewer where activations are zero.
            let keptRows = Double((density.sparseFFN ? density.ffnBlocksKept : f.blocks) * blockSize)
            let transposedRowBytes = f.transposedDown.flatMap { $0.dtype.byteCount(elements: $0.shape.innermost) } ?? 0
            let transposedDown = (downRowsRead?[layer] ?? keptRows) * Double(transposedRowBytes)
            if dense || !density.sparseFFN {
                total += gateAndUp + (f.sourceDown.map(bytes) ?? transposedDown)
                continue
            }
            switch sparsity.mode {
            case .predicted:
                total += keptRows * neuronBytes
                total += f.sourceDown.map(bytes) ?? transposedDown
                total += predictorBytes(sparsity.ffnPredictors[layer])
            case .oracle, .dense:
                // Every activation, then the source down or the kept rows of the transposed down.
                total += gateAndUp + (f.sourceDown.map(bytes) ?? transposedDown)
            }
        }
        if let head = plan.lmHead { total += bytes(head.weight) }
        return total
    }

    /// The mean number of non-zero FFN activations per decoded token in each layer while decoding `tokens` from
    /// the current cache position (the rows of a transposed `down` the runners read), for
    /// `decodeWeightBytes(downRowsRead:)`. Uses the activation observer, and leaves the cache where it was.
    public func meanDownRowsRead(decoding tokens: [Int]) throws -> [Double] {
        var counts = [Int](repeating: 0, count: plan.blocks.count)
        let start = cache.length, previous = activationObserver
        activationObserver = { record in
            guard record.site == .feedForwardActivation, record.tokens == 1 else { return }
            counts[record.layer] += record.values.reduce(0) { $0 + ($1 != 0 ? 1 : 0) }
        }
        defer {
            activationObserver = previous
            truncate(to: start)
        }
        for t in tokens { try decode(t) { _ in } }
        return counts.map { Double($0) / Double(max(1, tokens.count)) }
    }
}
