import ArgumentParser
import Foundation
import SieveCore

/// `sieve inspect FILE_OR_DIR`: prints what a model file holds.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a model file's format, architecture, hyperparameters, tokenizer, metadata and tensors.")

    @Argument(help: "A model file (.safetensors, .gguf, …) or a Hugging Face model folder.")
    var path: String

    @Flag(help: "List every tensor with its dtype, shape and size.")
    var tensors = false

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func run() throws {
        let report = try reportingErrors { try InspectionReport(url: URL(fileURLWithPath: path), registry: FormatSetup.registry) }
        if json {
            print(report.json(includeTensors: true).serialized(pretty: true))
        } else {
            print(report.text(includeTensors: tensors))
        }
    }
}
