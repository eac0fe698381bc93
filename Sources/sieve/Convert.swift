import ArgumentParser
import Foundation
import SieveCore

/// `sieve convert IN -o OUT`: converts a model between formats and dtypes, tensor by tensor.
struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a model to another format or dtype (streaming, written atomically).")

    @Argument(help: "The input model file or Hugging Face folder.")
    var input: String

    @Option(name: .shortAndLong, help: "The output file (or folder for a Hugging Face layout).")
    var output: String

    @Option(help: "Output format (\(FormatSetup.registry.all.filter(\.canWrite).map(\.name).joined(separator: ", "))); default: from the output's extension.")
    var to: String?

    @Option(help: "Weight dtype: keep, f32, f16, bf16 (and for GGUF: q8_0, q4_0, q4_1, …).")
    var dtype: String = "keep"

    @Flag(help: "Overwrite an existing output.")
    var force = false

    func validate() throws {
        if dtype != "keep" && DType(name: dtype) == nil {
            throw ValidationError("unknown --dtype '\(dtype)'; use keep, f32, f16, bf16, q8_0, q4_0, q4_1, …")
        }
        if let target = DType(name: dtype), target.isGridQuantized {
            throw ValidationError(SieveCoreError.gridQuantization(source: "--dtype", dtype: target.name).localizedDescription)
        }
        if let to, FormatSetup.registry.plugin(named: to) == nil {
            throw ValidationError("unknown --to '\(to)'; registered formats: \(FormatSetup.registry.names.joined(separator: ", "))")
        }
    }

    func run() throws {
        let target: DType? = dtype == "keep" ? nil : DType(name: dtype)
        let progress = ProgressReporter(label: "convert")
        let start = Date()
        let graph = try reportingErrors {
            try Converter.convert(from: URL(fileURLWithPath: input), to: URL(fileURLWithPath: output), format: to,
                                  dtype: target, overwrite: force, registry: FormatSetup.registry,
                                  progress: { done, total, name in progress.update(done: done, total: total, item: name) })
        }
        progress.finish()
        let seconds = Date().timeIntervalSince(start)
        print("wrote \(output): \(graph.architecture.rawValue), \(graph.tensors.count) tensors, dtype \(dtype), in \(String(format: "%.2f", seconds)) s")
        // A Hugging Face folder without tokenizer.json cannot encode text (here or in transformers): say so.
        var isFolder: ObjCBool = false
        if let tokenizer = graph.tokenizer, FileManager.default.fileExists(atPath: output, isDirectory: &isFolder), isFolder.boolValue,
           !FileManager.default.fileExists(atPath: URL(fileURLWithPath: output).appendingPathComponent("tokenizer.json").path) {
            printError("note: no tokenizer.json written: Sieve writes byte-level BPE tokenizers (\(TokenizerDescription.huggingFacePreTokenizers.joined(separator: ", ")) pre-tokenizers), and this one is \(tokenizer.kind == .sentencePiece ? "SentencePiece" : tokenizer.kind == .wordPiece ? "WordPiece" : "byte-level BPE with the '\(tokenizer.preTokenizer)' pre-tokenizer"). Copy the original model's tokenizer files into \(output) to encode text there.")
        }
    }
}
