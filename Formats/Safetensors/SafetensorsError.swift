import Foundation

/// Errors of the safetensors plugin: malformed files, inconsistent sharded checkpoints, Hugging Face folders
/// that cannot be mapped onto the IR, and outputs that cannot be written.
///
/// Every case names the file it concerns and its message says how to fix the problem. JSON syntax errors of
/// `config.json` / `*.index.json`, shape errors found by the graph builder and I/O errors are reported as
/// `SieveCoreError` (a missing `config.json` is `SieveCoreError.cannotOpen`).
public enum SafetensorsError: Error, LocalizedError, Equatable {
    /// The file is shorter than the 8-byte header length (an empty file included).
    case fileTooSmall(path: String, size: Int)
    /// The header length field is over the 100 MB limit.
    case headerTooLarge(path: String, length: UInt64, limit: Int)
    /// The header length field points past the end of the file.
    case headerPastEnd(path: String, length: UInt64, fileSize: Int)
    /// The header bytes are not valid UTF-8.
    case headerNotUTF8(path: String)
    /// The header is not valid JSON.
    case headerNotJSON(path: String, reason: String)
    /// The header is valid JSON but not an object.
    case headerNotObject(path: String)
    /// `__metadata__` is not an object of string values.
    case invalidMetadata(path: String, reason: String)
    /// A tensor entry lacks `dtype`, `shape` or `data_offsets`, or one of them has the wrong JSON type.
    case invalidEntry(path: String, tensor: String, reason: String)
    /// The dtype is one safetensors defines (or an unknown name) that the IR cannot hold.
    case unsupportedDType(path: String, tensor: String, dtype: String)
    /// A dimension is negative, or the element count or byte size overflows.
    case invalidShape(path: String, tensor: String, reason: String)
    /// `end - begin` differs from the byte size the shape and dtype need.
    case byteCountMismatch(path: String, tensor: String, expected: Int, actual: Int)
    /// `data_offsets` has its end before its begin.
    case reversedOffsets(path: String, tensor: String, begin: Int, end: Int)
    /// A tensor's data starts inside the previous tensor's data.
    case overlappingTensors(path: String, tensor: String, previous: String, begin: Int, previousEnd: Int)
    /// Bytes between two tensors (or before the first one) belong to no tensor.
    case gapBeforeTensor(path: String, tensor: String, gapStart: Int, gapEnd: Int)
    /// A tensor's data ends past the end of the file.
    case dataPastEnd(path: String, tensor: String, end: Int, dataSize: Int)
    /// Bytes after the last tensor belong to no tensor.
    case uncoveredBytes(path: String, dataEnd: Int, dataSize: Int)
    /// Two entries (in one file, or in two shards) have the same tensor name.
    case duplicateTensor(path: String, name: String)
    /// A `*.safetensors.index.json` lacks a `weight_map` of tensor name to shard file.
    case invalidIndex(path: String, reason: String)
    /// A shard the index names does not exist.
    case shardMissing(index: String, shard: String)
    /// A shard the index names is an absolute path or climbs out of the folder with `..`.
    case shardOutsideFolder(index: String, shard: String)
    /// The index places a tensor in a shard that does not hold it.
    case tensorNotInShard(index: String, tensor: String, shard: String)
    /// A shard holds a tensor the index does not place in it.
    case tensorNotInIndex(index: String, tensor: String, shard: String)
    /// A folder holds no safetensors weights.
    case noWeights(folder: String)
    /// A folder holds several safetensors files but neither `model.safetensors` nor an index says which to read.
    case ambiguousWeights(folder: String, files: [String])
    /// A tensor of a Hugging Face checkpoint has no IR name for its architecture (or, when writing, an IR
    /// tensor has no Hugging Face name).
    case unmappedTensor(path: String, tensor: String, architecture: String)
    /// The requested output dtype cannot be stored by this writer.
    case unsupportedOutputDType(path: String, dtype: String)

    /// The dtype names the IR can hold.
    static let supportedDTypeList = "F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL"

