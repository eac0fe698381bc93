import Foundation
import SieveCore

/// Measures how fast a tokenizer loads, encodes and decodes; `sieve bench` prints its table. Wall-clock
/// numbers are for reports only: no test asserts them.
public enum TokenizerBenchmark {
    /// The measurements of one tokenizer.
    public struct Result: Sendable {
        /// A label (usually the model or vocabulary name).
        public var name: String
        public var vocabularySize: Int
        /// Building the `Tokenizer` from its description.
        public var loadSeconds: Double
        /// Encoding the text (best of the repetitions).
        public var encodeSeconds: Double
        /// Decoding the ids back to text.
        public var decodeSeconds: Double
        /// Size of the text in UTF-8 bytes.
        public var bytes: Int
        /// Number of tokens the text gave.
        public var tokens: Int
        /// Whether decoding gave the text back exactly.
        public var roundTrips: Bool

        /// Encoding throughput in MB (10^6 bytes) per second.
        public var encodeMegabytesPerSecond: Double { Double(bytes) / 1e6 / max(encodeSeconds, 1e-9) }
    }

    /// Builds a tokenizer from `description` (timed), encodes `text` `repetitions` times keeping the best time,
    /// then decodes the ids once.
    public static func run(name: String, description: TokenizerDescription, text: String, repetitions: Int = 3) throws -> Result {
        let clock = ContinuousClock()
        var tokenizer: Tokenizer?
        let load = try clock.measure { tokenizer = try Tokenizer(description) }
        guard let tokenizer else { throw TokenizerError.invalidVocabulary(reason: "the tokenizer could not be built") }
        var ids: [Int] = []
        var best = Duration.seconds(Int64.max)
        for _ in 0..<max(1, repetitions) {
            best = min(best, clock.measure { ids = tokenizer.encode(text, addSpecial: false) })
        }
        var decoded = ""
        let decode = clock.measure { decoded = tokenizer.decode(ids) }
        return Result(name: name, vocabularySize: tokenizer.vocabularySize, loadSeconds: seconds(load),
                      encodeSeconds: seconds(best), decodeSeconds: seconds(decode), bytes: text.utf8.count,
                      tokens: ids.count, roundTrips: decoded == text)
    }

    private static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    /// A deterministic text of about `bytes` UTF-8 bytes mixing English prose, code, numbers, punctuation,
    /// whitespace runs and a few non-Latin scripts, so every branch of the pre-tokenizers is exercised.
    public static func sampleText(bytes: Int) -> String {
        let words = ["the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on",
                     "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "they",
                     "you", "were", "software", "license", "program", "distribute", "modify", "tokenizer", "Sieve",
                     "sparse", "attention", "neurons", "predictor", "contextual", "inference", "quantization",
                     "Hello", "World", "don't", "it's", "we've", "I'll", "they're", "naïve", "café", "Äpfel",
                     "нещо", "Български", "日本語", "我想在", "工作", "🦙", "🚀", "über", "€12,345.67", "3.14159",
                     "2024", "1314151", "(normal)", "[x]", "{y}", "<z>", "foo_bar", "fooBar", "x+=1;", "==", "->",
                     "#include", "return", "self.x", "def", "fn", "let", "var", "'quoted'", "\"double\"", "--flag"]
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        func next() -> Int {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return Int(truncatingIfNeeded: state >> 1)
        }
        var out = ""
        out.reserveCapacity(bytes + 64)
        var count = 0
        while count < bytes {
            let word = words[next() % words.count]
            let separator: String
            switch next() % 40 {
            case 0: separator = ".\n"
            case 1: separator = "\n\n    "
            case 2: separator = ", "
            case 3: separator = "  "
            case 4: separator = "\t"
            case 5: separator = "! "
            default: separator = " "
            }
            out += word
            out += separator
            count += word.utf8.count + separator.utf8.count
        }
        return out
    }

    /// The results as an aligned text table.
    public static func table(_ results: [Result]) -> String {
        var lines = ["tokenizer            vocab   load ms   MB/s encode   tokens      decode ms  round trip"]
        for r in results {
            lines.append(String(format: "%-18@ %8d %9.1f %12.2f %9d %12.1f  %@", r.name as NSString, r.vocabularySize,
                                r.loadSeconds * 1000, r.encodeMegabytesPerSecond, r.tokens, r.decodeSeconds * 1000,
                                (r.roundTrips ? "yes" : "NO") as NSString))
        }
        return lines.joined(separator: "\n")
    }
}
