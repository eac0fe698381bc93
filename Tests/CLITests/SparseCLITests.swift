import Foundation
import Testing

/// `sieve bench --densities`, `--max-ppl-increase` and the sparsity flags on a packed tiny fixture.
@Suite(.serialized) struct SparseCLITests {
    static let text = String(repeating: "The for statement in Python differs a bit from what you may be used to in C or Pascal. Rather than always iterating over an arithmetic progression of numbers, it iterates over the items of any sequence. ", count: 12)

    /// Packs tiny-llama with a small calibration budget into `dir` and writes a text file next to it.
    static func packed(in dir: URL) throws -> (bundle: String, text: String) {
        let bundle = dir.appendingPathComponent("tiny.sieve").path
        let result = try SieveCLI.run(["pack", SieveCLI.fixtures.appendingPathComponent("models/tiny-llama/hf").path, "-o", bundle,
                                       "--calibration-tokens", "1024", "--calibration-ctx", "64", "--epochs", "3", "-t", "2"])
        #expect(result.status == 0, "\(result.stderr)")
        let textFile = dir.appendingPathComponent("text.txt")
        try Self.text.write(to: textFile, atomically: true, encoding: .utf8)
        return (bundle, textFile.path)
    }

    /// `sieve pack` checks its default schedule on the end of the calibration text and says so; `inspect` shows the
    /// outcome from the provenance; `--no-ppl-check` skips it; a negative budget is refused.
    @Test func packChecksItsScheduleAndInspectShowsIt() throws {
        let dir = try SieveCLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = SieveCLI.fixtures.appendingPathComponent("models/tiny-llama/hf").path
        let common = ["--calibration-tokens", "512", "--calibration-ctx", "64", "--epochs", "2", "-t", "2"]
        let checked = dir.appendingPathComponent("checked.sieve").path
        let pack = try SieveCLI.run(["pack", model, "-o", checked, "--max-ppl-increase", "1000"] + common)
        #expect(pack.status == 0, "\(pack.stderr)")
        #expect(pack.stdout.contains("held-out tokens): dense PPL") && pack.stdout.contains("within the +1000% budget: kept"))
        let inspect = try SieveCLI.run(["inspect", checked])
        #expect(inspect.status == 0, "\(inspect.stderr)")
        #expect(inspect.stdout.contains("provenance.passes = calibrate, reorder, block, predictors, schedule, check"))
        #expect(inspect.stdout.contains("provenance.schedule_check = recall schedule") && inspect.stdout.contains("budget +1000%: kept"))

        let unchecked = dir.appendingPathComponent("unchecked.sieve").path
        let plain = try SieveCLI.run(["pack", model, "-o", unchecked, "--no-ppl-check"] + common)
        #expect(plain.status == 0 && !plain.stdout.contains("schedule check"), "\(plain.stderr)")
        let plainInspect = try SieveCLI.run(["inspect", unchecked])
        #expect(!plainInspect.stdout.contains("schedule_check") && plainInspect.stdout.contains("predictors, schedule\n"))

        let bad = try SieveCLI.run(["pack", model, "-o", dir.appendingPathComponent("bad.sieve").path, "--max-ppl-increase=-1"])
        #expect(bad.status != 0 && bad.stderr.contains("--max-ppl-increase must be 0 or more"))
    }

    /// `bench --profile`: a table of the decode steps after the speeds, the same steps in `--json`, and a clear
    /// error where it does not apply.
    @Test func profileTimesEachDecodeStep() throws {
        let dir = try SieveCLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (bundle, _) = try Self.packed(in: dir)
        let table = try SieveCLI.run(["bench", bundle, "-p", "4", "-n", "8", "-r", "1", "-t", "2", "--profile"])
        #expect(table.status == 0, "\(table.stderr)")
        for step in ["embedding", "norms and residual adds", "predictors", "q/k/v projections", "attention", "output projection",
                     "feed-forward", "lm head", "total"] {
            #expect(table.stdout.contains("| \(step) |"), "missing \(step) in \(table.stdout)")
        }
        #expect(table.stdout.contains("| step (16 decoded tokens) |"), "8 tokens, one warm-up and one measured run")
        let json = try SieveCLI.run(["bench", bundle, "-p", "0", "-n", "8", "-r", "1", "-t", "2", "--profile", "--json"])
        #expect(json.status == 0, "\(json.stderr)")
        let profile = try #require(try parseJSON(json.stdout)["decode_profile_us_per_token"] as? [String: Double])
        #expect(profile.count == 8 && profile.values.allSatisfy { $0 >= 0 })
        #expect((profile["q/k/v projections"] ?? 0) > 0 && (profile["feed-forward"] ?? 0) > 0 && (profile["lm head"] ?? 0) > 0)
        let wrong = try SieveCLI.run(["bench", bundle, "--densities", "1,0.5", "--profile"])
        #expect(wrong.status != 0 && wrong.stderr.contains("--profile times one model's decode test"))
        let none = try SieveCLI.run(["bench", bundle, "-n", "0", "--profile"])
        #expect(none.status != 0 && none.stderr.contains("--profile needs decoded tokens"))
    }

