import Foundation

/// Errors raised by the core: reading bytes, JSON, compression, tensors and the model graph.
///
/// Every case carries the file (or other source) it concerns and says how to fix the problem.
public enum SieveCoreError: Error, LocalizedError, Equatable {
    /// The file could not be opened or mapped.
    case cannotOpen(path: String, reason: String)
    /// A read ran past the end of the data.
    case truncated(source: String, offset: Int, needed: Int, available: Int)
    /// A size or count read from a file is larger than allowed.
    case limitExceeded(source: String, what: String, value: Int, limit: Int)
    /// JSON text could not be parsed.
    case invalidJSON(source: String, reason: String)
    /// JSON was parsed but has the wrong shape (missing key, wrong type).
    case unexpectedJSON(source: String, path: String, expected: String)
    /// A zstd compression or decompression call failed.
    case compression(source: String, reason: String)
    /// A tensor's shape overflows or disagrees with its byte size.
    case invalidShape(source: String, tensor: String, reason: String)
    /// A dtype name or code the IR does not know.
    case unknownDType(source: String, name: String)
    /// The architecture is not one Sieve supports.
    case unsupportedArchitecture(source: String, name: String, supported: [String])
    /// A tensor the architecture needs is absent.
    case missingTensor(source: String, name: String)
    /// A hyperparameter is missing or out of range.
    case invalidHyperparameter(source: String, name: String, reason: String)
    /// The model rescales RoPE in a way Sieve does not implement (YaRN, LongRoPE, dynamic NTK…).
    case unsupportedRoPEScaling(source: String, type: String)
    /// No registered format plugin claims the file.
    case unknownFormat(path: String, registered: [String])
    /// No registered format writes files with the output's extension (or it has none), and no format was named.
    case unknownOutputFormat(path: String, registered: [String])
    /// The format plugin cannot perform the requested operation.
    case unsupportedOperation(format: String, operation: String)
    /// A packed sparse bundle was to be written in a format that cannot hold its reordered FFN and predictors.
    case packedModel(path: String, format: String)
    /// Writing an output failed; no partial file was left behind.
    case writeFailed(path: String, reason: String)
    /// Refusing to replace an existing output file.
    case outputExists(path: String)
    /// A conversion between two dtypes is not possible.
    case unsupportedConversion(source: String, from: String, to: String)
    /// Quantizing to one of ggml's grid types (iq2_xxs … iq1_m), which Sieve decodes but does not produce.
    case gridQuantization(source: String, dtype: String)

    public var errorDescription: String? {
        switch self {
        case let .cannotOpen(path, reason):
            return "\(path): cannot open: \(reason). Check that the path exists and is readable."
        case let .truncated(source, offset, needed, available):
            return "\(source): truncated: needed \(needed) bytes at offset \(offset) but only \(available) remain. The file is incomplete or corrupt; download or write it again."
        case let .limitExceeded(source, what, value, limit):
            return "\(source): \(what) is \(value), over the limit of \(limit). The file is corrupt or not what it claims to be."
        case let .invalidJSON(source, reason):
            return "\(source): invalid JSON: \(reason). Fix or regenerate the file."
        case let .unexpectedJSON(source, path, expected):
            return "\(source): at \(path): expected \(expected). Fix or regenerate the file."
        case let .compression(source, reason):
            return "\(source): zstd: \(reason). The compressed data is corrupt; write the file again."
        case let .invalidShape(source, tensor, reason):
            return "\(source): tensor '\(tensor)': \(reason). The file is corrupt or was written by a broken tool."
        case let .unknownDType(source, name):
            return "\(source): unknown dtype '\(name)'. Supported: \(DType.allCases.map(\.name).joined(separator: ", ")). Convert the file to a supported dtype first."
        case let .unsupportedArchitecture(source, name, supported):
            return "\(source): architecture '\(name)' is not supported. Supported architectures: \(supported.joined(separator: ", "))."
        case let .missingTensor(source, name):
            return "\(source): missing tensor '\(name)'. The checkpoint is incomplete (a missing shard?) or is not the architecture its config says."
        case let .invalidHyperparameter(source, name, reason):
            return "\(source): hyperparameter '\(name)': \(reason). Fix the model's config."
        case let .unsupportedRoPEScaling(source, type):
            return "\(source): RoPE scaling '\(type)' is not supported (Sieve implements \(RoPEScaling.supportedTypeNames.joined(separator: ", "))). Running the model without it would compute different outputs from the trained model's; run it with llama.cpp or transformers."
        case let .unknownFormat(path, registered):
            return "\(path): no format plugin recognises this file. Registered formats: \(registered.joined(separator: ", ")). Check the extension and that the file is not corrupt."
        case let .unknownOutputFormat(path, registered):
            let ext = URL(fileURLWithPath: path).pathExtension
            return "\(path): cannot tell the output format from \(ext.isEmpty ? "a name without an extension" : "the extension '.\(ext)'"). Name the output .gguf, .safetensors or .sieve, or pass --to (\(registered.joined(separator: ", ")); --to safetensors with a folder writes a Hugging Face folder)."
        case let .packedModel(path, format):
            return "\(path) is a packed sparse bundle: its FFN neurons are reordered and it carries predictors, which \(format) cannot hold. Convert the model it was packed from (`sieve inspect` shows provenance.source), or write another .sieve."
        case let .unsupportedOperation(format, operation):
            return "format '\(format)' does not support \(operation). Choose another format with --to."
        case let .writeFailed(path, reason):
            return "\(path): write failed: \(reason). No partial output was left; check free space and permissions."
        case let .outputExists(path):
            return "\(path): already exists. Pass --force to overwrite it, or choose another output path."
        case let .unsupportedConversion(source, from, to):
            return "\(source): cannot convert dtype \(from) to \(to). Choose f32, f16, bf16 or keep."
        case let .gridQuantization(source, dtype):
            return "\(source): Sieve cannot quantize to \(dtype): ggml's grid types need an importance matrix (llama-imatrix) to choose their codes, which Sieve does not compute. Choose iq4_xs or a K-quant (q2_K, q3_K, q4_K) instead, keep the model's own types, or quantize with llama-quantize --imatrix."
        }
    }
}
