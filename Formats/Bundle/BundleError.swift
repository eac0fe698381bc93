import Foundation

/// Errors of the `.sieve` bundle plugin: files that are not bundles, bundles from a newer Sieve, corrupt or
/// inconsistent bundles, and graphs that cannot be written as one.
///
/// Every case names the file and the section, frame or tensor concerned, and its message says how to fix the
/// problem. I/O errors and errors found by the graph builder are reported as `SieveCoreError`.
public enum BundleError: Error, LocalizedError, Equatable {
    /// The file does not start with the bundle magic.
    case notABundle(path: String)
    /// The file is shorter than its structure says (a partial download or an interrupted copy).
    case truncated(path: String, reason: String)
    /// The file was written by a newer Sieve with a format version this reader does not know.
    case newerVersion(path: String, version: Int)
    /// The format version is 0, which no Sieve writes.
    case invalidVersion(path: String, version: Int)
    /// A header or footer field is out of range.
    case invalidHeader(path: String, reason: String)
    /// A CRC-32 does not match: `what` names the manifest, the section table or a section's frame.
    case checksumMismatch(path: String, what: String, recorded: UInt32, computed: UInt32)
    /// The manifest is not JSON of the documented shape; `key` is the JSON path of the offending value.
    case invalidManifest(path: String, key: String, reason: String)
    /// A section-table entry is inconsistent (frames, sizes, alignment, position in the file).
    case invalidSection(path: String, section: String, reason: String)
    /// A section starts before the previous one ends.
    case overlappingSections(path: String, section: String, previous: String, offset: Int, previousEnd: Int)
    /// The declared decompressed sizes are over the reader's limit (a decompression bomb).
    case decompressionBomb(path: String, declared: Int, limit: Int)
    /// A tensor names a section the manifest does not list.
    case missingSection(path: String, tensor: String, section: String)
    /// A tensor entry is inconsistent: shape, dtype, size, or byte ranges outside its section.
    case invalidTensor(path: String, tensor: String, reason: String)
    /// No tensor of that name is in the bundle.
    case unknownTensor(path: String, name: String)
    /// A frame failed a check while being read (CRC-32, zstd header, decoded size, zstd checksum).
    case corruptFrame(path: String, section: String, frame: Int, reason: String)
    /// The graph recorded in the manifest is inconsistent with the tensors or hyperparameters.
    case invalidGraph(path: String, reason: String)
    /// The model cannot be written as a bundle (a blocked layout that does not add up, a missing tensor…).
    case cannotWrite(path: String, reason: String)

    public var errorDescription: String? {
        let corrupt = "The bundle is corrupt (a damaged copy or disk); copy or pack it again."
        switch self {
        case let .notABundle(path):
            return "\(path): not a .sieve bundle (the file does not start with the bundle magic). Check the path; pack a bundle with `sieve pack`."
        case let .truncated(path, reason):
            return "\(path): truncated: \(reason). The file is incomplete (an interrupted download or copy); copy or pack it again."
        case let .newerVersion(path, version):
            return "\(path): written by a newer Sieve (v\(version) bundle format); this Sieve reads v\(BundleLayout.formatVersion). Upgrade Sieve to read it."
        case let .invalidVersion(path, version):
            return "\(path): bundle format version \(version) is invalid (versions start at 1). \(corrupt)"
        case let .invalidHeader(path, reason):
            return "\(path): invalid bundle header: \(reason). \(corrupt)"
        case let .checksumMismatch(path, what, recorded, computed):
            return "\(path): \(what): CRC-32 is \(hex32(computed)) but \(hex32(recorded)) was recorded. \(corrupt)"
        case let .invalidManifest(path, key, reason):
            return "\(path): manifest at \(key): \(reason). The bundle was written by a broken tool; pack it again with `sieve pack`."
        case let .invalidSection(path, section, reason):
            return "\(path): section '\(section)': \(reason). \(corrupt)"
        case let .overlappingSections(path, section, previous, offset, previousEnd):
            return "\(path): section '\(section)' starts at offset \(offset), inside section '\(previous)' (which ends at \(previousEnd)). \(corrupt)"
        case let .decompressionBomb(path, declared, limit):
            return "\(path): the sections declare \(declared) decompressed bytes, over the limit of \(limit) (64 × the file size + 64 MiB). The file is corrupt or hostile; if it is genuine, raise `BundleLimits.maxExpansion`."
        case let .missingSection(path, tensor, section):
            return "\(path): tensor '\(tensor)' is stored in section '\(section)', which the manifest does not list. The bundle was written by a broken tool; pack it again."
        case let .invalidTensor(path, tensor, reason):
            return "\(path): tensor '\(tensor)': \(reason). The bundle was written by a broken tool; pack it again."
        case let .unknownTensor(path, name):
            return "\(path): no tensor named '\(name)' in the bundle. List its tensors with `sieve inspect --tensors`."
        case let .corruptFrame(path, section, frame, reason):
            return "\(path): section '\(section)' frame \(frame): \(reason). \(corrupt)"
        case let .invalidGraph(path, reason):
            return "\(path): the manifest's graph is inconsistent: \(reason). The bundle was written by a broken tool; pack it again."
        case let .cannotWrite(path, reason):
            return "\(path): cannot write the model as a bundle: \(reason). Fix the pass that produced this graph."
        }
    }
}

/// `0x` and eight hex digits.
func hex32(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
}
