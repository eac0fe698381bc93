import BundleFormat
import Foundation
import SieveFuzzTargets
import Testing

/// Damage anywhere in a bundle is always noticed: 100 random single-byte changes, each must make `sieve verify`
/// report a problem (saying so when the byte was alignment padding) and make loading fail. Never a silently
/// different model.
@Suite("Random damage to a bundle is always reported")
struct BitFlipTests {
    /// The padding of a bundle (SPEC.md §2–§3) that no checksum covers: header and footer reserved bytes and the
    /// zero gaps before 64-byte aligned parts. (Reserved bytes of the section table are covered by its CRC-32.)
    static func paddingRanges(_ d: [UInt8]) throws -> [Range<Int>] {
        let manifestEnd = 64 + Int(BundleTable.u64(d, 24))
        let footer = d.count - 32
        let tableOffset = Int(BundleTable.u64(d, footer))
        let s = Int(BundleTable.u32(d, footer + 8))
        var ranges = [36..<64, (footer + 20)..<(footer + 24)]
        var previousEnd = manifestEnd
        for i in 0..<s {
            let e = tableOffset + 48 * i
            let offset = Int(BundleTable.u64(d, e)), stored = Int(BundleTable.u64(d, e + 8))
            ranges.append(previousEnd..<offset)
            previousEnd = offset + stored
        }
        ranges.append(previousEnd..<tableOffset)
        return ranges.filter { !$0.isEmpty }
    }

    @Test("100 single-byte flips: verify and loading both report each one")
    func flips() throws {
        let scratch = try Scratch()
        // A packed bundle with zstd and raw sections, blocked FFNs and predictors (the fuzz corpus's seed).
        let original = Array(try Data(contentsOf: FuzzTargets.fuzzFolder.appendingPathComponent("corpus/bundle/mini-packed.sieve")))
        let good = scratch.file("good.sieve")
        try Data(original).write(to: good)
        let clean = try Child.run(["verify", good.path], scratch: scratch.url)
        try #require(clean.status == 0, "the undamaged bundle must verify: \(clean.stdout) \(clean.stderr)")
        _ = try BundleFile.open(good).readGraph()

        let padding = try Self.paddingRanges(original)
        var rng = SeededRandom(state: 0xF11B)
        var paddingHits = 0
        for trial in 0..<100 {
            var damaged = original
            let at = Int.random(in: 0..<damaged.count, using: &rng)
            damaged[at] ^= UInt8.random(in: 1...255, using: &rng)
            let url = scratch.file("flip-\(trial).sieve")
            try Data(damaged).write(to: url)
            let inPadding = padding.contains { $0.contains(at) }
            if inPadding { paddingHits += 1 }

            let report = BundleVerifier.verify(url)
            #expect(!report.isValid, "trial \(trial): byte \(at) changed but verify found nothing")
            if inPadding {
                #expect(report.problems.contains { $0.inPadding }, "trial \(trial): byte \(at) is padding but verify does not say so: \(report.problems)")
            }
            #expect(throws: (any Error).self, "trial \(trial): byte \(at) changed but the bundle loaded") {
                _ = try BundleFile.open(url).readGraph()
            }
            let cli = try Child.run(["verify", url.path], scratch: scratch.url)
            #expect(cli.status == 1, "trial \(trial): sieve verify exited \(String(describing: cli.status)): \(cli.stdout)")
            #expect(cli.stdout.contains("PROBLEM"), "trial \(trial): \(cli.stdout)")
            if inPadding { #expect(cli.stdout.contains("damaged padding"), "trial \(trial): \(cli.stdout)") }
            try? FileManager.default.removeItem(at: url)
        }
        // The sample is seeded; record that it exercised both kinds of damage.
        #expect(paddingHits < 100)
    }

    @Test("damage in each padding range is reported as padding")
    func paddingDamage() throws {
        let scratch = try Scratch()
        let original = Array(try Data(contentsOf: FuzzTargets.fuzzFolder.appendingPathComponent("corpus/bundle/mini-packed.sieve")))
        let ranges = try Self.paddingRanges(original)
        #expect(ranges.count >= 3)
        for range in ranges {
            var data = original
            data[range.lowerBound] = 0x5A
            let url = scratch.file("padding-\(range.lowerBound).sieve")
            try Data(data).write(to: url)
            let report = BundleVerifier.verify(url)
            #expect(report.problems.count == 1)
            #expect(report.problems.first?.inPadding == true, "byte \(range.lowerBound): \(report.problems)")
        }
    }
}
