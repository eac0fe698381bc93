import Foundation
import Sieve

// The tool SievePackPlugin runs at build time: `sieve pack` through the library API (`Packer.pack(contentsOf:…)`),
// without the CLI's other dependencies (the HTTP server), so an app's build compiles only what the app links.
//
//   SievePackTool MODEL -o OUT.sieve [--calibration FILE…] [--calibration-tokens N] [--calibration-ctx N]
//                 [--block-size N] [--rank N] [--lookahead 0|1] [--first-ffn-predictor-input ffn_input|block_input]
//                 [--predictor trained|svd] [--epochs N]
//                 [--dtype keep|f32|f16|q8_0|q4_0|q4_1] [--zstd-level N] [--threads N] [--seed N]
//                 [--max-ppl-increase P] [--no-ppl-check]
//
// Options mean what they mean for `sieve pack`; the output is always replaced.

/// A bad command line: the message says which option and what it accepts.
struct UsageError: Error, CustomStringConvertible {
    var description: String
}

func parse(_ arguments: [String]) throws -> (model: URL, output: URL, options: PackOptions, calibration: [URL], zstdLevel: Int) {
    var model: URL?
    var output: URL?
    var options = PackOptions()
    var calibration: [URL] = []
    var zstdLevel = 3
    var rest = arguments[...]
    func value(_ flag: String) throws -> String {
        guard let v = rest.popFirst(), !v.hasPrefix("--") else { throw UsageError(description: "\(flag) needs a value") }
        return v
    }
    func integer(_ flag: String, _ range: ClosedRange<Int>) throws -> Int {
        let text = try value(flag)
        guard let n = Int(text), range.contains(n) else {
            throw UsageError(description: "\(flag) must be an integer in \(range.lowerBound)…\(range.upperBound), not \(text)")
        }
        return n
    }
    while let argument = rest.popFirst() {
        switch argument {
        case "-o", "--output": output = URL(fileURLWithPath: try value(argument))
        case "--calibration":
            calibration.append(URL(fileURLWithPath: try value(argument)))
            while let next = rest.first, !next.hasPrefix("-") { calibration.append(URL(fileURLWithPath: next)); rest.removeFirst() }
        case "--calibration-tokens": options.calibrationTokens = try integer(argument, 64...(1 << 30))
        case "--calibration-ctx": options.calibrationContext = try integer(argument, 2...(1 << 20))
        case "--block-size": options.blockSize = try integer(argument, 1...(1 << 16))
        case "--rank": options.rank = try integer(argument, 1...(1 << 16))
        case "--lookahead": options.lookahead = try integer(argument, 0...1)
        case "--first-ffn-predictor-input":
            let text = try value(argument)
            guard let input = PredictorInput(rawValue: text) else {
                throw UsageError(description: "--first-ffn-predictor-input must be ffn_input or block_input, not \(text)")
            }
            options.firstFFNPredictorInput = input
        case "--epochs": options.epochs = try integer(argument, 1...10_000)
        case "--zstd-level": zstdLevel = try integer(argument, 1...19)
        case "--threads", "-t": options.threads = try integer(argument, 1...1024)
        case "--seed":
            let text = try value(argument)
            guard let seed = UInt64(text) else { throw UsageError(description: "--seed must be a non-negative integer, not \(text)") }
            options.seed = seed
        case "--predictor":
            let text = try value(argument)
            guard let kind = PredictorKind(rawValue: text) else { throw UsageError(description: "--predictor must be trained or svd, not \(text)") }
            options.predictor = kind
        case "--max-ppl-increase":
            let text = try value(argument)
            guard let p = Double(text), p >= 0, p.isFinite else {
                throw UsageError(description: "--max-ppl-increase must be a number of percent, 0 or more, not \(text)")
            }
            options.maxPerplexityIncrease = p
        case "--no-ppl-check": options.maxPerplexityIncrease = nil
        case "--dtype":
            let text = try value(argument)
            guard let type = FFNWeightType(name: text) else {
                throw UsageError(description: "--dtype must be keep, f32, f16, q8_0, q4_0 or q4_1, not \(text)")
            }
            options.weightType = type
        default:
            guard !argument.hasPrefix("-"), model == nil else {
                throw UsageError(description: "unknown option \(argument) (see the options of `sieve pack`)")
            }
            model = URL(fileURLWithPath: argument)
        }
    }
    guard let model else { throw UsageError(description: "no model given") }
    guard let output else { throw UsageError(description: "no output given (-o OUT.sieve)") }
    return (model, output, options, calibration, zstdLevel)
}

do {
    let (model, output, options, calibration, zstdLevel) = try parse(Array(CommandLine.arguments.dropFirst()))
    let text = calibration.isEmpty ? nil : try Packer.calibrationText(contentsOf: calibration)
    let packed = try await Packer.pack(contentsOf: model, to: output, options: options, calibrationText: text,
                                       zstdLevel: zstdLevel, overwrite: true) { progress in
        if progress.fraction >= 1 {
            FileHandle.standardError.write("\(progress.stage.rawValue): done in \(String(format: "%.1f", progress.elapsed)) s\n".data(using: .utf8)!)
        }
    }
    let recall = packed.report.meanFFNRecall(at: 0.5).map { String(format: ", mean FFN recall at 50%%: %.3f", $0) } ?? ""
    print("packed \(model.lastPathComponent) into \(output.path): \(packed.fileSize) bytes in \(String(format: "%.1f", packed.seconds)) s\(recall)")
} catch {
    let message = (error as? LocalizedError)?.errorDescription ?? "\(error)"
    FileHandle.standardError.write("SievePackTool: error: \(message)\n".data(using: .utf8)!)
    exit(1)
}
