import Foundation

/// Element type of the KV cache.
public enum KVCacheType: String, Sendable, CaseIterable {
    /// 32-bit floats: exact, twice the memory of f16.
    case f32
    /// IEEE half precision: half the memory, rounding like llama.cpp's default cache.
    case f16
}

/// How a sparse bundle's model chooses, per token, the FFN blocks and attention heads it computes.
public enum SparsityMode: String, Sendable, CaseIterable {
    /// The bundle's predictors choose the top units at the requested density (the method; the default).
    case predicted
    /// Everything is computed, then only the true top units (by activation mass or head output norm) are kept:
    /// the best any predictor could do at that density. Separates predictor error from sparsity error.
    case oracle
    /// Every unit, as a dense model (the baseline).
    case dense
}

/// Options for compiling a model into an executable plan.
public struct RuntimeOptions: Sendable, Equatable {
    /// Positions the KV cache holds; nil means min(the model's trained context, 4096).
    public var contextLength: Int?
    /// Worker threads for the kernels; nil means one per core.
    public var threads: Int?
    /// Element type of the KV cache.
    public var kvCacheType: KVCacheType
    /// Most tokens evaluated in one forward pass (prompts are cut into batches of this size).
    public var batchSize: Int
    /// Multiply quantized weights with 8-bit activations at every batch size, as llama.cpp does, instead of
    /// float activations for batches (the default: faster prefill, closer to float32 references). Use it to
    /// reproduce llama.cpp's logits and perplexities; prefill is then several times slower.
    public var quantizedActivations: Bool
    /// How a sparse bundle selects units (ignored by dense models).
    public var sparsity: SparsityMode
    /// Fraction of FFN blocks computed per token in every block (0, 1]; nil uses the bundle's per-block schedule.
    public var ffnDensity: Double?
    /// Fraction of attention heads computed per token in every block (0, 1]; nil uses the bundle's schedule.
    public var headDensity: Double?
    /// Per block FFN densities overriding the bundle's schedule (`ffnDensity` overrides both).
    public var ffnSchedule: [Double]?
    /// Per block head densities overriding the bundle's schedule (`headDensity` overrides both).
    public var headSchedule: [Double]?
    /// Whether prompt batches are also evaluated sparsely (each token with its own selection). By default
    /// prefill is dense and only decode is sparse.
    public var sparsePrefill: Bool
    /// Whether the predictors' first product runs inside the parallel region of the block whose input it reads
    /// (lookahead overlap, the default) rather than in a region of its own (to measure what overlap saves).
    public var lookaheadOverlap: Bool
    /// Whether the q4_0, q4_1, q5_0, q5_1, q8_0, iq4_nl, iq4_xs, q4_K and q5_K projection weights are copied at load
    /// into the 16-row layout of the group kernels (`WeightMatrix.sharedInterleaved()`), where they run (AVX-512 VNNI
    /// or AVX2): on by default; off keeps the row-major weights (to measure what the layout gains; prefill of the types
    /// with blocks of 32 then decodes them to f32 instead of multiplying 8-bit activations, and iq4_xs, q4_K and q5_K
    /// run their four-row kernels). Pages mapped from the model file are released after copying; buffers the graph
    /// owns are held twice until the graph is released.
    public var interleavedWeights: Bool

    /// Options with the given values; `ffnSchedule` and `headSchedule` start nil (the bundle's schedule).
    public init(contextLength: Int? = nil, threads: Int? = nil, kvCacheType: KVCacheType = .f32, batchSize: Int = 512,
                quantizedActivations: Bool = false, sparsity: SparsityMode = .predicted, ffnDensity: Double? = nil,
                headDensity: Double? = nil, sparsePrefill: Bool = false, lookaheadOverlap: Bool = true,
                interleavedWeights: Bool = true) {
        self.contextLength = contextLength
        self.threads = threads
        self.kvCacheType = kvCacheType
        self.batchSize = batchSize
        self.quantizedActivations = quantizedActivations
        self.sparsity = sparsity
        self.ffnDensity = ffnDensity
        self.headDensity = headDensity
        self.sparsePrefill = sparsePrefill
        self.lookaheadOverlap = lookaheadOverlap
        self.interleavedWeights = interleavedWeights
    }

    /// The context used for a model trained on `trainedContext` positions; throws when the request is out of
    /// range.
    func resolvedContext(trainedContext: Int) throws -> Int {
        guard let requested = contextLength else { return min(trainedContext, 4096) }
        guard requested > 0 else {
            throw SieveRuntimeError.invalidOption(name: "context length", value: "\(requested)", reason: "must be positive")
        }
        guard requested <= trainedContext else {
            throw SieveRuntimeError.invalidOption(name: "context length", value: "\(requested)", reason: "the model was trained for at most \(trainedContext) positions; pass --ctx \(trainedContext) or less")
        }
        return requested
    }

    /// Checks the thread count and batch size.
    func validate() throws {
        if let t = threads, t < 1 || t > 1024 {
            throw SieveRuntimeError.invalidOption(name: "thread count", value: "\(t)", reason: "must be between 1 and 1024")
        }
        guard batchSize >= 1 && batchSize <= 65536 else {
            throw SieveRuntimeError.invalidOption(name: "batch size", value: "\(batchSize)", reason: "must be between 1 and 65536")
        }
        for (name, value) in [("FFN density", ffnDensity), ("head density", headDensity)] {
            if let v = value, !(v > 0 && v <= 1) {
                throw SieveRuntimeError.invalidOption(name: name, value: "\(v)", reason: "must be in (0, 1]; 1 computes every unit")
            }
        }
    }
}
