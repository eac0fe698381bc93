import Foundation

/// Options for writing a model.
public struct WriteOptions: Sendable {
    /// Target dtype for floating-point weight tensors; nil keeps each tensor's dtype.
    public var dtype: DType?
    /// Replace an existing output file.
    public var overwrite: Bool
    /// Called after each tensor is written with (tensors done, tensor count, tensor name).
    public var progress: (@Sendable (Int, Int, String) -> Void)?
    /// zstd compression level (1…22) for formats that compress (the `.sieve` bundle); others ignore it.
    public var zstdLevel: Int

    /// Options with the given values (defaults: keep dtypes, refuse to overwrite, no progress, zstd level 3).
    public init(dtype: DType? = nil, overwrite: Bool = false, progress: (@Sendable (Int, Int, String) -> Void)? = nil,
                zstdLevel: Int = 3) {
        self.dtype = dtype
        self.overwrite = overwrite
        self.progress = progress
        self.zstdLevel = zstdLevel
    }
}

/// One tensor-level entry of a file that may or may not be a whole model.
public struct TensorInfo: Sendable, Equatable {
    /// The tensor's name in the file.
    public var name: String
    /// Element type.
    public var dtype: DType
    /// Shape, outermost dimension first.
    public var shape: Shape
    /// Bytes the tensor's data takes in the file.
    public var byteCount: Int
    /// An entry with the given name, type, shape and size.
    public init(name: String, dtype: DType, shape: Shape, byteCount: Int) {
        self.name = name; self.dtype = dtype; self.shape = shape; self.byteCount = byteCount
    }
}

/// A low-level view of a tensor file: tensors under the file's own names plus its metadata.
public struct TensorFile: @unchecked Sendable {
    /// The file or folder read.
    public var url: URL
    /// Tensors under the file's own names, in file order.
    public var tensors: TensorStore
    /// File-level metadata as strings (safetensors `__metadata__`, GGUF key/values rendered as text).
    public var metadata: [(String, String)]
    /// A view of `url` with its tensors and metadata.
    public init(url: URL, tensors: TensorStore, metadata: [(String, String)]) {
        self.url = url; self.tensors = tensors; self.metadata = metadata
    }
}

/// A file format Sieve reads and possibly writes. Conforming types register with `FormatRegistry`.
public protocol FormatPlugin: Sendable {
    /// The format's name (`safetensors`, `gguf`, `sieve`).
    var name: String { get }
    /// File extensions the format claims, without the dot.
    var fileExtensions: [String] { get }
    /// Whether `write` is implemented.
    var canWrite: Bool { get }
    /// Whether the format recognises `url` (by its magic bytes, extension, or — for folders — contents).
    func claims(_ url: URL) -> Bool
    /// Reads the tensors and metadata under the file's own names, without interpreting them as a model.
    func readTensors(_ url: URL) throws -> TensorFile
    /// Reads a whole model into the IR.
    func read(_ url: URL) throws -> ModelGraph
    /// Writes a model (atomically: a temporary file renamed into place).
    func write(_ graph: ModelGraph, to url: URL, options: WriteOptions) throws
}

extension FormatPlugin {
    /// Formats are read-only unless they say otherwise.
    public var canWrite: Bool { false }
    /// Throws `unsupportedOperation` (the default for read-only formats).
    public func write(_ graph: ModelGraph, to url: URL, options: WriteOptions) throws {
        throw SieveCoreError.unsupportedOperation(format: name, operation: "writing")
    }
}

/// The registry of format plugins, keyed by name. Faces (the CLI, the umbrella library) register plugins;
/// nothing else imports a format plugin.
public final class FormatRegistry: @unchecked Sendable {
    /// The process-wide registry.
    public static let shared = FormatRegistry()

    private let lock = NSLock()
    private var plugins: [FormatPlugin] = []

    /// An empty registry (most code uses `shared`).
    public init() {}

    /// Registers a plugin (replacing one with the same name).
    public func register(_ plugin: FormatPlugin) {
        lock.lock(); defer { lock.unlock() }
        plugins.removeAll { $0.name == plugin.name }
        plugins.append(plugin)
    }

    /// Registered plugin names, in registration order.
    public var names: [String] {
        lock.lock(); defer { lock.unlock() }
        return plugins.map(\.name)
    }

    /// All registered plugins.
    public var all: [FormatPlugin] {
        lock.lock(); defer { lock.unlock() }
        return plugins
    }

    /// Whether a plugin called `name` is registered.
    public func contains(_ name: String) -> Bool { plugin(named: name) != nil }

    /// The plugin called `name`, or nil.
    public func plugin(named name: String) -> FormatPlugin? {
        lock.lock(); defer { lock.unlock() }
        return plugins.first { $0.name == name.lowercased() }
    }

    /// The plugin that claims `url`; throws `unknownFormat` when none does.
    public func plugin(for url: URL) throws -> FormatPlugin {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw SieveCoreError.cannotOpen(path: url.path, reason: "no such file or directory")
        }
        if let p = all.first(where: { $0.claims(url) }) { return p }
        throw SieveCoreError.unknownFormat(path: url.path, registered: names)
    }

    /// The plugin for an output path, chosen by its extension; throws when no plugin claims it.
    public func plugin(forOutput url: URL) throws -> FormatPlugin {
        let ext = url.pathExtension.lowercased()
        if let p = all.first(where: { $0.fileExtensions.contains(ext) }) { return p }
        throw SieveCoreError.unknownOutputFormat(path: url.path, registered: names)
    }
}
