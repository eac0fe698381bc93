import Foundation

/// Converts a model between formats through the IR: read with the plugin that claims the input, write with
/// the plugin named by `format` (or the output's extension), tensor by tensor.
public enum Converter {
    /// Converts `input` to `output`; `dtype` nil keeps each tensor's type.
    @discardableResult
    public static func convert(from input: URL, to output: URL, format: String?, dtype: DType?, overwrite: Bool = false,
                               registry: FormatRegistry = .shared,
                               progress: (@Sendable (Int, Int, String) -> Void)? = nil) throws -> ModelGraph {
        let reader = try registry.plugin(for: input)
        try AtomicFileWriter.checkDestination(output, overwrite: overwrite)
        // The writer is settled before the input is read, so a bad output name fails at once.
        let writer: FormatPlugin
        if let format {
            guard let p = registry.plugin(named: format) else {
                throw SieveCoreError.unknownFormat(path: output.path, registered: registry.names)
            }
            writer = p
        } else {
            writer = try registry.plugin(forOutput: output)
        }
        guard writer.canWrite else { throw SieveCoreError.unsupportedOperation(format: writer.name, operation: "writing") }
        let graph = try reader.read(input)
        if graph.isPacked && writer.name != reader.name {
            throw SieveCoreError.packedModel(path: input.path, format: writer.name)
        }
        try writer.write(graph, to: output, options: WriteOptions(dtype: dtype, overwrite: overwrite, progress: progress))
        return graph
    }
}
