import BundleFormat
import Foundation
import SieveCore
import Testing

/// A bundle's bytes, with the offsets of its parts (SPEC.md §2–§3) and edits that keep or fix its checksums,
/// to simulate damaged files and lying writers.
struct BundleBytes {
    var data: [UInt8]

    init(_ url: URL) throws { data = Array(try Data(contentsOf: url)) }

    func u32(_ at: Int) -> Int { (0..<4).reduce(0) { $0 | Int(data[at + $1]) << (8 * $1) } }
    func u64(_ at: Int) -> Int { (0..<8).reduce(0) { $0 | Int(data[at + $1]) << (8 * $1) } }
    mutating func setU32(_ value: Int, at: Int) { for k in 0..<4 { data[at + k] = UInt8((value >> (8 * k)) & 0xFF) } }
    mutating func setU64(_ value: Int, at: Int) { for k in 0..<8 { data[at + k] = UInt8((value >> (8 * k)) & 0xFF) } }

    var manifestRange: Range<Int> { 64..<(64 + u64(24)) }
    var tableOffset: Int { u64(data.count - 32) }
    var tableRange: Range<Int> { tableOffset..<(data.count - 32) }
    /// Offset of section `i`'s 48-byte table entry.
    func sectionEntry(_ i: Int) -> Int { tableOffset + 48 * i }

    mutating func fixManifestCRC() { setU32(Int(CRC32.checksum(Array(data[manifestRange]))), at: 32) }
    mutating func fixTableCRC() { setU32(Int(CRC32.checksum(Array(data[tableRange]))), at: data.count - 16) }

    /// Replaces the first occurrence of `old` in the manifest by `new` (same length) and fixes the CRC, as a
    /// buggy or hostile writer would.
    mutating func editManifest(_ old: String, _ new: String) throws {
        let o = Array(old.utf8), n = Array(new.utf8)
        precondition(o.count == n.count)
        let manifest = Array(data[manifestRange])
        let at = try #require((0...(manifest.count - o.count)).first { manifest[$0..<($0 + o.count)].elementsEqual(o) },
                              "'\(old)' not in the manifest")
        data.replaceSubrange((manifestRange.lowerBound + at)..<(manifestRange.lowerBound + at + n.count), with: n)
        fixManifestCRC()
    }

    func write(_ url: URL) throws { try Data(data).write(to: url) }
}

/// Runs `body`, expects a `BundleError` satisfying `matches`, and returns its message.
@discardableResult
func expectBundleError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation,
                       _ matches: (BundleError) -> Bool) -> String {
    do {
        try body()
        Issue.record("expected a BundleError, got success", sourceLocation: sourceLocation)
    } catch let error as BundleError {
        #expect(matches(error), "unexpected error: \(error.errorDescription ?? "")", sourceLocation: sourceLocation)
        return error.errorDescription ?? ""
    } catch {
        Issue.record("expected a BundleError, got \(error)", sourceLocation: sourceLocation)
    }
    return ""
}

@Suite("Corrupt bundles give specific errors, never wrong output")
struct CorruptionTests {
    let scratch: Scratch
    let graph: ModelGraph
    let url: URL

    init() throws {
        scratch = try Scratch()
        graph = try TinyModels.blocked()
        url = scratch.file("good.sieve")
        // Every section zstd shrinks at all is compressed, whatever the default's threshold: the frame checks need some.
        try BundleWriter.write(graph, to: url, options: BundleWriteOptions(minimumSavings: 0))
    }

    func damaged(_ edit: (inout BundleBytes) throws -> Void) throws -> URL {
        var bytes = try BundleBytes(url)
        try edit(&bytes)
        let out = scratch.file("bad-\(UUID().uuidString).sieve")
        try bytes.write(out)
        return out
    }

