import Foundation

/// Errors of the GGUF format plugin. Each names the file, where in it the problem is (byte offset or tensor),
/// what is wrong, and how to fix it.
public enum GGUFError: Error, LocalizedError, Equatable {
    /// The file does not start with `GGUF`.
    case badMagic(path: String, found: [UInt8])
    /// The GGUF version is one Sieve cannot read (v1, a future version, or a big-endian file).
    case unsupportedVersion(path: String, version: UInt32)
    /// The file ends before a structure it declares.
    case truncated(path: String, offset: Int, what: String, needed: Int, available: Int)
    /// A count or length read from the file cannot fit in the bytes that remain.
    case countTooLarge(path: String, offset: Int, what: String, count: UInt64, limit: UInt64)
    /// A metadata value has a type code outside GGUF's value types.
    case invalidValueType(path: String, offset: Int, key: String, type: UInt32)
    /// Arrays nested deeper than Sieve accepts.
    case nestingTooDeep(path: String, offset: Int, key: String, limit: Int)
    /// The same metadata key appears twice.
    case duplicateKey(path: String, offset: Int, key: String)
    /// A metadata key that must have one type has another.
    case wrongValueType(path: String, key: String, expected: String, found: String)
    /// `general.alignment` is zero or not a power of two.
    case invalidAlignment(path: String, value: UInt64)
    /// A tensor name is longer than ggml's 63-byte limit.
    case tensorNameTooLong(path: String, offset: Int, name: String, length: Int)
    /// The same tensor name appears twice.
    case duplicateTensor(path: String, offset: Int, name: String)
    /// A tensor has no dimensions or more than ggml supports (4).
    case tooManyDimensions(path: String, tensor: String, count: UInt32)
    /// A tensor dimension is zero, negative, or the element count overflows.
    case invalidDimension(path: String, tensor: String, dimensions: [Int64], reason: String)
    /// A tensor type code that is not a ggml type.
    case unknownTensorType(path: String, tensor: String, type: UInt32)
    /// A ggml tensor type that Sieve cannot decode (IQ and Q2_K/Q3_K families, Q8_1, …).
    case unsupportedTensorType(path: String, tensor: String, type: String)
    /// The contiguous dimension is not a multiple of the type's block size.
    case notBlockAligned(path: String, tensor: String, ne0: Int, type: String, blockSize: Int)
    /// A tensor offset is not a multiple of the file's alignment.
    case misalignedOffset(path: String, tensor: String, offset: UInt64, alignment: Int)
    /// A tensor's data runs past the end of the file.
    case tensorPastEnd(path: String, tensor: String, offset: UInt64, byteCount: Int, dataSize: Int)
    /// Two tensors' data ranges overlap.
    case overlappingTensors(path: String, first: String, second: String)
    /// A key the model needs is absent.
    case missingKey(path: String, key: String)
    /// A value is present but unusable.
    case invalidValue(path: String, key: String, reason: String)
    /// The GGUF architecture is not one Sieve maps (`general.architecture`).
    case unsupportedArchitecture(path: String, name: String, supported: [String])
    /// A tensor name the architecture's mapping does not know.
    case unexpectedTensor(path: String, name: String, architecture: String)
    /// A tensor has the wrong shape for the model's hyperparameters.
    case tensorShapeMismatch(path: String, tensor: String, shape: [Int], expected: [Int])
    /// The graph cannot be written as GGUF.
    case cannotWrite(path: String, reason: String)

