import ArgumentParser
import SieveCore

/// `sieve formats`: lists the registered format plugins.
struct Formats: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the registered file formats.")

    func run() throws {
        for plugin in FormatSetup.registry.all {
            let exts = plugin.fileExtensions.map { "." + $0 }.joined(separator: " ")
            print("\(plugin.name.padding(toLength: 12, withPad: " ", startingAt: 0)) \(exts.padding(toLength: 14, withPad: " ", startingAt: 0)) read\(plugin.canWrite ? ", write" : "")")
        }
    }
}