    @Test("a flipped byte in any section names that section and frame", arguments: [BundleCompression.zstd, .none])
    func flippedByteInEachSection(compression: BundleCompression) throws {
        let source = scratch.file("source-\(compression.name).sieve")
        try BundleWriter.write(graph, to: source, options: BundleWriteOptions(compression: compression, frameSize: 4096))
        let sections = try BundleFile.open(source).sections
        #expect(sections.count == 7)
        for s in sections {
            for frame in [0, s.frames.count - 1] {
                var bytes = try BundleBytes(source)
                let f = s.frames[frame]
                bytes.data[f.storedOffset + f.storedSize / 2] ^= 0x10
                let bad = scratch.file("flip-\(s.name)-\(frame).sieve")
                try bytes.write(bad)
                let message = expectBundleError({ _ = try BundlePlugin().read(bad) }) {
                    if case let .corruptFrame(_, section, k, _) = $0 { return section == s.name && k == frame }
                    return false
                }
                #expect(message.contains("section '\(s.name)' frame \(frame): CRC-32"))
                // The damage stays local: the bundle opens and other sections still read lazily.
                let bundle = try BundleFile.open(bad)
                let elsewhere = try #require(bundle.manifest.tensors.first { $0.section != s.name })
                #expect(try bundle.tensor(named: elsewhere.name).byteArray == (try graph.tensor(elsewhere.name).byteArray))
                let here = try #require(bundle.manifest.tensors.first { $0.section == s.name && $0.ranges.contains { f.range.overlaps($0) } })
                expectBundleError({ _ = try bundle.tensor(named: here.name) }) {
                    if case .corruptFrame = $0 { return true }
                    return false
                }
            }
        }
    }

    @Test("a truncated file is reported as truncated")
    func truncated() throws {
        let size = try BundleBytes(url).data.count
        for keep in [size - 1, size / 2, 200, 70, 5] {
            let bad = try damaged { $0.data.removeSubrange(keep...) }
            expectBundleError({ _ = try BundleFile.open(bad) }) {
                if case .truncated = $0 { return true }
                return false
            }
        }
        let empty = try damaged { $0.data = [] }
        expectBundleError({ _ = try BundleFile.open(empty) }) { $0 == .notABundle(path: empty.path) }
    }

    @Test("a bundle from a newer Sieve asks to upgrade; version 0 is invalid")
    func futureVersion() throws {
        let future = try damaged { $0.setU32(2, at: 8) }
        let message = expectBundleError({ _ = try BundleFile.open(future) }) { $0 == .newerVersion(path: future.path, version: 2) }
        #expect(message.contains("written by a newer Sieve (v2"))
        #expect(message.contains("Upgrade Sieve"))
        let zero = try damaged { $0.setU32(0, at: 8) }
        expectBundleError({ _ = try BundleFile.open(zero) }) { $0 == .invalidVersion(path: zero.path, version: 0) }
    }

    @Test("a manifest naming a missing section names the tensor and the section")
    func missingSection() throws {
        let bad = try damaged { try $0.editManifest("\"section\":\"head\"", "\"section\":\"heaX\"") }
        expectBundleError({ _ = try BundleFile.open(bad) }) {
            $0 == .missingSection(path: bad.path, tensor: "final_norm.weight", section: "heaX")
        }
    }

    @Test("a graph naming a missing tensor is refused when the graph is built")
    func missingTensor() throws {
        let bad = try damaged { try $0.editManifest("\"up\":\"blocks.0.predictor.ffn.up\"", "\"up\":\"blocks.0.predictor.ffn.uX\"") }
        let message = expectBundleError({ _ = try BundleFile.open(bad).readGraph() }) {
            if case .invalidGraph = $0 { return true }
            return false
        }
        #expect(message.contains("blocks.0.predictor.ffn.uX"))
    }

