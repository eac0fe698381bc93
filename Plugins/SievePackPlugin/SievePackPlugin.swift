import Foundation
import PackagePlugin

/// Packs a model into a `.sieve` bundle at build time and adds it to the target's resources.
///
/// The target's folder holds a `sieve.json` (exclude it from the target's sources in the manifest):
///
/// ```json
/// {
///   "model": "../../Models/tiny-llama.gguf",
///   "output": "tiny-llama.sieve",
///   "options": { "calibration-tokens": 1024, "rank": 16, "predictor": "svd" }
/// }
/// ```
///
/// `model` is relative to the config file (a file or a Hugging Face folder); `output` is the bundle's file name
/// (default: the model's name with `.sieve`); `options` are `sieve pack` options without their dashes
/// (`calibration` may name text files, relative to the config file). They are run by `SievePackTool`, which packs
/// with the library API (`Packer.pack(contentsOf:…)`) and leaves out the CLI's HTTP server, so an app's build only
/// compiles what the app links. The bundle is then `Bundle.module.url(forResource:withExtension:)`. The command
/// declares the config, the model's files and the calibration files as inputs, so SwiftPM reruns the pack only when
/// one of them (or the tool) changes.
@main
struct SievePackPlugin: BuildToolPlugin {
    /// The pack command for `target`, or none when its folder has no `sieve.json`.
    func createBuildCommands(context: PluginContext, target: Target) async throws -> [Command] {
        let configURL = target.directoryURL.appending(path: "sieve.json")
        guard FileManager.default.fileExists(atPath: configURL.path) else { return [] }
        let config = try PackConfig(contentsOf: configURL)
        let output = context.pluginWorkDirectoryURL.appending(path: config.output)
        let arguments = [config.model.path, "-o", output.path] + config.arguments
        return [.buildCommand(
            displayName: "Packing \(config.model.lastPathComponent) into \(config.output)",
            executable: try context.tool(named: "SievePackTool").url,
            arguments: arguments,
            inputFiles: [configURL] + config.inputFiles,
            outputFiles: [output])]
    }
}

/// A target's `sieve.json`, resolved against the file's folder.
struct PackConfig {
    /// The dense source model.
    var model: URL
    /// The bundle's file name.
    var output: String
    /// `sieve pack` options.
    var arguments: [String]
    /// Every file the pack reads (the model's files, calibration texts).
    var inputFiles: [URL]

    init(contentsOf url: URL) throws {
        let base = url.deletingLastPathComponent()
        let file: ConfigFile
        do {
            file = try JSONDecoder().decode(ConfigFile.self, from: try Data(contentsOf: url))
        } catch let error as PackConfigError {
            throw error
        } catch {
            throw PackConfigError(file: url, problem: "is not a valid pack config (\(error)); it needs {\"model\": path, \"output\": name, \"options\": {…}}")
        }
        guard !file.model.isEmpty else {
            throw PackConfigError(file: url, problem: "needs \"model\": the path of the model to pack, relative to sieve.json")
        }
        model = URL(fileURLWithPath: file.model, relativeTo: base).standardizedFileURL
        guard FileManager.default.fileExists(atPath: model.path) else {
            throw PackConfigError(file: url, problem: "names the model \(model.path), which does not exist")
        }
        output = file.output ?? (model.deletingPathExtension().lastPathComponent + ".sieve")
        guard !output.isEmpty, !output.contains("/") else {
            throw PackConfigError(file: url, problem: "\"output\" must be a file name such as model.sieve")
        }
        inputFiles = Self.files(at: model)
        arguments = []
        for (key, value) in (file.options ?? [:]).sorted(by: { $0.key < $1.key }) {
            let flag = "--" + key
            switch value {
            case let .flag(on):
                if on { arguments.append(flag) }
            case let .integer(n):
                arguments += [flag, String(n)]
            case let .number(x):
                arguments += [flag, String(x)]
            case let .text(text) where key == "calibration":
                let path = URL(fileURLWithPath: text, relativeTo: base).standardizedFileURL
                arguments += [flag, path.path]
                inputFiles.append(path)
            case let .text(text):
                arguments += [flag, text]
            case let .texts(texts):
                let values = key == "calibration" ? texts.map { URL(fileURLWithPath: $0, relativeTo: base).standardizedFileURL } : []
                inputFiles += values
                arguments += [flag] + (key == "calibration" ? values.map(\.path) : texts)
            }
        }
    }

    /// The files under `url` (itself when it is a file).
    static func files(at url: URL) -> [URL] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else { return [url] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
        return names.sorted().map { url.appending(path: $0) }.filter {
            var dir: ObjCBool = false
            return FileManager.default.fileExists(atPath: $0.path, isDirectory: &dir) && !dir.boolValue
        }
    }
}

/// The JSON shape of `sieve.json`.
private struct ConfigFile: Decodable {
    var model: String
    var output: String?
    var options: [String: OptionValue]?
}

/// One `sieve pack` option's value: a flag (true/false), a number, a text or a list of texts.
private enum OptionValue: Decodable {
    case flag(Bool), integer(Int), number(Double), text(String), texts([String])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let v = try? c.decode(Bool.self) { self = .flag(v) }
        else if let v = try? c.decode(Int.self) { self = .integer(v) }
        else if let v = try? c.decode(Double.self) { self = .number(v) }
        else if let v = try? c.decode(String.self) { self = .text(v) }
        else { self = .texts(try c.decode([String].self)) }
    }
}

/// A malformed `sieve.json`, with the file and what to fix.
struct PackConfigError: Error, CustomStringConvertible {
    var file: URL
    var problem: String
    var description: String { "\(file.path): \(problem)" }
}
