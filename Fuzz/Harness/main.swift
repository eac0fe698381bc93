// sieve-fuzz: a seeded mutation fuzzer for Sieve's readers (see Fuzz/README.md).
//
//   sieve-fuzz run TARGET [--seconds N] [--timeout-ms MS] [--rss-limit-mb MB] [--seed S] [--findings DIR]
//   sieve-fuzz replay TARGET FILE...
//   sieve-fuzz list
//
// `run` is a supervisor: it starts a worker process (this binary, `worker` mode) that mutates the target's seed
// corpus (Fuzz/corpus/TARGET plus Fuzz/regressions/TARGET) and runs each input, writing the input into a shared
// memory-mapped file first. The supervisor watches the worker: if it dies (a crash, an allocation failure under
// the address-space limit), takes longer than the timeout on one input, or its resident memory grows past the
// limit, the input is saved to the findings folder and `run` exits 1. Otherwise it prints the executions and
// exits 0 after the time is up.
import Foundation
import SieveFuzzTargets
#if canImport(Glibc)
import Glibc
#endif

// MARK: Shared state between supervisor and worker

/// Layout of the shared file: magic, executions, start of the current input (ns, 0 when idle), its length, its bytes.
struct SharedState {
    static let maxInput = 2 << 20
    static let headerSize = 32
    static let size = headerSize + maxInput
    let base: UnsafeMutableRawPointer

    init(path: String, create: Bool) {
        let fd = open(path, create ? (O_RDWR | O_CREAT | O_TRUNC) : O_RDWR, 0o600)
        precondition(fd >= 0, "sieve-fuzz: cannot open \(path)")
        if create { precondition(ftruncate(fd, off_t(Self.size)) == 0) }
        let p = mmap(nil, Self.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        precondition(p != MAP_FAILED, "sieve-fuzz: cannot map \(path)")
        close(fd)
        base = p!
    }

    private func word(_ i: Int) -> UnsafeMutablePointer<UInt64> { (base + 8 * i).assumingMemoryBound(to: UInt64.self) }
    var executions: UInt64 { get { word(1).pointee } nonmutating set { word(1).pointee = newValue } }
    var startNanos: UInt64 { get { word(2).pointee } nonmutating set { word(2).pointee = newValue } }
    var length: Int { get { Int(word(3).pointee) } nonmutating set { word(3).pointee = UInt64(newValue) } }

    func store(_ input: [UInt8]) {
        let n = min(input.count, Self.maxInput)
        input.withUnsafeBytes { (base + Self.headerSize).copyMemory(from: $0.baseAddress!, byteCount: n) }
        length = n
    }

    var input: [UInt8] {
        let n = min(length, Self.maxInput)
        return Array(UnsafeRawBufferPointer(start: base + Self.headerSize, count: n))
    }
}

func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

// MARK: Random numbers and mutation

/// SplitMix64: deterministic for a given seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

struct Mutator {
    var rng: SplitMix64
    let text: Bool
    let dictionary: [[UInt8]]
    static let interesting64: [UInt64] = [0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFF_FFFF,
                                         0x8000_0000, 0xFFFF_FFFF, 1 << 32, 1 << 40, 25 << 32, 1 << 62,
                                         0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, UInt64.max, UInt64.max - 1]
    static let decimals = ["0", "-1", "1", "65536", "2147483647", "4294967296", "1099511627776", "9223372036854775807",
                           "-9223372036854775808", "18446744073709551615", "99999999999999999999", "1e308", "-0", "0.5", "NaN"]

    mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(rng.next() % UInt64(n)) }

    mutating func mutate(_ seed: [UInt8], splice: [UInt8]) -> [UInt8] {
        var d = seed
        let rounds = 1 + below(below(2) == 0 ? 3 : 10)
        for _ in 0..<rounds { step(&d, splice: splice) }
        if d.count > SharedState.maxInput { d.removeSubrange(SharedState.maxInput...) }
        return d
    }