    public var errorDescription: String? {
        let corrupt = "The file is corrupt, truncated, or not a GGUF file; re-download or re-convert it."
        switch self {
        case let .badMagic(path, found):
            let hex = found.map { String(format: "%02x", $0) }.joined(separator: " ")
            return "\(path): not a GGUF file: the first bytes are [\(hex)], expected 'GGUF' (47 47 55 46). Check the path and the file type."
        case let .unsupportedVersion(path, version):
            if version == 1 {
                return "\(path): GGUF version 1 is not supported (its counts are 32-bit). Re-convert the model with a current llama.cpp (convert_hf_to_gguf.py) to get GGUF v3."
            }
            if version & 0xFFFF == 0 && version != 0 {
                return "\(path): GGUF version field \(version) looks byte-swapped: this is a big-endian GGUF, which Sieve does not read. Convert the model again on a little-endian machine."
            }
            return "\(path): GGUF version \(version) is not supported; Sieve reads versions 2 and 3. Re-convert the model with llama.cpp."
        case let .truncated(path, offset, what, needed, available):
            return "\(path): truncated at offset \(offset): \(what) needs \(needed) bytes but only \(available) remain. \(corrupt)"
        case let .countTooLarge(path, offset, what, count, limit):
            return "\(path): at offset \(offset): \(what) is \(count), more than the \(limit) the rest of the file can hold. \(corrupt)"
        case let .invalidValueType(path, offset, key, type):
            return "\(path): at offset \(offset): metadata key '\(key)' has value type \(type), which is not a GGUF type (0…12). \(corrupt)"
        case let .nestingTooDeep(path, offset, key, limit):
            return "\(path): at offset \(offset): metadata key '\(key)' nests arrays more than \(limit) deep. \(corrupt)"
        case let .duplicateKey(path, offset, key):
            return "\(path): at offset \(offset): metadata key '\(key)' appears twice. The writer that made the file is broken; re-convert the model."
        case let .wrongValueType(path, key, expected, found):
            return "\(path): metadata key '\(key)' is \(found) but must be \(expected). Fix the key (gguf-py's gguf_set_metadata.py) or re-convert the model."
        case let .invalidAlignment(path, value):
            return "\(path): general.alignment is \(value); it must be a non-zero power of two (the default is 32). \(corrupt)"
        case let .tensorNameTooLong(path, offset, name, length):
            return "\(path): at offset \(offset): tensor name '\(name.prefix(80))' is \(length) bytes; ggml allows at most 63. Shorten the tensor name when converting."
        case let .duplicateTensor(path, offset, name):
            return "\(path): at offset \(offset): tensor '\(name)' appears twice. The writer that made the file is broken; re-convert the model."
        case let .tooManyDimensions(path, tensor, count):
            return "\(path): tensor '\(tensor)' has \(count) dimensions; ggml tensors have 1 to 4. \(corrupt)"
        case let .invalidDimension(path, tensor, dimensions, reason):
            return "\(path): tensor '\(tensor)' has dimensions \(dimensions): \(reason). \(corrupt)"
        case let .unknownTensorType(path, tensor, type):
            return "\(path): tensor '\(tensor)' has type code \(type), which is not a ggml type. \(corrupt)"
        case let .unsupportedTensorType(path, tensor, type):
            return "\(path): tensor '\(tensor)' is \(type), which Sieve cannot decode. Supported: \(GGMLType.allCases.filter { $0.dtype != nil }.map(\.name).joined(separator: ", ")); requantize the model with llama-quantize (e.g. to Q4_K_M) first."
        case let .notBlockAligned(path, tensor, ne0, type, blockSize):
            return "\(path): tensor '\(tensor)' has \(ne0) elements per row, not a multiple of the \(type) block size \(blockSize). \(corrupt)"
        case let .misalignedOffset(path, tensor, offset, alignment):
            return "\(path): tensor '\(tensor)' has data offset \(offset), not a multiple of the alignment \(alignment). \(corrupt)"
        case let .tensorPastEnd(path, tensor, offset, byteCount, dataSize):
            return "\(path): tensor '\(tensor)' (\(byteCount) bytes at data offset \(offset)) ends past the data section's \(dataSize) bytes. \(corrupt)"
        case let .overlappingTensors(path, first, second):
            return "\(path): the data of tensors '\(first)' and '\(second)' overlap. \(corrupt)"
        case let .missingKey(path, key):
            return "\(path): metadata key '\(key)' is missing. The file was not written by llama.cpp's converter or is for another architecture; re-convert it with convert_hf_to_gguf.py."
        case let .invalidValue(path, key, reason):
            return "\(path): metadata key '\(key)': \(reason). Fix the key or re-convert the model."
        case let .unsupportedArchitecture(path, name, supported):
            return "\(path): GGUF architecture '\(name)' is not supported. Supported architectures: \(supported.joined(separator: ", "))."
        case let .unexpectedTensor(path, name, architecture):
            return "\(path): tensor '\(name)' is not part of Sieve's \(architecture) mapping (it may change what the model computes, e.g. rope scaling factors). Use a plain \(architecture) GGUF made by convert_hf_to_gguf.py."
        case let .tensorShapeMismatch(path, tensor, shape, expected):
            return "\(path): tensor '\(tensor)' has shape \(shape) but the hyperparameters imply \(expected). The metadata and the tensors disagree; re-convert the model."
        case let .cannotWrite(path, reason):
            return "\(path): cannot write GGUF: \(reason)."
        }
    }
}