    public var errorDescription: String? {
        switch self {
        case let .fileTooSmall(path, size):
            return "\(path): not a safetensors file: \(size) bytes is shorter than the 8-byte header length. The file is empty or truncated; download or write it again."
        case let .headerTooLarge(path, length, limit):
            return "\(path): safetensors header length \(length) is over the limit of \(limit) bytes. The file is corrupt or not a safetensors file."
        case let .headerPastEnd(path, length, fileSize):
            return "\(path): safetensors header length \(length) runs past the end of the \(fileSize)-byte file. The file is truncated or corrupt; download or write it again."
        case let .headerNotUTF8(path):
            return "\(path): the safetensors header is not valid UTF-8. The file is corrupt or not a safetensors file."
        case let .headerNotJSON(path, reason):
            return "\(path): the safetensors header is not valid JSON (\(reason)). The file is corrupt; write it again with the safetensors library."
        case let .headerNotObject(path):
            return "\(path): the safetensors header is JSON but not an object of tensor entries. The file is corrupt or not a safetensors file."
        case let .invalidMetadata(path, reason):
            return "\(path): __metadata__ \(reason); it must be an object whose values are all strings. Fix the writer that made the file."
        case let .invalidEntry(path, tensor, reason):
            return "\(path): tensor '\(tensor)': \(reason). Each entry needs \"dtype\" (a string), \"shape\" (an array of integers) and \"data_offsets\" ([begin, end]); write the file again."
        case let .unsupportedDType(path, tensor, dtype):
            let known = ["F4", "F6_E2M3", "F6_E3M2", "F8_E5M2", "F8_E4M3", "F8_E8M0", "U16", "U32", "U64", "C64"].contains(dtype)
            let what = known ? "safetensors dtype '\(dtype)' is not supported by Sieve" : "unknown dtype '\(dtype)'"
            return "\(path): tensor '\(tensor)': \(what). Supported: \(Self.supportedDTypeList). Convert the checkpoint to one of these first."
        case let .invalidShape(path, tensor, reason):
            return "\(path): tensor '\(tensor)': \(reason). The file is corrupt or was written by a broken tool."
        case let .byteCountMismatch(path, tensor, expected, actual):
            return "\(path): tensor '\(tensor)': data_offsets span \(actual) bytes but its shape and dtype need \(expected). The file is corrupt; write it again."
        case let .reversedOffsets(path, tensor, begin, end):
            return "\(path): tensor '\(tensor)': data_offsets [\(begin), \(end)] end before they begin. The file is corrupt; write it again."
        case let .overlappingTensors(path, tensor, previous, begin, previousEnd):
            return "\(path): tensor '\(tensor)' starts at data offset \(begin), inside tensor '\(previous)' which ends at \(previousEnd). Tensors must not overlap; the file is corrupt."
        case let .gapBeforeTensor(path, tensor, gapStart, gapEnd):
            return "\(path): data bytes \(gapStart)..<\(gapEnd) before tensor '\(tensor)' belong to no tensor. safetensors files have no gaps; the file is corrupt."
        case let .dataPastEnd(path, tensor, end, dataSize):
            return "\(path): tensor '\(tensor)' ends at data offset \(end) but the data section has only \(dataSize) bytes. The file is truncated; download or write it again."
        case let .uncoveredBytes(path, dataEnd, dataSize):
            return "\(path): data bytes \(dataEnd)..<\(dataSize) after the last tensor belong to no tensor. The file has trailing garbage or a missing header entry; write it again."
        case let .duplicateTensor(path, name):
            return "\(path): tensor name '\(name)' appears more than once. Names must be unique; write the checkpoint again."
        case let .invalidIndex(path, reason):
            return "\(path): invalid safetensors index: \(reason). It must hold \"weight_map\": {tensor name: shard file name}; regenerate it with save_pretrained."
        case let .shardMissing(index, shard):
            return "\(index): shard '\(shard)' named in weight_map does not exist. Download the missing shard into the same folder."
        case let .shardOutsideFolder(index, shard):
            return "\(index): shard '\(shard)' is outside the checkpoint folder (absolute path or '..'). Shards must be relative paths inside the folder; fix the index."
        case let .tensorNotInShard(index, tensor, shard):
            return "\(index): weight_map places tensor '\(tensor)' in '\(shard)' but that shard does not hold it. The index and shards are from different checkpoints; download them again."
        case let .tensorNotInIndex(index, tensor, shard):
            return "\(index): shard '\(shard)' holds tensor '\(tensor)' which weight_map does not place there. The index and shards are from different checkpoints; download them again."
        case let .noWeights(folder):
            return "\(folder): no safetensors weights (model.safetensors, model.safetensors.index.json or a *.safetensors file). Download the weights into this folder."
        case let .ambiguousWeights(folder, files):
            return "\(folder): holds several safetensors files (\(files.joined(separator: ", "))) but no model.safetensors or model.safetensors.index.json. Pass one file, or add the index."
        case let .unmappedTensor(path, tensor, architecture):
            return "\(path): tensor '\(tensor)' has no counterpart in Sieve's \(architecture) naming. The checkpoint is not a plain \(architecture) model (or has extra heads); remove the tensor or convert a plain model."
        case let .unsupportedOutputDType(path, dtype):
            return "\(path): cannot write tensors as \(dtype) to safetensors. Choose f32, f16, bf16 or keep."
        }
    }
}