    private mutating func step(_ d: inout [UInt8], splice: [UInt8]) {
        var choice = below(text ? 14 : 12)
        if !text && choice == 11 { choice = 13 }
        if d.isEmpty { d = Array("{}".utf8); return }
        switch choice {
        case 0: // flip a bit
            let i = below(d.count); d[i] ^= UInt8(1 << below(8))
        case 1: // interesting byte
            d[below(d.count)] = [0, 0xFF, 0x7F, 0x80, 0x20, 0x22, 0x5C, 0x7B, 0x5B, 0x30, 0x39][below(11)]
        case 2, 3: // interesting integer, little endian, at an aligned or random offset
            let width = [1, 2, 4, 8][below(4)]
            guard d.count >= width else { return }
            var at = below(d.count - width + 1)
            if below(2) == 0 { at -= at % width }
            var value = Self.interesting64[below(Self.interesting64.count)]
            if below(4) == 0 { value = UInt64(bitPattern: Int64(d.count &+ below(64) &- 32)) }
            if below(3) == 0 { value = value &+ UInt64(bitPattern: Int64(below(5) - 2)) }
            for k in 0..<width { d[at + k] = UInt8(truncatingIfNeeded: value >> UInt64(8 * k)) }
        case 4: // delete a range
            let a = below(d.count), n = 1 + below(min(d.count - a, below(2) == 0 ? 8 : 512))
            d.removeSubrange(a..<(a + n))
        case 5: // duplicate a range
            let a = below(d.count), n = 1 + below(min(d.count - a, 256))
            d.insert(contentsOf: d[a..<(a + n)], at: below(d.count + 1))
        case 6: // insert a dictionary token
            let token = dictionary.isEmpty ? [UInt8(below(256))] : dictionary[below(dictionary.count)]
            d.insert(contentsOf: token, at: below(d.count + 1))
        case 7: // splice with another corpus input
            guard !splice.isEmpty else { return }
            let a = below(splice.count), n = 1 + below(min(splice.count - a, 1024))
            let at = below(d.count + 1)
            if below(2) == 0 { d.insert(contentsOf: splice[a..<(a + n)], at: at) }
            else { d.replaceSubrange(at..<min(d.count, at + n), with: splice[a..<(a + n)]) }
        case 8: // truncate
            d.removeSubrange(below(d.count + 1)...)
        case 9: // random bytes
            let at = below(d.count)
            for k in at..<min(d.count, at + 1 + below(8)) { d[k] = UInt8(below(256)) }
        case 10: // repeat a byte run (long runs for nesting and lengths)
            let n = 1 + below(below(2) == 0 ? 64 : 4096)
            d.insert(contentsOf: [UInt8](repeating: d[below(d.count)], count: n), at: below(d.count + 1))
        case 13: // overwrite a decimal number in place (same length: JSON inside binary files)
            let digits = d.indices.filter { (0x30...0x39).contains(d[$0]) }
            guard !digits.isEmpty else { return }
            var a = digits[below(digits.count)], b = a
            while a > 0, (0x30...0x39).contains(d[a - 1]) { a -= 1 }
            while b + 1 < d.count, (0x30...0x39).contains(d[b + 1]) { b += 1 }
            let style = below(4)
            for k in a...b { d[k] = style == 0 ? 0x39 : style == 1 ? 0x30 : UInt8(0x30 + below(10)) }
            if style == 3, b > a { d[a] = 0x2D }
        case 11: // replace a decimal number in text with an interesting one
            let digits = d.indices.filter { (0x30...0x39).contains(d[$0]) }
            guard !digits.isEmpty else { return }
            var a = digits[below(digits.count)], b = a
            while a > 0, (0x30...0x39).contains(d[a - 1]) || d[a - 1] == 0x2D { a -= 1 }
            while b + 1 < d.count, (0x30...0x39).contains(d[b + 1]) || d[b + 1] == 0x2E { b += 1 }
            d.replaceSubrange(a...b, with: Array(Self.decimals[below(Self.decimals.count)].utf8))
        default: // replace a dictionary token by another one
            guard let from = dictionary.randomElement(using: &rng), let to = dictionary.randomElement(using: &rng),
                  from.count <= d.count, let at = (0...(d.count - from.count)).first(where: { i in d[i..<(i + from.count)].elementsEqual(from) })
            else { return }
            d.replaceSubrange(at..<(at + from.count), with: to)
        }
    }
}

// MARK: Corpus

func loadInputs(_ folder: URL) -> [[UInt8]] {
    let fm = FileManager.default
    guard let names = try? fm.contentsOfDirectory(atPath: folder.path) else { return [] }
    return names.sorted().filter { !$0.hasPrefix(".") && $0 != "README.md" }.compactMap {
        (try? Data(contentsOf: folder.appendingPathComponent($0))).map { Array($0) }
    }
}

