import Foundation

/// Errors raised by the `Sieve` library API itself. The modules it re-exports throw their own typed errors
/// (`SieveCoreError`, `SieveRuntimeError`, `SieveTransformsError`, `TokenizerError`, `BundleError`), all of them
/// `LocalizedError`s whose message names the file or option and says how to fix the problem.
public enum SieveError: Error, LocalizedError, Equatable {
    /// No file or folder exists at the path.
    case fileNotFound(path: String)
    /// The model cannot generate text: it is an encoder (no language-model head).
    case notALanguageModel(path: String, architecture: String)
    /// The model file carries no tokenizer, so text cannot be encoded.
    case missingTokenizer(path: String)
    /// A calibration text file could not be read as UTF-8.
    case unreadableText(path: String)

    /// A one-sentence description naming the file and how to fix the problem.
    public var errorDescription: String? {
        switch self {
        case let .fileNotFound(path):
            return "\(path): no such file or folder; check the path (a .gguf, .sieve or .safetensors file, or a Hugging Face folder)."
        case let .notALanguageModel(path, architecture):
            return "\(path): a \(architecture) encoder has no language-model head, so it cannot generate text or measure perplexity; load a causal language model."
        case let .missingTokenizer(path):
            return "\(path): the file carries no tokenizer; use a GGUF with tokenizer metadata, a .sieve bundle packed from one, or a Hugging Face folder with tokenizer.json."
        case let .unreadableText(path):
            return "\(path): cannot read the file as UTF-8 text; pass a plain-text calibration file."
        }
    }
}
