import Foundation
import SieveCore

/// Measures how fast a tokenizer loads, encodes and decodes; `sieve bench` prints its table. Wall-clock
/// numbers are for reports only: no test asserts them. The CPU time of the measuring thread is recorded too,
/// because on a busy machine it is the steadier figure.
public enum TokenizerBenchmark {
    /// The measurements of one tokenizer.
    public struct Result: Sendable {
        /// A label (usually the model or vocabulary name).
        public var name: String
        /// Number of tokens in the vocabulary.
        public var vocabularySize: Int
        /// Building the `Tokenizer` from its description.
        public var loadSeconds: Double
        /// CPU time of the measuring thread while building the tokenizer.
        public var loadCPUSeconds: Double
        /// Encoding the text (best of the repetitions).
        public var encodeSeconds: Double
        /// CPU time of the measuring thread for that best encoding.
        public var encodeCPUSeconds: Double
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
        let loadCPUStart = threadCPUSeconds()
        let load = try clock.measure { tokenizer = try Tokenizer(description) }
        let loadCPU = threadCPUSeconds() - loadCPUStart
        guard let tokenizer else { throw TokenizerError.invalidVocabulary(reason: "the tokenizer could not be built") }
        var ids: [Int] = []
        var best = Duration.seconds(Int64.max)
        var bestCPU = Double.infinity
        for _ in 0..<max(1, repetitions) {
            let cpuStart = threadCPUSeconds()
            best = min(best, clock.measure { ids = tokenizer.encode(text, addSpecial: false) })
            bestCPU = min(bestCPU, threadCPUSeconds() - cpuStart)
        }
        var decoded = ""
        let decode = clock.measure { decoded = tokenizer.decode(ids) }
        return Result(name: name, vocabularySize: tokenizer.vocabularySize, loadSeconds: seconds(load), loadCPUSeconds: loadCPU,
                      encodeSeconds: seconds(best), encodeCPUSeconds: bestCPU, decodeSeconds: seconds(decode),
                      bytes: text.utf8.count, tokens: ids.count, roundTrips: decoded == text)
    }

    /// CPU time consumed by the calling thread.
    private static func threadCPUSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
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

    /// The results as an aligned text table (times in milliseconds; CPU = the measuring thread's CPU time).
    public static func table(_ results: [Result]) -> String {
        var lines = ["tokenizer                 vocab  load ms  load CPU  encode ms  encode CPU   MB/s   tokens  decode ms  round trip"]
        for r in results {
            let name = r.name.count >= 22 ? r.name : r.name + String(repeating: " ", count: 22 - r.name.count)
            lines.append(String(format: "%@ %8d %8.1f %9.1f %10.1f %11.1f %6.1f %8d %10.1f  %@", name as NSString,
                                r.vocabularySize, r.loadSeconds * 1000, r.loadCPUSeconds * 1000, r.encodeSeconds * 1000,
                                r.encodeCPUSeconds * 1000, r.encodeMegabytesPerSecond, r.tokens, r.decodeSeconds * 1000,
                                (r.roundTrips ? "yes" : "no") as NSString))
        }
        return lines.joined(separator: "\n")
    }
}