func corpus(for target: String) -> [[UInt8]] {
    loadInputs(FuzzTargets.fuzzFolder.appendingPathComponent("corpus/\(target)"))
        + loadInputs(FuzzTargets.fuzzFolder.appendingPathComponent("regressions/\(target)"))
}

// MARK: Worker

/// A coarse feedback signal without coverage: the kind of error (type and case) an input ends with. Inputs that
/// reach a new kind join the working corpus, so mutation moves deeper into the readers.
func signature(_ error: Error?) -> String {
    guard let error else { return "ok" }
    let text = "\(type(of: error)).\(error)"
    return String(text.prefix(while: { $0 != "(" }))
}

func runWorker(target: String, sharedPath: String, seconds: Double, seed: UInt64, addressLimitMB: Int) -> Never {
    let state = SharedState(path: sharedPath, create: false)
    if addressLimitMB > 0 {
        // Cap the address space: an attempt to allocate far past the limit fails (and the worker dies) at once.
        var current = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &current)
        let statm = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? "0"
        let pages = Int(statm.split(separator: " ").first ?? "0") ?? 0
        let limit = rlim_t(pages * Int(sysconf(Int32(_SC_PAGESIZE))) + addressLimitMB << 20)
        var r = rlimit(rlim_cur: limit, rlim_max: current.rlim_max)
        setrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &r)
    }
    let workspace: FuzzTargets.Workspace
    do { workspace = try FuzzTargets.Workspace() } catch { fputs("sieve-fuzz: \(error)\n", stderr); exit(2) }
    var inputs = corpus(for: target)
    if inputs.isEmpty { inputs = [Array("{}".utf8)] }
    var mutator = Mutator(rng: SplitMix64(state: seed), text: FuzzTargets.isText(target),
                          dictionary: FuzzTargets.dictionary(target).map { Array($0.utf8) })
    var seen = Set<String>()
    let deadline = monotonicNanos() + UInt64(seconds * 1e9)
    var n = 0
    while monotonicNanos() < deadline {
        // Seeds first as they are, then mutations.
        let input = n < inputs.count ? inputs[n]
            : mutator.mutate(inputs[mutator.below(inputs.count)], splice: inputs[mutator.below(inputs.count)])
        state.store(input)
        state.startNanos = monotonicNanos()
        let outcome: Error?
        do {
            outcome = try FuzzTargets.run(target, input, in: workspace)
        } catch {
            fputs("sieve-fuzz: \(error)\n", stderr)
            exit(2)
        }
        state.startNanos = 0
        state.executions += 1
        n += 1
        if seen.insert(signature(outcome)).inserted, inputs.count < 4096 { inputs.append(input) }
    }
    workspace.remove()
    fputs("worker: \(seen.count) distinct outcomes, corpus \(inputs.count)\n", stderr)
    exit(0)
}

// MARK: Supervisor

