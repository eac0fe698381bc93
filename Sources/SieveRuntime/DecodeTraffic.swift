import SieveKernels

extension Model {
    /// Bytes of weights one decoded token reads with this model's options: each matrix of a dense product whole;
    /// in a sparse FFN layer the kept blocks' gate, up and down rows (or the whole source `down`, where the runner
    /// multiplies that instead) and the predictor; one embedding row; the LM head.
    ///
    /// A layer with sparse heads still reads Q, K, V and O whole (only attention skips the unselected heads), plus
    /// its head predictor. Down rows whose activation is zero count as read, although both runners skip them in a
    /// ReLU layer; norms, biases and the KV cache are not counted. For two models of one bundle, the ratio of
    /// their values is the speed-up a sparse run would have if time followed the weights it reads (the "ideal").
    public var decodeWeightBytes: Int {
        func bytes(_ w: WeightMatrix) -> Int { w.rows * w.rowBytes }
        func predictorBytes(_ p: SparsityPlan.ActivePredictor?) -> Int {
            guard let p else { return 0 }
            return bytes(p.plan.down) + (p.interleavedUp?.byteCount ?? bytes(p.plan.up))
        }
        var total = plan.tokenEmbedding.rowBytes + (plan.positionEmbedding?.rowBytes ?? 0) + (plan.tokenTypeEmbedding?.rowBytes ?? 0)
        for (layer, block) in plan.blocks.enumerated() {
            let a = block.attention, f = block.feedForward
            let density = sparsity.densities[layer]
            total += bytes(a.q.weight) + bytes(a.k.weight) + bytes(a.v.weight) + bytes(a.o.weight)
            if density.sparseHeads && sparsity.mode == .predicted { total += predictorBytes(sparsity.headPredictors[layer]) }
            let gateAndUp = bytes(f.up.weight) + (f.gate.map { bytes($0.weight) } ?? 0)
            guard let blockSize = f.blockSize, density.sparseFFN else {
                total += gateAndUp + bytes(f.sourceDown ?? f.down.weight)
                continue
            }
            let keptRows = density.ffnBlocksKept * blockSize
            switch sparsity.mode {
            case .predicted:
                total += keptRows * (f.up.weight.rowBytes + (f.gate?.weight.rowBytes ?? 0))
                if let source = f.sourceDown, density.ffn >= Self.sourceDownDensity {
                    total += bytes(source)
                } else {
                    total += keptRows * f.down.weight.rowBytes
                }
                total += predictorBytes(sparsity.ffnPredictors[layer])
            case .oracle, .dense:
                // Every activation, then the kept rows of the transposed down.
                total += gateAndUp + keptRows * f.down.weight.rowBytes
            }
        }
        if let head = plan.lmHead { total += bytes(head.weight) }
        return total
    }
}
