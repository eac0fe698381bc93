import Foundation
import Sieve
import Testing

/// Builds `Examples/TinyGenerate` (a package that depends on Sieve by path and packs tiny-llama into a bundle resource
/// with SievePackPlugin at build time) and runs it. Set SIEVE_SKIP_EXAMPLE=1 to skip (it builds Sieve a second time,
/// in debug, in `.build/examples/TinyGenerate-…`).
@Suite(.serialized) struct ExamplePackageTests {
    static let example = Repository.root.appendingPathComponent("Examples/TinyGenerate")
    /// The example's build folder, one per state of Sieve's sources and plugins. In a folder that had built the
    /// example before, SwiftPM built the path dependency from its earlier file list (a source file added to
    /// SieveKernels was not compiled, and SieveRuntime, which used it, failed), and after a field was added to
    /// `PackOptions` the build-time pack tool read another field's bytes (`--predictor-dtype f64`). Each state
    /// therefore builds in a fresh folder (about 95 s on 2 cores, against 20 s incrementally); folders of earlier
    /// states are removed.
    static let scratch: URL = {
        let examples = Repository.root.appendingPathComponent(".build/examples")
        let name = "TinyGenerate-" + String(sourceFingerprint(), radix: 16)
        for old in (try? FileManager.default.contentsOfDirectory(atPath: examples.path)) ?? []
        where old.hasPrefix("TinyGenerate") && old != name {
            try? FileManager.default.removeItem(at: examples.appendingPathComponent(old))
        }
        return examples.appendingPathComponent(name)
    }()

