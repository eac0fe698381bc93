import Foundation
import SieveCore

/// Limits a bundle reader enforces before it allocates anything a file declares.
public struct BundleLimits: Sendable {
    /// The largest manifest accepted.
    public var maxManifestBytes: Int
    /// The sections' total decompressed size may be at most `maxExpansion` × the file size + `expansionAllowance`:
    /// no real weights compress 64-fold, so a file claiming more is a decompression bomb.
    public var maxExpansion: Int
    /// Bytes allowed on top of `maxExpansion` × the file size (small files).
    public var expansionAllowance: Int

    /// Limits with the given values (the defaults suit any real model).
    public init(maxManifestBytes: Int = 512 << 20, maxExpansion: Int = 64, expansionAllowance: Int = 64 << 20) {
        self.maxManifestBytes = maxManifestBytes
        self.maxExpansion = maxExpansion
        self.expansionAllowance = expansionAllowance
    }
}

/// An open `.sieve` bundle: the file is mapped, its header, manifest, section table and tensor entries are
/// validated (SPEC.md §9), and nothing is decompressed until asked.
///
/// Every read verifies what it touches: each frame's CRC-32 before use, and for zstd sections the frame's
/// declared size and content checksum while decoding. Raw (uncompressed) sections are returned as slices of the
/// mapping — zero-copy — after their frames' CRC-32 is checked. The lazy API (`section(named:)`,
/// `decodeFrame(_:of:)`, `bytes(_:of:)`, `tensor(named:)`, `ffnBlock(_:ofBlock:)`) decodes only the frames it
/// needs, so a runtime can load one FFN block group alone. Safe to use from several threads.
public final class BundleFile: @unchecked Sendable {
    /// The bundle's location.
    public let url: URL
    /// The parsed manifest.
    public let manifest: BundleManifest
    /// The sections, in file order, as the section table describes them.
    public let sections: [BundleSection]
    /// The file size in bytes.
    public var fileSize: Int { file.count }

    private let file: MappedFile
    private let sectionIndex: [String: Int]
    private let tensorIndex: [String: Int]
    private var path: String { url.path }

    private init(url: URL, file: MappedFile, manifest: BundleManifest, sections: [BundleSection]) {
        self.url = url
        self.file = file
        self.manifest = manifest
        self.sections = sections
        sectionIndex = Dictionary(uniqueKeysWithValues: sections.map { ($0.name, $0.index) })
        tensorIndex = Dictionary(uniqueKeysWithValues: manifest.tensors.enumerated().map { ($1.name, $0) })
    }

    // MARK: Opening and validation

    /// Ends the message of damaged alignment padding between parts of the file (see `BundleVerifier`).
    public static let paddingPhrase = "are not alignment padding of zeros"

