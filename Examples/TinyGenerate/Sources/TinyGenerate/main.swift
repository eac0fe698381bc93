import Foundation
import Sieve

// Generates text with the bundle that SievePackPlugin packed at build time (see sieve.json).
// Usage: TinyGenerate [-p PROMPT] [-n TOKENS] [--temp T] [--seed S] [--json]
var prompt = "Once upon a time"
var tokens = 16
var temperature: Float = 0
var seed: UInt64?
var json = false
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--json": json = true
    case "-p": prompt = arguments.popFirst() ?? prompt
    case "-n": tokens = arguments.popFirst().flatMap { Int($0) } ?? tokens
    case "--temp": temperature = arguments.popFirst().flatMap { Float($0) } ?? temperature
    case "--seed": seed = arguments.popFirst().flatMap { UInt64($0) }
    default:
        FileHandle.standardError.write("usage: TinyGenerate [-p PROMPT] [-n TOKENS] [--temp T] [--seed S] [--json]\n".data(using: .utf8)!)
        exit(2)
    }
}

guard let bundle = Bundle.module.url(forResource: "tiny-llama", withExtension: "sieve") else {
    FileHandle.standardError.write("error: the packed tiny-llama.sieve resource is missing; rebuild the package.\n".data(using: .utf8)!)
    exit(1)
}
do {
    let model = try await LanguageModel.load(contentsOf: bundle, options: .init(threads: 2))
    let parameters = GenerationParameters(maxTokens: tokens, sampling: .init(temperature: temperature, seed: seed))
    var generated: [Int] = []
    var text = ""
    for try await piece in model.generate(prompt, parameters) {
        if let token = piece.token { generated.append(token) }
        text += piece.text
        if !json { print(piece.text, terminator: "") }
    }
    if json {
        let object: [String: Any] = ["bundle": bundle.path, "tokens": generated, "text": text]
        print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
    } else {
        print()
    }
} catch {
    FileHandle.standardError.write("error: \(error.localizedDescription)\n".data(using: .utf8)!)
    exit(1)
}
