import Foundation

/// Element type of the KV cache.
public enum KVCacheType: String, Sendable, CaseIterable {
    /// 32-bit floats: exact, twice the memory of f16.
    case f32
    /// IEEE half precision: half the memory, rounding like llama.cpp's default cache.
    case f16
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

    public init(contextLength: Int? = nil, threads: Int? = nil, kvCacheType: KVCacheType = .f32, batchSize: Int = 512,
                quantizedActivations: Bool = false) {
        self.contextLength = contextLength
        self.threads = threads
        self.kvCacheType = kvCacheType
        self.batchSize = batchSize
        self.quantizedActivations = quantizedActivations
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
    }
}
