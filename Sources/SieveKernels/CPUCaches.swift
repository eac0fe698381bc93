import Foundation

/// The size of this CPU's last-level cache, for choosing between kernels that suit weights read from the caches and
/// weights streamed from memory (`MatMulInput.mixedHalfConversion`).
public enum CPUCaches {
    /// Bytes of the largest-level data or unified cache of the first CPU (Linux: `/sys/devices/system/cpu/cpu0/cache`,
    /// macOS: `hw.l3cachesize`, else `hw.l2cachesize`), or nil when the system does not say. The L3 of one core
    /// complex on AMD (16 MiB on a Zen 2 EPYC), not the whole socket's.
    public static let lastLevelBytes: Int? = {
        #if os(Linux)
        var best: (level: Int, bytes: Int)?
        for index in 0..<8 {
            let directory = "/sys/devices/system/cpu/cpu0/cache/index\(index)/"
            func read(_ name: String) -> String? {
                (try? String(contentsOfFile: directory + name, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            guard let type = read("type"), type != "Instruction", let level = read("level").flatMap({ Int($0) }),
                  let size = read("size").flatMap(parseSize) else { continue }
            if best == nil || level > best!.level { best = (level, size) }
        }
        return best?.bytes
        #elseif canImport(Darwin)
        for name in ["hw.l3cachesize", "hw.l2cachesize"] {
            var value: Int64 = 0
            var size = MemoryLayout<Int64>.size
            if sysctlbyname(name, &value, &size, nil, 0) == 0, value > 0 { return Int(value) }
        }
        return nil
        #else
        return nil
        #endif
    }()

    /// `"16384K"`, `"16M"` or `"524288"` as bytes; nil for anything else.
    static func parseSize(_ text: String) -> Int? {
        let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        guard let last = text.last else { return nil }
        if let unit = units[Character(last.uppercased())] {
            return Int(text.dropLast()).flatMap { $0 > 0 ? $0 * unit : nil }
        }
        return Int(text).flatMap { $0 > 0 ? $0 : nil }
    }
}