    /// Maps and validates `url`: header, footer, section table, manifest, tensor entries and FFN bundles. Throws a
    /// `BundleError` naming the problem (and the section or tensor) before allocating for anything declared.
    public static func open(_ url: URL, limits: BundleLimits = BundleLimits()) throws -> BundleFile {
        let file = try MappedFile(url: url)
        let path = url.path
        let bytes = file.bytes
        let magic = BundleLayout.magic
        guard bytes.count >= magic.count, bytes.starts(with: magic) else {
            if !bytes.isEmpty, bytes.count < magic.count, magic.starts(with: bytes) {
                throw BundleError.truncated(path: path, reason: "only \(bytes.count) bytes, not even the magic")
            }
            throw BundleError.notABundle(path: path)
        }
        var header = ByteReader(bytes: bytes, offset: magic.count, source: path)
        guard header.remaining >= 4 else { throw BundleError.truncated(path: path, reason: "the file ends inside the header") }
        let version = Int(try header.readU32())
        if version > BundleLayout.formatVersion { throw BundleError.newerVersion(path: path, version: version) }
        if version == 0 { throw BundleError.invalidVersion(path: path, version: version) }
        let minimum = BundleLayout.headerSize + BundleLayout.footerSize
        guard bytes.count >= minimum else {
            throw BundleError.truncated(path: path, reason: "the file is \(bytes.count) bytes, less than the \(minimum) of a header and footer")
        }
        guard bytes[(bytes.count - magic.count)...].elementsEqual(magic) else {
            throw BundleError.truncated(path: path, reason: "the file does not end with the bundle footer (it was cut short or not completely written)")
        }
        let flags = try header.readU32()
        let manifestOffset = try header.readU64()
        let manifestSize64 = try header.readU64()
        let manifestCRC = try header.readU32()
        let reserved = try header.readBytes(BundleLayout.headerSize - header.offset)
        guard flags == 0 else { throw BundleError.invalidHeader(path: path, reason: "flags are \(flags); version 1 defines none") }
        guard reserved.allSatisfy({ $0 == 0 }) else { throw BundleError.invalidHeader(path: path, reason: "reserved header bytes are not zero") }
        guard manifestOffset == UInt64(BundleLayout.headerSize) else {
            throw BundleError.invalidHeader(path: path, reason: "the manifest offset is \(manifestOffset), not \(BundleLayout.headerSize)")
        }
        let manifestRoom = bytes.count - minimum
        guard manifestSize64 >= 2, manifestSize64 <= UInt64(manifestRoom) else {
            throw BundleError.invalidHeader(path: path, reason: "the manifest size \(manifestSize64) does not fit the \(bytes.count)-byte file")
        }
        let manifestSize = Int(manifestSize64)
        guard manifestSize <= limits.maxManifestBytes else {
            throw BundleError.invalidHeader(path: path, reason: "the manifest is \(manifestSize) bytes, over the \(limits.maxManifestBytes)-byte limit")
        }
        let manifestEnd = BundleLayout.headerSize + manifestSize

        // Footer and section table.
        var footer = ByteReader(bytes: bytes, offset: bytes.count - BundleLayout.footerSize, source: path)
        let tableOffset64 = try footer.readU64()
        let sectionCount = Int(try footer.readU32())
        let frameCount = Int(try footer.readU32())
        let tableCRC = try footer.readU32()
        guard try footer.readU32() == 0 else { throw BundleError.invalidHeader(path: path, reason: "reserved footer bytes are not zero") }
        let tableSize = sectionCount * BundleLayout.sectionEntrySize + frameCount * BundleLayout.frameEntrySize
        let tableEnd = bytes.count - BundleLayout.footerSize
        guard tableOffset64 <= UInt64(tableEnd), Int(tableOffset64) + tableSize == tableEnd else {
            throw BundleError.invalidHeader(path: path, reason: "the footer places a \(tableSize)-byte section table at offset \(tableOffset64), which does not end where the footer starts (\(tableEnd))")
        }
        let tableOffset = Int(tableOffset64)
        guard tableOffset % BundleLayout.alignment == 0, tableOffset >= manifestEnd else {
            throw BundleError.invalidHeader(path: path, reason: "the section table offset \(tableOffset) is misaligned or inside the manifest")
        }
        let table = try file.slice(offset: tableOffset, count: tableSize)
        let computedTableCRC = CRC32.checksum(table)
        guard computedTableCRC == tableCRC else {
            throw BundleError.checksumMismatch(path: path, what: "section table", recorded: tableCRC, computed: computedTableCRC)
        }

        // Manifest.
        let manifestBytes = try file.slice(offset: BundleLayout.headerSize, count: manifestSize)
        let computedManifestCRC = CRC32.checksum(manifestBytes)
        guard computedManifestCRC == manifestCRC else {
            throw BundleError.checksumMismatch(path: path, what: "manifest", recorded: manifestCRC, computed: computedManifestCRC)
        }
        let manifest = try BundleManifest(json: try JSONValue.parse(manifestBytes, source: "\(path) (manifest)"), file: path)
        guard manifest.sections.count == sectionCount else {
            throw BundleError.invalidHeader(path: path, reason: "the section table has \(sectionCount) sections but the manifest lists \(manifest.sections.count)")
        }

        let sections = try readSectionTable(table, manifest: manifest, frameCount: frameCount, manifestEnd: manifestEnd,
                                            tableOffset: tableOffset, file: file, path: path)
        var declared = 0
        for s in sections {
            let (sum, overflow) = declared.addingReportingOverflow(s.size)
            declared = overflow ? Int.max : sum
        }
        let (scaled, overflow) = bytes.count.multipliedReportingOverflow(by: limits.maxExpansion)
        let limit = overflow ? Int.max : scaled.addingReportingOverflow(limits.expansionAllowance).partialValue
        guard declared <= limit else { throw BundleError.decompressionBomb(path: path, declared: declared, limit: limit) }

        try validateTensors(manifest, sections: sections, path: path)
        return BundleFile(url: url, file: file, manifest: manifest, sections: sections)
    }

