import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `sieve convert` and `sieve pack` killed at random points (SIGKILL and SIGINT) leave the output either absent or
/// complete and verifiable; after SIGINT no temporary file is left. `sieve run` interrupted prints what it had.
@Suite("Interrupted commands leave nothing half-done", .serialized)
struct InterruptTests {
    static let tinyLlama = Child.fixtures.appendingPathComponent("models/tiny-llama/hf").path

    static func temporaries(in folder: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0.hasPrefix(".") && $0.hasSuffix(".tmp") }
    }

    struct Tally { var trials = 0, interrupted = 0, completed = 0, outputsVerified = 0, temporariesAfterKill = 0 }

    /// Runs `arguments(output)` `count` times per signal, sending it after a random delay (0…1.3 × `duration`, or near
    /// the end of the run).
    func killAtRandom(_ name: String, arguments: (String) -> [String], output: URL, duration: Double, count: Int,
                      seed: UInt64, scratch: Scratch) throws -> [Int32: Tally] {
        var rng = SeededRandom(state: seed)
        var tallies: [Int32: Tally] = [:]
        var trial = -1
        // At least `count` trials per signal, and more (up to 3 × count) until `count` / 2 of them interrupted the
        // command before it finished (a short command often completes before a random signal arrives).
        while true {
            trial += 1
            let sig = trial % 2 == 0 ? SIGKILL : SIGINT
            let done = [SIGKILL, SIGINT].allSatisfy { s in
                let t = tallies[s] ?? Tally()
                return t.trials >= count && (t.interrupted >= count / 2 || t.trials >= 3 * count)
            }
            if done { break }
            try? FileManager.default.removeItem(at: output)
            let child = try Child(arguments(output.path), scratch: scratch.url)
            // Every other pair of trials aims at the end of the run, where the output is written and renamed.
            let range = (trial / 2) % 2 == 0 ? 0...(1.3 * duration) : (0.7 * duration)...(1.05 * duration)
            usleep(UInt32(Double.random(in: range, using: &rng) * 1e6))
            child.send(sig)
            let r = child.wait()
            var t = tallies[sig] ?? Tally()
            t.trials += 1
            if r.status == 0 { t.completed += 1 } else { t.interrupted += 1 }
            if sig == SIGINT {
                // Killed by the signal itself only if it came before the handlers were installed (nothing written yet).
                #expect(r.status == 0 || r.status == 130 || r.signal == SIGINT, "\(name) trial \(trial): status \(String(describing: r.status)), signal \(String(describing: r.signal)): \(r.stderr.suffix(300))")
                #expect(Self.temporaries(in: scratch.url).isEmpty, "\(name) trial \(trial): SIGINT left \(Self.temporaries(in: scratch.url))")
                // Status 130 with an output is a signal that came after the rename: the output must then verify (below).
            } else {
                let left = Self.temporaries(in: scratch.url)
                t.temporariesAfterKill += left.count
                for n in left { try? FileManager.default.removeItem(at: scratch.url.appendingPathComponent(n)) }
            }
            if FileManager.default.fileExists(atPath: output.path) {
                let v = try Child.run(["verify", output.path], scratch: scratch.url)
                #expect(v.status == 0, "\(name) trial \(trial) (signal \(sig)): the output exists but does not verify: \(v.stdout) \(v.stderr)")
                if v.status == 0 { t.outputsVerified += 1 }
            }
            tallies[sig] = t
        }
        for (sig, t) in tallies.sorted(by: { $0.key < $1.key }) {
            print("\(name) signal \(sig): \(t.trials) trials, \(t.interrupted) interrupted, \(t.completed) completed first, \(t.outputsVerified) outputs verified, \(t.temporariesAfterKill) temporary files left by SIGKILL")
        }
        return tallies
    }

    /// Median wall time of three complete runs.
    func duration(_ arguments: [String], output: URL, scratch: Scratch) throws -> Double {
        var times: [Double] = []
        for _ in 0..<3 {
            try? FileManager.default.removeItem(at: output)
            let start = Date()
            let r = try Child.run(arguments, scratch: scratch.url)
            try #require(r.status == 0, "\(r.stderr)")
            times.append(Date().timeIntervalSince(start))
        }
        return times.sorted()[1]
    }

    @Test("sieve convert killed at random points: at least 15 SIGKILL and 15 SIGINT")
    func convert() throws {
        let scratch = try Scratch()
        let output = scratch.file("out.sieve")
        let args = { (out: String) in ["convert", Self.tinyLlama, "-o", out] }
        let t = try duration(args(output.path), output: output, scratch: scratch)
        let tallies = try killAtRandom("convert", arguments: args, output: output, duration: t, count: 15, seed: 0xC0, scratch: scratch)
        for t in tallies.values { #expect(t.interrupted >= 3, "too few runs were actually interrupted: \(tallies)") }
    }

    @Test("sieve pack killed at random points: at least 10 SIGKILL and 10 SIGINT")
    func pack() throws {
        let scratch = try Scratch()
        let output = scratch.file("packed.sieve")
        let args = { (out: String) in
            ["pack", Self.tinyLlama, "-o", out, "--calibration-tokens", "2048", "--calibration-ctx", "128", "--rank", "16", "--epochs", "2"]
        }
        let t = try duration(args(output.path), output: output, scratch: scratch)
        let tallies = try killAtRandom("pack", arguments: args, output: output, duration: t, count: 10, seed: 0xBA, scratch: scratch)
        for t in tallies.values { #expect(t.interrupted >= 3, "too few runs were actually interrupted: \(tallies)") }
    }

    @Test("an existing output is replaced only with --force, and never by a partial file")
    func forceRequired() throws {
        let scratch = try Scratch()
        let output = scratch.file("out.gguf")
        let previous = Array("not a model, but someone's file".utf8)
        try Data(previous).write(to: output)
        for command in [["convert", Self.tinyLlama, "-o", output.path], ["pack", Self.tinyLlama, "-o", output.path]] {
            let r = try Child.run(command, scratch: scratch.url)
            #expect(r.status != 0)
            #expect(r.stderr.contains("already exists") && r.stderr.contains("--force"), "\(r.stderr)")
            #expect(r.stderr.hasPrefix("Error: \(output.path)"), "one `Error:` prefix, then the file: \(r.stderr)")
            #expect(Array(try Data(contentsOf: output)) == previous, "the existing file was changed")
        }
        let forced = try Child.run(["convert", Self.tinyLlama, "-o", output.path, "--dtype", "q8_0", "--force"], scratch: scratch.url)
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(try Child.run(["verify", output.path], scratch: scratch.url).status == 0)
        #expect(Self.temporaries(in: scratch.url).isEmpty)
    }

    static let smolLM2 = URL(fileURLWithPath: ProcessInfo.processInfo.environment["SIEVE_MODELS"] ?? (NSHomeDirectory() + "/.cache/sieve/models"))
        .appendingPathComponent("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")

    @Test("Ctrl-C during sieve run keeps the text generated so far and exits cleanly",
          .enabled(if: FileManager.default.fileExists(atPath: smolLM2.path), "SmolLM2 is not fetched (make models)"))
    func runInterrupted() throws {
        let scratch = try Scratch()
        let child = try Child(["run", Self.smolLM2.path, "-p", "Tell me a long story about a lighthouse.", "-n", "2000",
                               "--temp", "0", "--ignore-eos", "--chat"], scratch: scratch.url)
        // Wait until some text has been streamed, then interrupt.
        let start = Date()
        var streamed = ""
        while Date().timeIntervalSince(start) < 120 {
            streamed = (try? String(contentsOfFile: child.stdoutPath, encoding: .utf8)) ?? ""
            if streamed.count >= 40 { break }
            usleep(50_000)
        }
        try #require(streamed.count >= 40, "nothing was generated in 120 s")
        let interruptedAt = Date()
        child.send(SIGINT)
        let r = child.wait()
        #expect(Date().timeIntervalSince(interruptedAt) < 10, "run took too long to stop")
        #expect(r.status == 130, "status \(String(describing: r.status)), signal \(String(describing: r.signal)): \(r.stderr)")
        #expect(r.stdout.hasPrefix(streamed), "the text printed before the interrupt is not kept")
        #expect(r.stdout.count >= streamed.count)
        #expect(r.stderr.contains("(interrupted)"), "\(r.stderr)")
        #expect(r.stderr.contains("decode:"), "the timings are not printed: \(r.stderr)")
    }
}
