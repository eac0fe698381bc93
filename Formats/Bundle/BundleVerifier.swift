import Foundation
import SieveCore

/// One problem `BundleVerifier` found, with where it is.
public struct BundleProblem: Sendable, Equatable {
    /// Where: `header`, `manifest`, `section table`, `section 'name' frame k (file bytes a..<b)`, `graph`, …
    public var location: String
    /// What is wrong (the reader's message).
    public var message: String
    /// Whether the damage is in alignment padding (bytes that carry no data; the file is still refused, since a
    /// correct writer leaves them zero).
    public var inPadding: Bool
}

/// What `BundleVerifier.verify` checked and found.
public struct BundleVerification: Sendable {
    /// Every problem, in file order; empty for a sound bundle.
    public var problems: [BundleProblem] = []
    /// Sections whose every frame was checked.
    public var sectionsChecked = 0
    /// Frames checked (CRC-32, and for zstd frames a full decode with the content checksum).
    public var framesChecked = 0
    /// Decompressed bytes produced while checking.
    public var bytesChecked = 0
    /// Whether the bundle passed every check.
    public var isValid: Bool { problems.isEmpty }
}

/// Checks a whole `.sieve` bundle: the header, manifest and section table (as `BundleFile.open` does), then
/// every frame of every section (CRC-32 of the stored bytes; zstd frames fully decoded with their declared size
/// and content checksum), then the graph the manifest describes. Unlike loading, it does not stop at the first
/// damaged frame: each one is reported with its section, frame number and file byte range.
public enum BundleVerifier {
    /// Verifies the bundle at `url`. Memory stays bounded by one frame at a time.
    public static func verify(_ url: URL, limits: BundleLimits = BundleLimits()) -> BundleVerification {
        var result = BundleVerification()
        let bundle: BundleFile
        do {
            bundle = try BundleFile.open(url, limits: limits)
        } catch {
            var p = problem(for: error)
            if let range = Self.range(of: p.location, in: url) { p.location += " (file bytes \(range.lowerBound)..<\(range.upperBound))" }
            result.problems.append(p)
            return result
        }
        for s in bundle.sections {
            for (k, frame) in s.frames.enumerated() {
                do {
                    let storage = try bundle.decodeFrame(k, of: s)
                    result.bytesChecked += storage.bytes.count
                } catch {
                    let end = frame.storedOffset + frame.storedSize
                    result.problems.append(BundleProblem(
                        location: "section '\(s.name)' frame \(k) (file bytes \(frame.storedOffset)..<\(end))",
                        message: message(error), inPadding: false))
                }
                result.framesChecked += 1
            }
            result.sectionsChecked += 1
        }
        if result.problems.isEmpty {
            do {
                _ = try bundle.readGraph()
            } catch {
                result.problems.append(BundleProblem(location: "graph", message: message(error), inPadding: false))
            }
        }
        return result
    }

    /// Where the manifest or the section table lies, read from the header and footer (best effort).
    private static func range(of part: String, in url: URL) -> Range<Int>? {
        guard let file = try? MappedFile(url: url), file.count >= BundleLayout.headerSize + BundleLayout.footerSize else { return nil }
        func u64(_ at: Int) -> Int? {
            let v = (0..<8).reduce(UInt64(0)) { $0 | UInt64(file.bytes[at + $1]) << UInt64(8 * $1) }
            return v <= UInt64(file.count) ? Int(v) : nil
        }
        switch part {
        case "manifest":
            guard let size = u64(24), size <= file.count - BundleLayout.headerSize else { return nil }
            return BundleLayout.headerSize..<(BundleLayout.headerSize + size)
        case "section table":
            guard let offset = u64(file.count - BundleLayout.footerSize), offset <= file.count - BundleLayout.footerSize else { return nil }
            return offset..<(file.count - BundleLayout.footerSize)
        default:
            return nil
        }
    }

    private static func message(_ error: Error) -> String {
        (error as? LocalizedError)?.errorDescription ?? "\(error)"
    }

    /// Where an `open` error points.
    private static func problem(for error: Error) -> BundleProblem {
        let text = message(error)
        guard let e = error as? BundleError else { return BundleProblem(location: "file", message: text, inPadding: false) }
        switch e {
        case .notABundle, .truncated: return BundleProblem(location: "file", message: text, inPadding: false)
        case .newerVersion, .invalidVersion: return BundleProblem(location: "header (bytes 8..<12)", message: text, inPadding: false)
        case let .invalidHeader(_, reason):
            let padding = reason.contains("reserved")
            return BundleProblem(location: "header/footer", message: text, inPadding: padding)
        case let .checksumMismatch(_, what, _, _): return BundleProblem(location: what, message: text, inPadding: false)
        case let .invalidManifest(_, key, _): return BundleProblem(location: "manifest \(key)", message: text, inPadding: false)
        case let .invalidSection(_, section, reason):
            return BundleProblem(location: "section '\(section)'", message: text, inPadding: reason.contains(BundleFile.paddingPhrase))
        case let .overlappingSections(_, section, _, _, _): return BundleProblem(location: "section '\(section)'", message: text, inPadding: false)
        case .decompressionBomb: return BundleProblem(location: "section table", message: text, inPadding: false)
        case let .missingSection(_, tensor, _), let .invalidTensor(_, tensor, _), let .unknownTensor(_, tensor):
            return BundleProblem(location: "tensor '\(tensor)'", message: text, inPadding: false)
        case let .corruptFrame(_, section, frame, _):
            return BundleProblem(location: "section '\(section)' frame \(frame)", message: text, inPadding: false)
        case .invalidGraph: return BundleProblem(location: "graph", message: text, inPadding: false)
        case .cannotWrite: return BundleProblem(location: "file", message: text, inPadding: false)
        }
    }
}