    /// Decodes and checks the section table (SPEC.md §3): frames, sizes, alignment, order, overlaps and gaps.
    private static func readSectionTable(_ table: UnsafeRawBufferPointer, manifest: BundleManifest, frameCount: Int,
                                         manifestEnd: Int, tableOffset: Int, file: MappedFile, path: String) throws -> [BundleSection] {
        var r = ByteReader(bytes: table, source: path)
        var frameReader = ByteReader(bytes: table, offset: manifest.sections.count * BundleLayout.sectionEntrySize, source: path)
        var sections: [BundleSection] = []
        var previousEnd = manifestEnd
        var previousName = "manifest"
        var nextFrame = 0
        func checkGap(from start: Int, to end: Int, before what: String) throws {
            guard end - start < BundleLayout.alignment, file.bytes[start..<end].allSatisfy({ $0 == 0 }) else {
                throw BundleError.invalidSection(path: path, section: what, reason: "the \(end - start) bytes before it (from offset \(start)) \(paddingPhrase)")
            }
        }
        for (index, descriptor) in manifest.sections.enumerated() {
            let name = descriptor.name
            func fail(_ reason: String) -> BundleError { .invalidSection(path: path, section: name, reason: reason) }
            let offset64 = try r.readU64(), stored64 = try r.readU64(), size64 = try r.readU64()
            let frameSize = Int(try r.readU32()), firstFrame = Int(try r.readU32()), count = Int(try r.readU32())
            let compressionCode = try r.readU8()
            guard try r.readBytes(11).allSatisfy({ $0 == 0 }) else { throw fail("reserved bytes of its table entry are not zero") }
            guard let compression = BundleCompression(rawValue: compressionCode) else {
                throw fail("unknown compression code \(compressionCode) (0 none, 1 zstd)")
            }
            guard offset64 <= UInt64(tableOffset), stored64 <= UInt64(tableOffset) - offset64 else {
                throw fail("its \(stored64) stored bytes at offset \(offset64) run past the section table at \(tableOffset)")
            }
            let offset = Int(offset64), storedSize = Int(stored64)
            guard offset % BundleLayout.alignment == 0 else { throw fail("offset \(offset) is not a multiple of \(BundleLayout.alignment)") }
            guard offset >= previousEnd else {
                if index == 0 { throw fail("offset \(offset) is inside the manifest, which ends at \(previousEnd)") }
                throw BundleError.overlappingSections(path: path, section: name, previous: previousName, offset: offset, previousEnd: previousEnd)
            }
            try checkGap(from: previousEnd, to: offset, before: name)
            guard size64 <= UInt64(Int.max / 2) else { throw fail("decompressed size \(size64) is out of range") }
            let size = Int(size64)
            guard (1...BundleLayout.maxFrameSize).contains(frameSize) else {
                throw fail("frame size \(frameSize) is outside 1…\(BundleLayout.maxFrameSize)")
            }
            let expectedCount = (size + frameSize - 1) / frameSize
            guard count == expectedCount else {
                throw fail("\(count) frames but a decompressed size of \(size) in frames of \(frameSize) bytes needs \(expectedCount)")
            }
            guard firstFrame == nextFrame, count <= frameCount - nextFrame else {
                throw fail("its frames \(firstFrame)..<\(firstFrame + count) do not follow the previous section's (next is \(nextFrame) of \(frameCount))")
            }
            var frames: [BundleFrame] = []
            frames.reserveCapacity(count)
            var expectedOffset = 0
            for k in 0..<count {
                let relative = try frameReader.readU64(), frameStored = Int(try frameReader.readU32()), crc = try frameReader.readU32()
                let start = k * frameSize
                let range = start..<min(start + frameSize, size)
                guard relative == UInt64(expectedOffset), frameStored <= storedSize - expectedOffset else {
                    throw fail("frame \(k) at relative offset \(relative) (\(frameStored) bytes) does not follow frame \(k - 1) inside the \(storedSize) stored bytes")
                }
                guard compression == .zstd || frameStored == range.count else {
                    throw fail("uncompressed frame \(k) stores \(frameStored) bytes but holds \(range.count)")
                }
                guard frameStored > 0 else { throw fail("frame \(k) stores no bytes") }
                frames.append(BundleFrame(storedOffset: offset + expectedOffset, storedSize: frameStored, crc32: crc, range: range))
                expectedOffset += frameStored
            }
            guard expectedOffset == storedSize else {
                throw fail("its frames store \(expectedOffset) bytes but the section table records \(storedSize)")
            }
            sections.append(BundleSection(name: name, kind: descriptor.kind, index: index, offset: offset, storedSize: storedSize,
                                          size: size, frameSize: frameSize, compression: compression, frames: frames))
            nextFrame += count
            previousEnd = offset + storedSize
            previousName = name
        }
        guard nextFrame == frameCount else {
            throw BundleError.invalidHeader(path: path, reason: "the footer counts \(frameCount) frames but the sections use \(nextFrame)")
        }
        try checkGap(from: previousEnd, to: tableOffset, before: "section table")
        return sections
    }

