import Foundation
import SieveFuzzTargets
import Testing

/// Replays every fuzz seed and every input the fuzzer ever found to crash, hang or over-allocate
/// (`Fuzz/regressions/TARGET/`) through the same target functions `sieve-fuzz` runs: each must be accepted or
/// rejected with an error, quickly.
@Suite("Fuzz corpora and regressions replay cleanly")
struct FuzzRegressionTests {
    static func inputs(_ kind: String, _ target: String) -> [URL] {
        let folder = FuzzTargets.fuzzFolder.appendingPathComponent("\(kind)/\(target)")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.sorted().filter { !$0.hasPrefix(".") && $0 != "README.md" }.map { folder.appendingPathComponent($0) }
    }

    @Test("every target has a seed corpus", arguments: FuzzTargets.names)
    func corpusExists(target: String) {
        #expect(!Self.inputs("corpus", target).isEmpty, "Fuzz/corpus/\(target) is empty")
    }

    @Test("seeds and regressions replay without a crash, each in under a second", arguments: FuzzTargets.names)
    func replay(target: String) throws {
        let workspace = try FuzzTargets.Workspace()
        var rejected = 0
        let files = Self.inputs("corpus", target) + Self.inputs("regressions", target)
        for url in files {
            let input = Array(try Data(contentsOf: url))
            let start = Date()
            if let error = try FuzzTargets.run(target, input, in: workspace) {
                rejected += 1
                // A rejection is a LocalizedError with a message, never a bare error.
                #expect((error as? LocalizedError)?.errorDescription?.isEmpty == false, "\(url.lastPathComponent): \(error)")
            }
            #expect(Date().timeIntervalSince(start) < 1.0, "\(url.lastPathComponent) took too long")
        }
        // Regression inputs are all malformed (they crashed a reader once); they must be rejected now.
        let regressions = Self.inputs("regressions", target).count
        #expect(rejected >= regressions || target == "chat-template")
    }
}