func residentBytes(_ pid: pid_t) -> Int {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

func saveFinding(_ input: [UInt8], kind: String, target: String, folder: URL) -> URL {
    let dir = folder.appendingPathComponent(target)
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in input { hash = (hash ^ UInt64(b)) &* 0x100_0000_01B3 }
    let url = dir.appendingPathComponent("\(kind)-\(String(hash, radix: 16))")
    try? Data(input).write(to: url)
    return url
}

func supervise(target: String, seconds: Double, timeoutMS: Int, rssLimitMB: Int, seed: UInt64, findings: URL) -> Int32 {
    let sharedPath = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-fuzz-state-\(getpid())-\(target)").path
    let state = SharedState(path: sharedPath, create: true)
    defer { unlink(sharedPath) }
    let arguments = [CommandLine.arguments[0], "worker", target, sharedPath, String(seconds), String(seed), String(rssLimitMB * 4)]
    var pid: pid_t = 0
    var argv = arguments.map { strdup($0) } + [nil]
    var env = ProcessInfo.processInfo.environment
    env["MALLOC_ARENA_MAX"] = "2"
    var envp = env.map { strdup("\($0)=\($1)") } + [nil]
    let spawned = posix_spawn(&pid, arguments[0], nil, nil, &argv, &envp)
    guard spawned == 0 else { fputs("sieve-fuzz: cannot start the worker: \(String(cString: strerror(spawned)))\n", stderr); return 2 }
    let start = monotonicNanos()
    var baseline = 0
    var peak = 0
    var finding: (kind: String, detail: String)?
    var status: Int32 = 0
    while true {
        usleep(20_000)
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid {
            let signaled = (status & 0x7F) != 0 && (status & 0x7F) != 0x7F
            let code = (status >> 8) & 0xFF
            if signaled { finding = ("crash", "the worker died of signal \(status & 0x7F)") }
            else if code != 0 { finding = ("crash", "the worker exited with status \(code)") }
            break
        }
        let rss = residentBytes(pid)
        if state.executions > 0 && baseline == 0 { baseline = rss }
        peak = max(peak, rss)
        let busy = state.startNanos
        if busy != 0, monotonicNanos() > busy, monotonicNanos() - busy > UInt64(timeoutMS) * 1_000_000 {
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
            finding = ("timeout", "one input ran longer than \(timeoutMS) ms")
            break
        }
        if baseline > 0, rss > baseline + rssLimitMB << 20 {
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
            finding = ("oom", "resident memory reached \(rss >> 20) MB, over \(baseline >> 20) MB + the \(rssLimitMB) MB limit")
            break
        }
    }
    let elapsed = Double(monotonicNanos() - start) / 1e9
    let executions = state.executions
    let line = String(format: "%@ %9llu execs  %6.1f s  %7.0f execs/s  peak RSS %4d MB  seed %llu", target.padding(toLength: 18, withPad: " ", startingAt: 0) as NSString,
                      executions, elapsed, Double(executions) / max(elapsed, 1e-9), peak >> 20, seed)
    if let finding {
        let url = saveFinding(state.input, kind: finding.kind, target: target, folder: findings)
        print("\(line)  FINDING: \(finding.detail); input (\(state.length) bytes) saved to \(url.path)")
        print("  reproduce: sieve-fuzz replay \(target) \(url.path); once fixed, keep it in Fuzz/regressions/\(target)/")
        return 1
    }
    print("\(line)  ok")
    return 0
}

// MARK: Command line

func option(_ name: String, _ args: [String]) -> String? {
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
    return args[i + 1]
}

let args = Array(CommandLine.arguments.dropFirst())
switch args.first {
case "worker":
    guard args.count == 6, let seconds = Double(args[3]), let seed = UInt64(args[4]), let limit = Int(args[5]) else { exit(2) }
    runWorker(target: args[1], sharedPath: args[2], seconds: seconds, seed: seed, addressLimitMB: limit)
case "run":
    guard args.count >= 2, FuzzTargets.names.contains(args[1]) else {
        fputs("usage: sieve-fuzz run TARGET [--seconds N] [--timeout-ms MS] [--rss-limit-mb MB] [--seed S] [--findings DIR]\n"
              + "targets: \(FuzzTargets.names.joined(separator: ", "))\n", stderr)
        exit(2)
    }
    let seconds = Double(option("--seconds", args) ?? "") ?? 60
    let timeout = Int(option("--timeout-ms", args) ?? "") ?? 1000
    let rss = Int(option("--rss-limit-mb", args) ?? "") ?? 256
    let seed = UInt64(option("--seed", args) ?? "") ?? (UInt64(time(nil)) &* 1_000_003 &+ UInt64(FuzzTargets.names.firstIndex(of: args[1]) ?? 0))
    let findings = URL(fileURLWithPath: option("--findings", args) ?? ".build/fuzz-findings")
    exit(supervise(target: args[1], seconds: seconds, timeoutMS: timeout, rssLimitMB: rss, seed: seed, findings: findings))
case "replay":
    guard args.count >= 3 else { fputs("usage: sieve-fuzz replay TARGET FILE...\n", stderr); exit(2) }
    let workspace = try FuzzTargets.Workspace()
    for path in args.dropFirst(2) {
        let input = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let start = monotonicNanos()
        let outcome = try FuzzTargets.run(args[1], input, in: workspace)
        let ms = Double(monotonicNanos() - start) / 1e6
        let text = outcome.map { ($0 as? LocalizedError)?.errorDescription ?? "\($0)" } ?? "accepted"
        print("\(path): \(String(format: "%.1f", ms)) ms: \(text)")
    }
case "list":
    print(FuzzTargets.names.joined(separator: "\n"))
default:
    fputs("usage: sieve-fuzz run TARGET … | replay TARGET FILE… | list\n", stderr)
    exit(2)
}