    /// Checks every tensor's section and byte ranges, and every FFN bundle against its parts' entries.
    private static func validateTensors(_ manifest: BundleManifest, sections: [BundleSection], path: String) throws {
        let byName = Dictionary(uniqueKeysWithValues: sections.map { ($0.name, $0) })
        for t in manifest.tensors {
            guard let section = byName[t.section] else {
                throw BundleError.missingSection(path: path, tensor: t.name, section: t.section)
            }
            let (count, size, stride) = t.chunks.map { ($0.count, $0.size, $0.stride) } ?? (1, t.byteCount, t.byteCount)
            let (span, o1) = (count - 1).multipliedReportingOverflow(by: stride)
            let (last, o2) = t.offset.addingReportingOverflow(span)
            let (end, o3) = last.addingReportingOverflow(size)
            guard !o1, !o2, !o3, end <= section.size else {
                throw BundleError.invalidTensor(path: path, tensor: t.name, reason: "its bytes (from offset \(t.offset)) run past the end of section '\(t.section)' (\(section.size) bytes)")
            }
        }
        let entries = Dictionary(uniqueKeysWithValues: manifest.tensors.map { ($0.name, $0) })
        for case let bundle? in manifest.ffnBundles {
            func fail(_ reason: String) -> BundleError {
                .invalidGraph(path: path, reason: "block \(bundle.block): FFN bundle in '\(bundle.section)': \(reason)")
            }
            guard byName[bundle.section] != nil else { throw fail("no such section") }
            guard (1...3).contains(bundle.parts.count) else { throw fail("\(bundle.parts.count) parts; expected gate, up, down or up, down (without down where the source's down is kept)") }
            let (neurons, overflow) = bundle.blockCount.multipliedReportingOverflow(by: bundle.blockSize)
            guard !overflow else { throw fail("\(bundle.blockCount) blocks of \(bundle.blockSize) neurons overflow") }
            var partOffset = bundle.offset
            for part in bundle.parts {
                guard let e = entries[part], let c = e.chunks else { throw fail("part '\(part)' is not a chunked tensor of the manifest") }
                guard e.section == bundle.section, e.offset == partOffset, c.stride == bundle.stride, c.count == bundle.blockCount,
                      e.shape.dims.first == neurons else {
                    throw fail("part '\(part)' (offset \(e.offset), \(c.count) chunks of \(c.size) every \(c.stride), shape \(e.shape)) does not match the bundle (offset \(partOffset), \(bundle.blockCount) blocks of \(bundle.blockSize) neurons every \(bundle.stride) bytes)")
                }
                partOffset += c.size
            }
            guard partOffset == bundle.offset + bundle.stride else {
                throw fail("its parts fill \(partOffset - bundle.offset) bytes of each \(bundle.stride)-byte block")
            }
        }
    }

