import Foundation
import SieveCore

/// Errors raised while compiling or running a model. Each message names the problem and says how to fix it.
public enum SieveRuntimeError: Error, LocalizedError, Equatable {
    /// The prompt plus the tokens to generate do not fit in the KV cache (`context` positions; the model was trained
    /// for `trainedContext`).
    case contextOverflow(promptTokens: Int, generateTokens: Int, context: Int, trainedContext: Int)
    /// A batch of tokens was evaluated past the end of the KV cache.
    case cacheFull(position: Int, tokens: Int, context: Int)
    /// A token id outside the vocabulary.
    case tokenOutOfRange(token: Int, vocabularySize: Int)
    /// A runtime or generation option is out of range.
    case invalidOption(name: String, value: String, reason: String)
    /// The graph uses a feature the runtime does not execute.
    case unsupportedGraph(reason: String)
    /// A weight tensor is stored in a dtype the kernels cannot multiply with.
    case unsupportedWeightType(tensor: String, dtype: String)
    /// The model has no tokenizer description, so text cannot be encoded or decoded.
    case missingTokenizer
    /// The operation needs a causal language model (with an LM head) but the model is an encoder, or the reverse.
    case wrongModelKind(operation: String, architecture: String)
    /// The text is too short for even one perplexity chunk.
    case textTooShort(tokens: Int, needed: Int)

    public var errorDescription: String? {
        switch self {
        case let .contextOverflow(prompt, generate, context, trained):
            if prompt + generate > trained {
                return "prompt of \(prompt) tokens + \(generate) to generate exceeds the model's trained context of \(trained) positions; shorten the prompt or lower -n."
            }
            return "prompt of \(prompt) tokens + \(generate) to generate exceeds the context of \(context); pass --ctx \(prompt + generate) or more (the model was trained for \(trained)), or shorten the prompt / lower -n."
        case let .cacheFull(position, tokens, context):
            return "cannot evaluate \(tokens) tokens at position \(position): the KV cache holds \(context) positions; pass a larger --ctx or reset the session."
        case let .tokenOutOfRange(token, vocabularySize):
            return "token id \(token) is outside the vocabulary of \(vocabularySize) tokens; the tokenizer does not belong to this model."
        case let .invalidOption(name, value, reason):
            return "invalid \(name) \(value): \(reason)."
        case let .unsupportedGraph(reason):
            return "cannot run this model: \(reason). Convert it with a supported layout or update Sieve."
        case let .unsupportedWeightType(tensor, dtype):
            return "tensor '\(tensor)' is stored as \(dtype), which the CPU kernels cannot multiply; convert the model to f16, q8_0 or a supported quantization."
        case .missingTokenizer:
            return "the model file carries no tokenizer; use a file with tokenizer metadata (GGUF) or a folder with tokenizer.json, or pass token ids directly."
        case let .wrongModelKind(operation, architecture):
            return "\(operation) is not available for a \(architecture) model; use a model of the right kind (causal LM for generation and perplexity, encoder for embeddings)."
        case let .textTooShort(tokens, needed):
            return "the text has \(tokens) tokens but one chunk needs \(needed); use a longer text or a smaller -c."
        }
    }
}