    /// FNV-1a of the sorted relative paths and the contents of the files under `Sources` and `Plugins`.
    static func sourceFingerprint() -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func add<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
            for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0100_0000_01b3 }
        }
        for folder in ["Sources", "Plugins"] {
            let root = Repository.root.appendingPathComponent(folder)
            let paths = (FileManager.default.enumerator(atPath: root.path)?.compactMap { $0 as? String } ?? []).sorted()
            for path in paths {
                add((folder + "/" + path + "\n").utf8)
                if let data = FileManager.default.contents(atPath: root.appendingPathComponent(path).path) { add(data) }
            }
        }
        return hash
    }
    static let enabled = ProcessInfo.processInfo.environment["SIEVE_SKIP_EXAMPLE"] == nil

    /// The environment of nested SwiftPM runs: the outer `swift test`'s own settings left out.
    static var environment: [String: String] {
        ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SWIFTPM_") && $0.key != "XCTestConfigurationFilePath" }
    }

    /// `swift build` of the example (debug: several times quicker to compile than release), returning its bin folder.
    static func build() throws -> URL {
        let swift = URL(fileURLWithPath: "/usr/bin/env")
        let common = ["swift", "build", "--package-path", example.path, "--scratch-path", scratch.path]
        let start = Date()
        let built = try runProcess(swift, common, environment: Self.environment)
        guard built.status == 0 else {
            throw ExampleBuildError(message: "swift build of \(example.path) failed:\n\(built.stdout)\n\(built.stderr)")
        }
        print("built Examples/TinyGenerate in \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
        let binPath = try runProcess(swift, common + ["--show-bin-path"], environment: Self.environment)
        return URL(fileURLWithPath: binPath.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    @Test("the example packs tiny-llama at build time; its bundle resource loads and generates the CLI's tokens",
          .enabled(if: enabled, "SIEVE_SKIP_EXAMPLE is set"), .timeLimit(.minutes(15)))
    func buildAndRun() async throws {
        let bin = try Self.build()
        let prompt = "The quick brown fox"

        // Greedy: the app's tokens equal `sieve run BUNDLE --temp 0` on the same bundle.
        let app = try runProcess(bin.appendingPathComponent("TinyGenerate"), ["-p", prompt, "-n", "12", "--json"])
        #expect(app.status == 0, "\(app.stderr)")
        let output = try parseJSONObject(app.stdout)
        let bundlePath = try #require(output["bundle"] as? String)
        let tokens = try #require(output["tokens"] as? [Int])
        #expect(tokens.count >= 1 && tokens.count <= 12)

        // The resource is the plugin's output: a valid bundle packed from tiny-llama's q8_0.gguf with sieve.json's options.
        #expect(bundlePath.hasSuffix("tiny-llama.sieve"))
        let bundle = try BundleFile.open(URL(fileURLWithPath: bundlePath))
        #expect(bundle.manifest.provenance.source?.name == "q8_0.gguf")
        let passes = bundle.manifest.provenance.passes.map(\.name)
        #expect(!passes.isEmpty)
        let graph = try bundle.readGraph()
        #expect(graph.blocks.allSatisfy { if case .dense = $0.feedForward.layout { return false } else { return true } })

        // `sieve run` on the same bundle, greedy and sampled with a seed; the library in this (release) test process
        // must give exactly its tokens, and the example app (a debug build) the same ones up to the first near-tie
        // that debug and release float reductions break differently (random weights make near-ties common).
        let cli = try runProcess(Repository.cli, ["run", bundlePath, "-p", prompt, "-n", "12", "--temp", "0", "--json", "-t", "2"])
        #expect(cli.status == 0, "\(cli.stderr)")
        let cliTokens = try #require(try parseJSONObject(cli.stdout)["tokens"] as? [Int])
        let model = try await LanguageModel.load(contentsOf: URL(fileURLWithPath: bundlePath), options: .init(threads: 2))
        let greedy = try await model.complete(.text(prompt), GenerationParameters(maxTokens: 12, sampling: .greedy))
        #expect(greedy.tokens == cliTokens)
        #expect(Array(tokens.prefix(8)) == Array(cliTokens.prefix(8)), "app \(tokens), CLI \(cliTokens)")
        print("example app: \(tokens), sieve run: \(cliTokens)")

        let seeded = try runProcess(bin.appendingPathComponent("TinyGenerate"),
                                    ["-p", prompt, "-n", "12", "--temp", "0.8", "--seed", "42", "--json"])
        #expect(seeded.status == 0, "\(seeded.stderr)")
        let seededTokens = try #require(try parseJSONObject(seeded.stdout)["tokens"] as? [Int])
        let cliSeeded = try runProcess(Repository.cli, ["run", bundlePath, "-p", prompt, "-n", "12", "--temp", "0.8",
                                                        "--seed", "42", "--json", "-t", "2"])
        #expect(cliSeeded.status == 0, "\(cliSeeded.stderr)")
        let cliSeededTokens = try #require(try parseJSONObject(cliSeeded.stdout)["tokens"] as? [Int])
        model.reset()
        let sampled = try await model.complete(.text(prompt), GenerationParameters(
            maxTokens: 12, sampling: SamplingParameters(temperature: 0.8, seed: 42)))
        #expect(sampled.tokens == cliSeededTokens)
        #expect(Array(seededTokens.prefix(8)) == Array(cliSeededTokens.prefix(8)), "app \(seededTokens), CLI \(cliSeededTokens)")

        // The README's usage program (the example's Hello target) runs on the same bundle.
        let hello = try runProcess(bin.appendingPathComponent("Hello"), [bundlePath])
        #expect(hello.status == 0, "\(hello.stderr)")
        #expect(hello.stdout.contains("perplexity: "))
    }

    @Test("a second build with nothing changed does not pack again (the plugin's inputs and outputs are declared)",
          .enabled(if: enabled, "SIEVE_SKIP_EXAMPLE is set"), .timeLimit(.minutes(15)))
    func incrementalBuild() throws {
        let bin = try Self.build()
        let bundle = bin.appendingPathComponent("TinyGenerate_TinyGenerate.resources/tiny-llama.sieve")
        let before = try FileManager.default.attributesOfItem(atPath: bundle.path)[.modificationDate] as? Date
        _ = try Self.build()
        let after = try FileManager.default.attributesOfItem(atPath: bundle.path)[.modificationDate] as? Date
        #expect(before != nil && before == after)
    }

    /// The command plugin's test builds the whole CLI in debug, HTTP server (swift-nio, Hummingbird) included, a few
    /// minutes on two cores: it runs when SIEVE_PLUGIN_TESTS=1.
    static let pluginTests = ProcessInfo.processInfo.environment["SIEVE_PLUGIN_TESTS"] == "1"

    @Test("`swift package sieve inspect` (the command plugin, here from the example package) prints what the CLI prints",
          .enabled(if: enabled && pluginTests, "set SIEVE_PLUGIN_TESTS=1"), .timeLimit(.minutes(20)))
    func commandPlugin() throws {
        _ = try Self.build()
        let fixture = "../../Tests/Fixtures/models/tiny-llama/q8_0.gguf"
        let package = ["swift", "package", "--package-path", Self.example.path, "--scratch-path", Self.scratch.path]
        let plugin = try runProcess(URL(fileURLWithPath: "/usr/bin/env"),
                                    package + ["--allow-writing-to-package-directory", "sieve", "inspect", fixture],
                                    environment: Self.environment)
        #expect(plugin.status == 0, "\(plugin.stderr)")
        let cli = try runProcess(Repository.cli, ["inspect", Repository.tinyLlama.appendingPathComponent("q8_0.gguf").path])
        #expect(cli.status == 0)
        // The same report after its `file:` line (the path is relative to the example package there, absolute here);
        // SwiftPM may print build lines before it.
        func report(_ text: String) -> [Substring] {
            let lines = text.split(separator: "\n")
            return Array(lines.drop { !$0.hasPrefix("file:") }.dropFirst())
        }
        #expect(!report(cli.stdout).isEmpty)
        #expect(report(plugin.stdout) == report(cli.stdout))
        #expect(plugin.stdout.contains("llama"))

        // Without the permission (not at a terminal) SwiftPM refuses to run it and says how to allow it.
        let refused = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), package + ["sieve", "inspect", fixture],
                                     environment: Self.environment)
        #expect(refused.status != 0)
        #expect((refused.stdout + refused.stderr).contains("allow-writing-to-package-directory"))
    }

    @Test("the README's usage program is the example's Hello/main.swift, word for word")
    func readmeProgram() throws {
        let readme = try String(contentsOf: Repository.root.appendingPathComponent("README.md"), encoding: .utf8)
        let hello = try String(contentsOf: Self.example.appendingPathComponent("Sources/Hello/main.swift"), encoding: .utf8)
        let marker = "<!-- usage-program: Examples/TinyGenerate/Sources/Hello/main.swift -->\n```swift\n"
        let start = try #require(readme.range(of: marker), "README.md lacks the usage program marker")
        let end = try #require(readme.range(of: "\n```", range: start.upperBound..<readme.endIndex))
        #expect(String(readme[start.upperBound..<end.lowerBound]) + "\n" == hello)
    }
}

/// The example package failed to build (the message holds SwiftPM's output).
struct ExampleBuildError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