    // MARK: Sections and frames (lazy)

    /// The section called `name`.
    public func section(named name: String) throws -> BundleSection {
        guard let i = sectionIndex[name] else {
            throw BundleError.invalidSection(path: path, section: name, reason: "no such section (sections: \(sections.map(\.name).joined(separator: ", ")))")
        }
        return sections[i]
    }

    /// The verified decompressed bytes of frame `k` of `section`: a slice of the mapping for raw sections, a
    /// new buffer for zstd sections.
    public func decodeFrame(_ k: Int, of section: BundleSection) throws -> TensorStorage {
        let s = try own(section)
        guard s.frames.indices.contains(k) else {
            throw BundleError.invalidSection(path: path, section: s.name, reason: "has no frame \(k) (it has \(s.frames.count))")
        }
        let stored = try verifiedStoredBytes(of: s, frame: k)
        let frame = s.frames[k]
        switch s.compression {
        case .none:
            return .mapped(file, offset: frame.storedOffset, count: frame.storedSize)
        case .zstd:
            let buffer = TensorBuffer(count: frame.range.count)
            try decode(stored, into: buffer.bytes, section: s, frame: k)
            return .owned(buffer)
        }
    }

    /// The verified bytes `range` of `section`'s decompressed bytes, decoding only the frames that hold them.
    public func bytes(_ range: Range<Int>, of section: BundleSection) throws -> TensorStorage {
        let s = try own(section)
        guard range.lowerBound >= 0, range.upperBound <= s.size else {
            throw BundleError.invalidSection(path: path, section: s.name, reason: "bytes \(range) requested but it holds \(s.size)")
        }
        switch s.compression {
        case .none:
            for k in s.frames(covering: range) { _ = try verifiedStoredBytes(of: s, frame: k) }
            return .mapped(file, offset: s.offset + range.lowerBound, count: range.count)
        case .zstd:
            let buffer = TensorBuffer(count: range.count)
            try decodeFrames(of: s, into: [Extent(range: range, destination: buffer.bytes.baseAddress!)])
            return .owned(buffer)
        }
    }

    /// The verified bytes of FFN block `b` (gate rows, up rows, down rows, SPEC.md §7) of transformer block `i`.
    public func ffnBlock(_ b: Int, ofBlock i: Int) throws -> TensorStorage {
        guard manifest.ffnBundles.indices.contains(i), let bundle = manifest.ffnBundles[i] else {
            throw BundleError.invalidGraph(path: path, reason: "block \(i) has no blocked FFN")
        }
        guard (0..<bundle.blockCount).contains(b) else {
            throw BundleError.invalidGraph(path: path, reason: "block \(i) has \(bundle.blockCount) FFN blocks; \(b) requested")
        }
        return try bytes(bundle.range(ofBlock: b), of: try section(named: bundle.section))
    }

