import BundleFormat
import Foundation
import GGUFFormat
import SafetensorsFormat
import SieveCore

/// The format plugins Sieve ships with: safetensors (files and Hugging Face folders), GGUF and the `.sieve` bundle.
///
/// `LanguageModel.load`, `Converter.convert(_:to:…)`, `Packer.pack(contentsOf:…)` and
/// `InspectionReport(contentsOf:)` register them in `FormatRegistry.shared` before they read a file; call
/// `register()` yourself only when you use the registry directly.
public enum BuiltInFormats {
    private static let lock = NSLock()

    /// The names of the built-in formats, in registration order.
    public static let names = ["safetensors", "gguf", "sieve"]

    /// Registers every built-in format that `registry` does not hold yet and returns the registry.
    @discardableResult
    public static func register(in registry: FormatRegistry = .shared) -> FormatRegistry {
        lock.lock(); defer { lock.unlock() }
        if !registry.contains("safetensors") { registry.register(SafetensorsPlugin()) }
        if !registry.contains("gguf") { registry.register(GGUFPlugin()) }
        if !registry.contains("sieve") { registry.register(BundlePlugin()) }
        return registry
    }

    /// Reads the model at `url` into the IR with the built-in format that claims it.
    public static func read(_ url: URL, registry: FormatRegistry = .shared) throws -> ModelGraph {
        guard FileManager.default.fileExists(atPath: url.path) else { throw SieveError.fileNotFound(path: url.path) }
        return try register(in: registry).plugin(for: url).read(url)
    }
}

extension InspectionReport {
    /// Inspects the model file or Hugging Face folder at `url` (what `sieve inspect` prints), with the built-in
    /// formats registered.
    public init(contentsOf url: URL) throws {
        guard FileManager.default.fileExists(atPath: url.path) else { throw SieveError.fileNotFound(path: url.path) }
        try self.init(url: url, registry: BuiltInFormats.register())
    }
}

extension Converter {
    /// Converts the model at `input` to `output` (format from `format` or the output's extension, weights to
    /// `dtype` or kept as they are), tensor by tensor on a background thread, written atomically. `progress` is
    /// called after each tensor with (tensors done, tensor count, tensor name).
    @discardableResult
    public static func convert(_ input: URL, to output: URL, format: String? = nil, dtype: DType? = nil,
                               overwrite: Bool = false,
                               progress: (@Sendable (Int, Int, String) -> Void)? = nil) async throws -> ModelGraph {
        guard FileManager.default.fileExists(atPath: input.path) else { throw SieveError.fileNotFound(path: input.path) }
        let registry = BuiltInFormats.register()
        return try await runOnWorkerThread {
            try convert(from: input, to: output, format: format, dtype: dtype, overwrite: overwrite, registry: registry,
                        progress: progress)
        }
    }
}

/// Runs blocking work (model loading, packing, a forward pass) on its own thread with a large stack, so it never
/// occupies a thread of Swift's cooperative pool.
///
/// The work (and what it captured, e.g. a `LanguageModel`) is released before the thread's body returns: Foundation
/// releases a thread's block only when the thread exits, among its thread-specific-data destructors, and a model
/// deinitialized there crashed the process now and then (signal 11 in `LanguageModel`'s deinit, `packAndRun`).
func runOnWorkerThread<T>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    let work = WorkerThreadBody(body)
    return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
        let thread = Thread {
            let result = Result { try work.run() }
            continuation.resume(with: result)
        }
        thread.stackSize = 8 << 20
        thread.start()
    }
}

/// A closure run once and dropped right after (see `runOnWorkerThread`).
private final class WorkerThreadBody<T>: @unchecked Sendable {
    private var body: (@Sendable () throws -> T)?

    init(_ body: @escaping @Sendable () throws -> T) { self.body = body }

    /// Runs the closure and releases it (and what it captured) before returning.
    func run() throws -> T {
        guard let body else { preconditionFailure("a worker thread body runs once") }
        self.body = nil
        return try body()
    }
}