    @Test("a lying decompressed size is caught before any byte is used")
    func lyingDecompressedSize() throws {
        let sections = try BundleFile.open(url).sections
        let s = try #require(sections.first { $0.name == "blocks.0" })
        #expect(s.compression == .zstd && s.frames.count == 1)
        let bigger = try damaged {
            $0.setU64(s.size + 1, at: $0.sectionEntry(s.index) + 16)
            $0.fixTableCRC()
        }
        let message = expectBundleError({ _ = try BundlePlugin().read(bigger) }) {
            if case let .corruptFrame(_, section, 0, _) = $0 { return section == "blocks.0" }
            return false
        }
        #expect(message.contains("declares \(s.size) decompressed bytes but the section table implies \(s.size + 1)"))

        let smaller = try damaged {
            $0.setU64(s.size - 1, at: $0.sectionEntry(s.index) + 16)
            $0.fixTableCRC()
        }
        expectBundleError({ _ = try BundleFile.open(smaller) }) {
            if case let .invalidTensor(_, _, reason) = $0 { return reason.contains("section 'blocks.0'") }
            return false
        }

        let huge = try damaged {
            $0.setU64(1 << 40, at: $0.sectionEntry(s.index) + 16)
            $0.fixTableCRC()
        }
        expectBundleError({ _ = try BundleFile.open(huge) }) {
            if case let .invalidSection(_, section, _) = $0 { return section == "blocks.0" }
            return false
        }
    }

    @Test("declared sizes far beyond the file's are refused as a decompression bomb")
    func decompressionBomb() throws {
        var zeros = graph
        for t in graph.tensors.all where t.dtype == .f32 {
            zeros.tensors.insert(try Tensor(name: t.name, dtype: .f32, shape: t.shape, storage: .owned(TensorBuffer(count: t.byteCount))))
        }
        let bomb = scratch.file("zeros.sieve")
        try BundleWriter.write(zeros, to: bomb)
        let limits = BundleLimits(maxExpansion: 4, expansionAllowance: 0)
        expectBundleError({ _ = try BundleFile.open(bomb, limits: limits) }) {
            if case .decompressionBomb = $0 { return true }
            return false
        }
        _ = try BundleFile.open(url, limits: limits)
    }

    @Test("overlapping sections name both sections")
    func overlappingSections() throws {
        let sections = try BundleFile.open(url).sections
        let bad = try damaged {
            $0.setU64(sections[1].offset, at: $0.sectionEntry(2))
            $0.fixTableCRC()
        }
        expectBundleError({ _ = try BundleFile.open(bad) }) {
            $0 == .overlappingSections(path: bad.path, section: sections[2].name, previous: sections[1].name,
                                       offset: sections[1].offset, previousEnd: sections[1].offset + sections[1].storedSize)
        }
    }

    @Test("damage to the manifest, section table, header or padding is caught on open")
    func damagedStructure() throws {
        let manifest = try damaged { $0.data[$0.manifestRange.lowerBound + 40] ^= 1 }
        expectBundleError({ _ = try BundleFile.open(manifest) }) {
            if case .checksumMismatch(_, "manifest", _, _) = $0 { return true }
            return false
        }
        let table = try damaged { $0.data[$0.tableOffset + 3] ^= 1 }
        expectBundleError({ _ = try BundleFile.open(table) }) {
            if case .checksumMismatch(_, "section table", _, _) = $0 { return true }
            return false
        }
        let reserved = try damaged { $0.data[50] = 7 }
        expectBundleError({ _ = try BundleFile.open(reserved) }) {
            if case .invalidHeader = $0 { return true }
            return false
        }
        let sections = try BundleFile.open(url).sections
        let afterGap = try #require(sections.dropFirst().first { sections[$0.index - 1].offset + sections[$0.index - 1].storedSize < $0.offset })
        let padding = try damaged { $0.data[afterGap.offset - 1] = 1 }
        expectBundleError({ _ = try BundleFile.open(padding) }) {
            if case let .invalidSection(_, section, _) = $0 { return section == afterGap.name }
            return false
        }
        let notBundle = try damaged { $0.data[0] = 0x50 }
        expectBundleError({ _ = try BundleFile.open(notBundle) }) { $0 == .notABundle(path: notBundle.path) }
    }
}