    // MARK: Tensors

    /// The manifest entry of tensor `name`.
    public func entry(named name: String) throws -> BundleTensorEntry {
        guard let i = tensorIndex[name] else { throw BundleError.unknownTensor(path: path, name: name) }
        return manifest.tensors[i]
    }

    /// One tensor, decoding only the frames it spans (zero-copy for a contiguous tensor of a raw section).
    public func tensor(named name: String) throws -> Tensor {
        let e = try entry(named: name)
        let s = try section(named: e.section)
        if let range = e.contiguousRange {
            return try Tensor(name: e.name, dtype: e.dtype, shape: e.shape, storage: try bytes(range, of: s), source: path)
        }
        let buffer = TensorBuffer(count: e.byteCount)
        let extents = Self.extents(of: e, into: buffer)
        if s.compression == .none {
            for k in Set(e.ranges.flatMap { s.frames(covering: $0) }).sorted() { _ = try verifiedStoredBytes(of: s, frame: k) }
            Self.copy(extents, from: rawBytes(of: s))
        } else {
            try decodeFrames(of: s, into: extents)
        }
        return try Tensor(name: e.name, dtype: e.dtype, shape: e.shape, storage: .owned(buffer), source: path)
    }

    /// Every tensor, in manifest order, verified: owned buffers decoded in parallel for zstd sections, zero-copy
    /// slices of the mapping for contiguous tensors of raw sections, and buffers gathered when first read for the
    /// other tensors of raw sections. The pages read to verify a section (or to gather a tensor) are released
    /// afterwards (`MappedFile.releasePages`).
    public func readTensors() throws -> TensorStore {
        var storages = [TensorStorage?](repeating: nil, count: manifest.tensors.count)
        let bySection = Dictionary(grouping: manifest.tensors.indices, by: { manifest.tensors[$0].section })
        for s in sections {
            let indices = bySection[s.name] ?? []
            switch s.compression {
            case .none:
                _ = try parallelMap(s.frames.count) { k in try verifiedStoredBytes(of: s, frame: k) }
                for i in indices {
                    let e = manifest.tensors[i]
                    if let range = e.contiguousRange {
                        storages[i] = .mapped(file, offset: s.offset + range.lowerBound, count: range.count)
                    } else {
                        // Gathered from the section's parts (an FFN layer's rows from its blocks) when first read:
                        // a model that never reads it (a transposed down beside a kept source down) never holds it.
                        // The closure holds the mapping, not this object (whose parsed manifest is megabytes).
                        let file = file, section = rawBytes(of: s)
                        let span = (e.ranges.map(\.lowerBound).min() ?? 0)..<(e.ranges.map(\.upperBound).max() ?? 0)
                        storages[i] = .deferred(DeferredBuffer(count: e.byteCount) { buffer in
                            Self.copy(Self.extents(of: e, into: buffer), from: section)
                            // The pages of the whole span: its parts' partial pages too (23 MB of SmolLM2's).
                            file.releasePages(of: UnsafeRawBufferPointer(rebasing: section[span]))
                        })
                    }
                }
            case .zstd:
                var extents: [Extent] = []
                for i in indices {
                    let buffer = TensorBuffer(count: manifest.tensors[i].byteCount)
                    extents += Self.extents(of: manifest.tensors[i], into: buffer)
                    storages[i] = .owned(buffer)
                }
                try decodeFrames(of: s, into: extents)
            }
            // Verifying (and decompressing) read every page of the section: hand them back. A mapped tensor's pages
            // come back from the file when a product first reads them, so the process holds only the pages it uses
            // (not the gathered FFN parts, the compressed bytes, or rows no run reads).
            file.releasePages(of: UnsafeRawBufferPointer(rebasing: file.bytes[s.offset..<(s.offset + s.storedSize)]))
        }
        // Once more over every section: on kernels whose page cache holds large folios, reading a section's first
        // pages maps the whole folio, which may reach back into the section released before it.
        if let first = sections.map(\.offset).min(), let end = sections.map({ $0.offset + $0.storedSize }).max(), first < end {
            file.releasePages(of: UnsafeRawBufferPointer(rebasing: file.bytes[first..<end]))
        }
        return TensorStore(try manifest.tensors.enumerated().map { i, e in
            try Tensor(name: e.name, dtype: e.dtype, shape: e.shape, storage: storages[i]!, source: path)
        })
    }

