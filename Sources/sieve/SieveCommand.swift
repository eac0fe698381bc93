import ArgumentParser
import BundleFormat
import Foundation
import GGUFFormat
import SafetensorsFormat
import SieveCore

/// The `sieve` command-line tool: convert, inspect, pack and run models on the CPU.
@main
struct SieveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sieve",
        abstract: "Convert checkpoints, pack contextually sparse bundles and run language models on the CPU.",
        discussion: "Registered formats: \(FormatSetup.registry.names.joined(separator: ", ")) (see `sieve formats`).",
        subcommands: [Run.self, Serve.self, PerplexityCommand.self, Bench.self, Pack.self, Inspect.self, Convert.self, Verify.self, Formats.self])

    static func main() async {
        FormatSetup.registerAll()
        do {
            var command = try parseAsRoot()
            // `serve` handles SIGTERM/SIGINT itself (graceful shutdown).
            if !(command is Serve) { TemporaryFileRegistry.installSignalHandlers() }
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

/// Registers the format plugins this face ships with.
enum FormatSetup {
    static var registry: FormatRegistry {
        registerAll()
        return FormatRegistry.shared
    }

    static func registerAll() {
        let r = FormatRegistry.shared
        if !r.contains("safetensors") { r.register(SafetensorsPlugin()) }
        if !r.contains("gguf") { r.register(GGUFPlugin()) }
        if !r.contains("sieve") { r.register(BundlePlugin()) }
    }
}

/// Turns library errors into a one-line message and a non-zero exit, without a stack trace.
struct CLIError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// Runs `body`, reporting a thrown library error as its one-line description (ArgumentParser prints it after
/// `Error: ` on stderr and exits non-zero).
func reportingErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as LocalizedError {
        throw CLIError(message: error.errorDescription ?? "\(error)")
    }
}

/// Largest text file the commands read (prompts, perplexity and calibration texts, templates).
let maxTextFileBytes = 1 << 30

/// The UTF-8 text of the file `path` given to `option` (`-f`, `--calibration`, …), read whole: errors name the file
/// and the option.
func readTextFile(_ path: String, option: String) throws -> String {
    let unreadable = CLIError(message: "\(path): cannot read the file given to \(option): no such file, or not readable. Check the path.")
    // The size is checked before the file is read.
    guard let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? Int else { throw unreadable }
    guard size <= maxTextFileBytes else {
        throw CLIError(message: "\(path): \(size) bytes, more than the \(maxTextFileBytes >> 30) GiB a text for \(option) may have. Give a shorter text.")
    }
    guard let data = FileManager.default.contents(atPath: path) else { throw unreadable }
    guard let text = String(data: data, encoding: .utf8) else {
        throw CLIError(message: "\(path): the file given to \(option) is not UTF-8 text. Convert it (for example with iconv -t UTF-8).")
    }
    return text
}