    /// `bench --kv-type f16` holds half the cache of f32 (both the plain test and the densities table take it); other
    /// types are refused.
    @Test func benchTakesTheKVCacheType() throws {
        let dir = try SieveCLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (bundle, _) = try Self.packed(in: dir)
        var bytes: [String: Int] = [:]
        for type in ["f32", "f16"] {
            let result = try SieveCLI.run(["bench", bundle, "-p", "0", "-n", "8", "-r", "1", "-t", "2", "--kv-type", type, "--json"])
            #expect(result.status == 0, "\(result.stderr)")
            bytes[type] = try #require(try parseJSON(result.stdout)["kv_cache_bytes"] as? Int)
        }
        let f32 = try #require(bytes["f32"]), f16 = try #require(bytes["f16"])
        #expect(f32 > 0 && f16 * 2 == f32, "f32 cache \(f32) bytes, f16 \(f16)")
        let table = try SieveCLI.run(["bench", bundle, "--densities", "1,0.5", "-n", "4", "-r", "1", "-t", "2", "--kv-type", "f16"])
        #expect(table.status == 0 && table.stdout.contains("| predicted |"), "\(table.stderr)")
        let wrong = try SieveCLI.run(["bench", bundle, "-n", "4", "--kv-type", "q8_0"])
        #expect(wrong.status != 0 && wrong.stderr.contains("--kv-type must be f32 or f16"))
    }