    /// The model: every tensor verified and the graph rebuilt from the manifest (blocked layouts, predictors,
    /// densities, tokenizer, metadata).
    public func readGraph() throws -> ModelGraph {
        try BundleGraphCodec.buildGraph(manifest, tensors: try readTensors(), file: path)
    }

    /// Manifest facts as (key, value) text, for `sieve inspect`.
    public var summary: [(String, String)] {
        let m = manifest
        var out: [(String, String)] = [
            ("bundle.format_version", String(BundleLayout.formatVersion)),
            ("bundle.architecture", m.architecture.rawValue),
            ("bundle.sections", String(sections.count)),
            ("bundle.stored_bytes", String(sections.reduce(0) { $0 + $1.storedSize })),
            ("bundle.decompressed_bytes", String(sections.reduce(0) { $0 + $1.size })),
            ("bundle.zstd_sections", String(sections.filter { $0.compression == .zstd }.count)),
        ]
        let blocked = m.ffnBundles.compactMap { $0 }
        if let first = blocked.first {
            out.append(("bundle.ffn_block_size", String(first.blockSize)))
            out.append(("bundle.blocked_ffn_layers", String(blocked.count)))
        }
        let predictors = (m.graph["blocks"]?.arrayItems ?? []).reduce(0) { n, block in
            n + ["ffn_predictor", "head_predictor"].filter { block[$0].map { !$0.isNull } ?? false }.count
        }
        out.append(("bundle.predictors", String(predictors)))
        out.append(("provenance.sieve_version", m.provenance.sieveVersion))
        if let source = m.provenance.source {
            out.append(("provenance.source", source.name))
            if let sha = source.sha256 { out.append(("provenance.source_sha256", sha)) }
        }
        if !m.provenance.passes.isEmpty {
            out.append(("provenance.passes", m.provenance.passes.map(\.name).joined(separator: ", ")))
        }
        if let check = m.provenance.passes.last(where: { $0.name == "check" })?.options,
           let budget = check["max_ppl_increase"]?.doubleValue, let dense = check["dense_ppl"]?.doubleValue,
           let schedule = check["schedule_ppl"]?.doubleValue, let bound = check["schedule_bound"]?.doubleValue {
            let tokens = check["tokens"]?.intValue.map { " on \($0) held-out tokens" } ?? ""
            let outcome = check["replacement"].map { $0.isNull } ?? true ? "kept" : "replaced by the tuner's choice"
            out.append(("provenance.schedule_check", String(format: "recall schedule %+.2f%% (bound %+.2f%%) over dense%@, budget +%g%%: %@",
                                                         100 * (schedule / dense - 1), bound, tokens, budget, outcome)))
        }
        out += m.metadata.sorted { $0.key < $1.key }.map { ("metadata.\($0.key)", $0.value) }
        return out
    }

    // MARK: Internals

    /// A run of a section's decompressed bytes and where to copy it.
    private struct Extent {
        let range: Range<Int>
        let destination: UnsafeMutableRawPointer
    }

    /// The extents that scatter a tensor's section bytes into `buffer`, in tensor order.
    private static func extents(of e: BundleTensorEntry, into buffer: TensorBuffer) -> [Extent] {
        var out: [Extent] = []
        var at = 0
        for r in e.ranges where !r.isEmpty {
            out.append(Extent(range: r, destination: buffer.bytes.baseAddress! + at))
            at += r.count
        }
        return out
    }

