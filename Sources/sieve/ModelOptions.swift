import ArgumentParser
import Foundation
import SieveCore
import SieveRuntime

/// Options shared by the commands that load and run a model.
struct ModelOptions: ParsableArguments {
    @Argument(help: "The model: a .gguf, .sieve or .safetensors file, or a Hugging Face folder.")
    var model: String

    @Option(name: [.customShort("t"), .long], help: "Worker threads (default: one per core).")
    var threads: Int?

    @Option(name: [.customShort("c"), .customLong("ctx")], help: "Context length: positions the KV cache holds (default: min(trained context, 4096)).")
    var contextLength: Int?

    @Option(help: "KV cache element type: f32 or f16.")
    var kvType: String = "f32"

    @OptionGroup var sparsity: SparsityOptions

    func validate() throws {
        if let threads, threads < 1 || threads > 1024 { throw ValidationError("--threads must be between 1 and 1024") }
        if let c = contextLength, c < 1 { throw ValidationError("--ctx must be positive") }
        if KVCacheType(rawValue: kvType) == nil { throw ValidationError("--kv-type must be f32 or f16") }
    }

    var runtimeOptions: RuntimeOptions {
        sparsity.apply(to: RuntimeOptions(contextLength: contextLength, threads: threads, kvCacheType: KVCacheType(rawValue: kvType) ?? .f32))
    }

    /// Reads the model file into the IR.
    func loadGraph() throws -> ModelGraph {
        try reportingErrors {
            let url = URL(fileURLWithPath: model)
            return try FormatSetup.registry.plugin(for: url).read(url)
        }
    }

    /// Reads and compiles the model with its tokenizer.
    func loadSession() throws -> Session {
        let graph = try loadGraph()
        return try reportingErrors { try Session(graph: graph, options: runtimeOptions) }
    }
}

/// How a sparse bundle runs: densities, selection, sparse prefill.
struct SparsityOptions: ParsableArguments {
    @Option(help: "Sparse bundles: fraction of FFN blocks computed per token in every block, in (0, 1] (default: the bundle's per-block schedule).")
    var ffnDensity: Double?

    @Option(help: "Sparse bundles: fraction of attention heads computed per token in every block, in (0, 1] (default: the bundle's schedule).")
    var headDensity: Double?

    @Flag(help: "Sparse bundles: compute everything, then keep the true top units at the density (the best a predictor could do).")
    var oracle = false

    @Flag(help: "Sparse bundles: compute every unit (the dense baseline).")
    var dense = false

    @Flag(help: "Sparse bundles: evaluate prompts sparsely too (default: dense prefill, sparse decode).")
    var sparsePrefill = false

    func validate() throws {
        if oracle && dense { throw ValidationError("--oracle and --dense exclude each other") }
        for (name, value) in [("--ffn-density", ffnDensity), ("--head-density", headDensity)] {
            if let v = value, !(v > 0 && v <= 1) { throw ValidationError("\(name) must be in (0, 1], got \(v)") }
        }
    }

    /// `options` with these settings.
    func apply(to options: RuntimeOptions) -> RuntimeOptions {
        var options = options
        options.sparsity = dense ? .dense : oracle ? .oracle : .predicted
        options.ffnDensity = ffnDensity
        options.headDensity = headDensity
        options.sparsePrefill = sparsePrefill
        return options
    }
}

/// Writes text to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write((text + "\n").data(using: .utf8)!)
}