    @Test func densitiesTableJSONAndChart() throws {
        let dir = try SieveCLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (bundle, text) = try Self.packed(in: dir)
        let chart = dir.appendingPathComponent("trade-off.svg")
        let result = try SieveCLI.run(["bench", bundle, "--densities", "1,0.5,0.25", "-n", "8", "-r", "2", "-t", "2", "--ppl-file", text,
                                       "--ppl-ctx", "64", "--ppl-chunks", "3", "--plot", chart.path, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try parseJSON(result.stdout)
        let rows = try #require(json["rows"] as? [[String: Any]])
        #expect(rows.map { $0["selection"] as? String } == ["dense", "predicted", "oracle", "predicted", "oracle"])
        #expect(rows.map { $0["ffn_density"] as? Double } == [1, 0.5, 0.5, 0.25, 0.25])
        #expect(rows[0]["speedup"] as? Double == 1)
        // Speed-ups pair each repetition with the dense run of the same repetition (the median of two ratios is their mean).
        let denseRuns = try #require(rows[0]["decode_runs"] as? [Double])
        for row in rows {
            let runs = try #require(row["decode_runs"] as? [Double])
            #expect(runs.count == 2 && denseRuns.count == 2)
            let paired = (runs[0] / denseRuns[0] + runs[1] / denseRuns[1]) / 2
            #expect(abs((row["speedup"] as? Double ?? 0) - paired) <= 1e-12 * paired, "speed-up \(row["speedup"] ?? "nil"), paired \(paired)")
        }
        for row in rows {
            #expect((row["decode_tokens_per_s"] as? Double ?? 0) > 0)
            #expect((row["ppl"] as? Double ?? 0) > 1)
        }
        // Weights read per token: the dense row's are the most, each row's ideal speed-up is their ratio, and its
        // kernel efficiency the measured speed-up over that.
        let denseBytes = try #require(rows[0]["weight_bytes_per_token"] as? Double)
        for row in rows {
            let bytes = try #require(row["weight_bytes_per_token"] as? Double), ideal = try #require(row["ideal_speedup"] as? Double)
            #expect(bytes > 0 && bytes <= denseBytes && abs(ideal - denseBytes / bytes) <= 1e-12 * ideal)
            let speedup = try #require(row["speedup"] as? Double)
            #expect(abs((row["kernel_efficiency"] as? Double ?? 0) - speedup / ideal) <= 1e-12 * speedup / ideal)
        }
        #expect(rows[0]["ideal_speedup"] as? Double == 1)
        #expect((rows[3]["weight_bytes_per_token"] as? Double ?? 0) < (rows[1]["weight_bytes_per_token"] as? Double ?? 0),
                "FFN density 0.25 reads less than 0.5")
        #expect(rows[1]["recall"] is Double, "predicted rows carry the bundle's recall")
        #expect(rows[2]["recall"] is NSNull)
        let svg = try String(contentsOf: chart, encoding: .utf8)
        #expect(svg.hasPrefix("<svg") && svg.contains("</svg>") && svg.contains("<circle") && svg.contains("<rect x="))
        #expect(svg.contains("perplexity increase"))

        let table = try SieveCLI.run(["bench", bundle, "--densities", "1,0.5", "-n", "4", "-r", "1", "-t", "2"])
        #expect(table.status == 0)
        #expect(table.stdout.contains("| predicted |") && table.stdout.contains("| dense"))
        #expect(table.stdout.contains("| MB/token | ideal | efficiency |"))
    }

    @Test func maxPerplexityIncreaseChoosesAndReports() throws {
        let dir = try SieveCLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (bundle, _) = try Self.packed(in: dir)
        let result = try SieveCLI.run(["run", bundle, "--max-ppl-increase", "3", "-p", "Hello", "-n", "4", "--temp", "0", "-t", "2"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("dense: probe PPL"))
        #expect(result.stderr.contains("chose mean FFN density"))
        // The choice respects the budget on the probe.
        let line = try #require(result.stderr.split(separator: "\n").first { $0.contains("chose mean FFN density") })
        let increase = try #require(line.split(separator: "(").last?.split(separator: "%").first.flatMap { Double($0) })
        #expect(increase <= 3)

        // --probe-file: the end of the user's text is the probe; a missing, short or unpaired file is refused.
        let probe = dir.appendingPathComponent("probe.txt")
        try String(repeating: Self.text, count: 4).write(to: probe, atomically: true, encoding: .utf8)
        let own = try SieveCLI.run(["run", bundle, "--max-ppl-increase", "3", "--probe-file", probe.path, "-p", "Hello", "-n", "2", "--temp", "0", "-t", "2"])
        #expect(own.status == 0, "\(own.stderr)")
        #expect(own.stderr.contains("tokens of the end of \(probe.path)") && own.stderr.contains("chose mean FFN density"), "\(own.stderr)")
        let missing = dir.appendingPathComponent("missing.txt").path
        let absent = try SieveCLI.run(["run", bundle, "--max-ppl-increase", "3", "--probe-file", missing, "-p", "Hello", "-n", "2"])
        #expect(absent.status != 0 && absent.stderr.contains(missing) && absent.stderr.contains("--probe-file"), "\(absent.stderr)")
        let short = dir.appendingPathComponent("short.txt")
        try "Hello there.".write(to: short, atomically: true, encoding: .utf8)
        let tooShort = try SieveCLI.run(["run", bundle, "--max-ppl-increase", "3", "--probe-file", short.path, "-p", "Hello", "-n", "2"])
        #expect(tooShort.status != 0 && tooShort.stderr.contains(short.path) && tooShort.stderr.contains("give a longer text"), "\(tooShort.stderr)")
        let unpaired = try SieveCLI.run(["run", bundle, "--probe-file", probe.path, "-p", "Hello", "-n", "2"])
        #expect(unpaired.status != 0 && unpaired.stderr.contains("--probe-file is the probe of --max-ppl-increase"), "\(unpaired.stderr)")
    }

    /// A packed bundle is not packed again, nor written as GGUF or safetensors (which cannot hold its reordered FFN
    /// and predictors); another .sieve is fine. An encoder is not packed. Each error names the model.
    @Test func packedBundlesAndEncodersAreRefusedClearly() throws {
        let dir = try SieveCLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (bundle, _) = try Self.packed(in: dir)
        let again = try SieveCLI.run(["pack", bundle, "-o", dir.appendingPathComponent("again.sieve").path])
        #expect(again.status != 0 && again.stderr.contains("\(bundle): the model is already a packed sparse bundle"), "\(again.stderr)")
        for name in ["dense.gguf", "dense.safetensors"] {
            let out = dir.appendingPathComponent(name).path
            let converted = try SieveCLI.run(["convert", bundle, "-o", out])
            #expect(converted.status != 0 && converted.stderr.contains("\(bundle) is a packed sparse bundle"), "\(converted.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out))
        }
        #expect(try SieveCLI.run(["convert", bundle, "-o", dir.appendingPathComponent("copy.sieve").path]).status == 0)
        // Calibration text too short for one training batch: the fix is more text, not more tokens.
        let short = dir.appendingPathComponent("short.txt")
        try "Just a few words.".write(to: short, atomically: true, encoding: .utf8)
        let tooShort = try SieveCLI.run(["pack", SieveCLI.fixtures.appendingPathComponent("models/tiny-llama/hf").path, "--calibration", short.path,
                                         "-o", dir.appendingPathComponent("short.sieve").path])
        #expect(tooShort.status != 0 && tooShort.stderr.contains("the calibration text is too short: give a longer one (--calibration)"), "\(tooShort.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("short.sieve").path))
        let minilm = SieveCLI.modelCache.appendingPathComponent("all-MiniLM-L6-v2")
        guard FileManager.default.fileExists(atPath: minilm.path) else { return }
        let encoder = try SieveCLI.run(["pack", minilm.path, "-o", dir.appendingPathComponent("minilm.sieve").path])
        #expect(encoder.status != 0 && encoder.stderr.contains("\(minilm.path): a bert model is an encoder"), "\(encoder.stderr)")
    }

    @Test func sparsityFlagsAreValidated() throws {
        let dir = try SieveCLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (bundle, text) = try Self.packed(in: dir)
        let both = try SieveCLI.run(["run", bundle, "--oracle", "--dense", "-p", "Hi", "-n", "2"])
        #expect(both.status != 0 && both.stderr.contains("--oracle and --dense"))
        let range = try SieveCLI.run(["run", bundle, "--ffn-density", "1.5", "-p", "Hi", "-n", "2"])
        #expect(range.status != 0 && range.stderr.contains("--ffn-density must be in (0, 1]"))
        let dense = try SieveCLI.run(["run", SieveCLI.fixtures.appendingPathComponent("models/tiny-llama/hf").path, "--ffn-density", "0.5", "-p", "Hi", "-n", "2"])
        #expect(dense.status != 0 && dense.stderr.contains("pack it into a sparse bundle"))
        let oracle = try SieveCLI.run(["perplexity", bundle, "-f", text, "-c", "64", "--chunks", "2", "--oracle", "--ffn-density", "0.5", "--json"])
        #expect(oracle.status == 0, "\(oracle.stderr)")
        #expect(oracle.stderr.contains("oracle selection, mean FFN density 0.500"))
        #expect((try parseJSON(oracle.stdout)["ppl"] as? Double ?? 0) > 1)
        // Per-block schedules: one density per block (tiny-llama has 2), each in (0, 1].
        let short = try SieveCLI.run(["run", bundle, "--ffn-schedule", "0.5", "-p", "Hi", "-n", "2"])
        #expect(short.status != 0 && short.stderr.contains("lists 1 densities but the model has 2 blocks"), "\(short.stderr)")
        let bad = try SieveCLI.run(["run", bundle, "--head-schedule", "1,abc", "-p", "Hi", "-n", "2"])
        #expect(bad.status != 0 && bad.stderr.contains("'abc' is not a density"), "\(bad.stderr)")
        let both2 = try SieveCLI.run(["run", bundle, "--ffn-schedule", "1,0.5", "--ffn-density", "0.5", "-p", "Hi", "-n", "2"])
        #expect(both2.status != 0 && both2.stderr.contains("exclude each other"))
        let scheduled = try SieveCLI.run(["perplexity", bundle, "-f", text, "-c", "64", "--chunks", "2", "--oracle", "--ffn-schedule", "1,0.5", "--json"])
        #expect(scheduled.status == 0, "\(scheduled.stderr)")
        #expect(scheduled.stderr.contains("oracle selection, mean FFN density 0.750"), "\(scheduled.stderr)")
        // Without --ppl-ctx the chunks fit the model's trained context (256 positions here, under the default 512).
        let fitted = try SieveCLI.run(["bench", bundle, "--densities", "1", "-n", "4", "-r", "1", "--ppl-file", text, "--ppl-chunks", "1", "--json"])
        #expect(fitted.status == 0, "\(fitted.stderr)")
        let fittedRows = try #require(try parseJSON(fitted.stdout)["rows"] as? [[String: Any]])
        #expect(fittedRows.allSatisfy { ($0["ppl"] as? Double ?? 0) > 1 })
    }
}
