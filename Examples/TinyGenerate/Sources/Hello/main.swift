import Foundation
import Sieve

let url = URL(fileURLWithPath: CommandLine.arguments.dropFirst().first ?? "model.gguf")  // .gguf, .sieve, .safetensors
let model = try await LanguageModel.load(contentsOf: url, options: .init(threads: 2, ffnDensity: 0.5))
let parameters = GenerationParameters(maxTokens: 16, sampling: .greedy)
for try await piece in model.generate("The capital of France is", parameters) {
    print(piece.text, terminator: "")
}
let text = String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 20)
print("\nperplexity:", try await model.perplexity(text, chunkLength: 128).value)
