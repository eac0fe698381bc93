import Foundation
import PackagePlugin

/// `swift package sieve <subcommand> …`: runs the `sieve` CLI (inspect, convert, pack, run, perplexity, bench,
/// formats) from the package's root folder, so relative paths name files in the package.
///
/// The plugin declares write access to the package folder (convert and pack write model files there): SwiftPM asks
/// for it when the command runs, or pass `--allow-writing-to-package-directory` when running non-interactively.
@main
struct SieveCommandPlugin: CommandPlugin {
    /// Runs the CLI with the plugin's arguments and fails when it fails.
    func performCommand(context: PluginContext, arguments: [String]) async throws {
        let tool = try context.tool(named: "sieve")
        let process = Process()
        process.executableURL = tool.url
        process.arguments = arguments.isEmpty ? ["--help"] : arguments
        process.currentDirectoryURL = context.package.directoryURL
        try process.run()
        process.waitUntilExit()
        guard process.terminationReason == .exit && process.terminationStatus == 0 else {
            Diagnostics.error("sieve \(arguments.joined(separator: " ")) failed with exit status \(process.terminationStatus)")
            throw SieveCommandPluginError.failed(status: process.terminationStatus)
        }
    }
}

/// The CLI run by the plugin failed (its own message is already on standard error).
enum SieveCommandPluginError: Error, CustomStringConvertible {
    case failed(status: Int32)

    var description: String {
        switch self {
        case let .failed(status): return "the sieve command failed (exit status \(status)); see its message above"
        }
    }
}
