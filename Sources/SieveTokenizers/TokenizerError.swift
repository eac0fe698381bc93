import Foundation

/// Errors building or using a tokenizer. Each message names what is wrong and how to fix it.
public enum TokenizerError: Error, LocalizedError, Equatable {
    /// The byte-level BPE pre-tokenizer named by `tokenizer.ggml.pre` (or derived from `tokenizer.json`) is not implemented.
    case unsupportedPreTokenizer(name: String, supported: [String])
    /// The vocabulary, scores, types or merges are inconsistent.
    case invalidVocabulary(reason: String)
    /// A special token the configuration needs has no id.
    case missingSpecialToken(role: String, reason: String)
    /// The model has no tokenizer description at all.
    case noTokenizer(source: String)
    /// The model has no chat template.
    case noChatTemplate

    public var errorDescription: String? {
        switch self {
        case let .unsupportedPreTokenizer(name, supported):
            return "pre-tokenizer '\(name)' is not supported; supported: \(supported.joined(separator: ", ")). Convert the model with a llama.cpp that names one of these, or add the pre-tokenizer's regex to SieveTokenizers."
        case let .invalidVocabulary(reason):
            return "invalid tokenizer vocabulary: \(reason). The model file is corrupt or was written by a broken converter; convert it again."
        case let .missingSpecialToken(role, reason):
            return "the tokenizer has no \(role) token, but \(reason). Set its id in the model's tokenizer metadata."
        case let .noTokenizer(source):
            return "\(source): the model has no tokenizer. Use a GGUF with tokenizer metadata or put tokenizer.json beside the safetensors files."
        case .noChatTemplate:
            return "the model has no chat template (tokenizer.chat_template / tokenizer_config.json chat_template). Pass one (`applyChatTemplate(_:template:)`), or format the prompt yourself (on the command line: --chat-template FILE, or no --chat)."
        }
    }
}