    /// The section of this file equal to `section` (callers may hold sections of another bundle).
    private func own(_ section: BundleSection) throws -> BundleSection {
        guard sections.indices.contains(section.index), sections[section.index] == section else {
            throw BundleError.invalidSection(path: path, section: section.name, reason: "is not a section of this bundle")
        }
        return section
    }

    /// Frame `k`'s stored bytes after checking their CRC-32.
    private func verifiedStoredBytes(of s: BundleSection, frame k: Int) throws -> UnsafeRawBufferPointer {
        let frame = s.frames[k]
        let stored = UnsafeRawBufferPointer(rebasing: file.bytes[frame.storedOffset..<(frame.storedOffset + frame.storedSize)])
        let crc = CRC32.checksum(stored)
        guard crc == frame.crc32 else {
            throw BundleError.corruptFrame(path: path, section: s.name, frame: k,
                                           reason: "CRC-32 of the stored bytes is \(hex32(crc)) but the section table records \(hex32(frame.crc32))")
        }
        return stored
    }

    /// Decodes one verified zstd frame into `out` (exactly the frame's decompressed length).
    private func decode(_ stored: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer, section s: BundleSection, frame k: Int) throws {
        func fail(_ reason: String) -> BundleError { .corruptFrame(path: path, section: s.name, frame: k, reason: reason) }
        guard let header = ZstdFrameHeader(stored) else { throw fail("not a zstd frame") }
        guard header.dictionaryID == 0 else { throw fail("needs zstd dictionary \(header.dictionaryID); bundles use none") }
        guard header.hasChecksum else { throw fail("the zstd frame has no content checksum") }
        guard header.contentSize == out.count else {
            throw fail("the zstd frame declares \(header.contentSize.map(String.init) ?? "no") decompressed bytes but the section table implies \(out.count)")
        }
        do {
            try Zstd.decompress(stored, into: out, source: "\(path): section '\(s.name)' frame \(k)")
        } catch let SieveCoreError.compression(_, reason) {
            throw fail(reason)
        }
    }

    /// Decodes (in parallel) every frame of `s` that holds a byte of an extent and copies those bytes out.
    private func decodeFrames(of s: BundleSection, into extents: [Extent]) throws {
        let needed = Set(extents.flatMap { s.frames(covering: $0.range) }).sorted()
        _ = try parallelMap(needed.count) { j in
            let k = needed[j]
            let frame = s.frames[k]
            let stored = try verifiedStoredBytes(of: s, frame: k)
            var scratch = [UInt8](repeating: 0, count: frame.range.count)
            try scratch.withUnsafeMutableBytes { out in
                try decode(stored, into: out, section: s, frame: k)
                Self.scatter(UnsafeRawBufferPointer(out), at: frame.range, to: extents)
            }
        }
    }

    /// The bytes of raw section `s` in the mapping.
    private func rawBytes(of s: BundleSection) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: file.bytes[s.offset..<(s.offset + s.size)])
    }

    /// Copies the extents out of a raw section's bytes (its frames verified).
    private static func copy(_ extents: [Extent], from section: UnsafeRawBufferPointer) {
        scatter(section, at: 0..<section.count, to: extents)
    }

    /// Copies the part of each extent that lies in `window` (section offsets) out of `bytes` (the window's bytes).
    private static func scatter(_ bytes: UnsafeRawBufferPointer, at window: Range<Int>, to extents: [Extent]) {
        for e in extents where e.range.overlaps(window) {
            let lo = max(e.range.lowerBound, window.lowerBound), hi = min(e.range.upperBound, window.upperBound)
            (e.destination + (lo - e.range.lowerBound))
                .copyMemory(from: bytes.baseAddress! + (lo - window.lowerBound), byteCount: hi - lo)
        }
    }
}
