import Foundation
@testable import SieveRuntime
import Testing

/// `Model.profilesDecode`: decoded tokens' time by step, prompts not counted, outputs unchanged.
@Suite struct DecodeProfileTests {
    @Test(.enabled(if: Fixtures.has("tiny-llama/q4_1.gguf")))
    func profilesDecodedTokensOnlyAndChangesNothing() throws {
        let options = RuntimeOptions(contextLength: 64, threads: 2)
        let plain = try Fixtures.model("tiny-llama/q4_1.gguf", options: options)
        let profiled = try Fixtures.model("tiny-llama/q4_1.gguf", options: options)
        profiled.profilesDecode = true
        let prompt = [1, 334, 438, 430, 429], decoded = [481, 442, 274, 459, 297, 298]
        var expected: [[Float]] = [], logits: [[Float]] = []
        try plain.evaluate(prompt, outputs: .all) { _, out in expected.append(Array(out.logits)) }
        try profiled.evaluate(prompt, outputs: .all) { _, out in logits.append(Array(out.logits)) }
        #expect(profiled.decodeProfile.tokens == 0, "a prompt is not profiled")
        for t in decoded { expected.append(try plain.decode(t) { Array($0) }) }
        let start = DispatchTime.now().uptimeNanoseconds
        for t in decoded { logits.append(try profiled.decode(t) { Array($0) }) }
        let wallMicroseconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e3
        #expect(logits == expected, "profiling changes no output")

        let profile = profiled.decodeProfile
        #expect(profile.tokens == decoded.count)
        for step in [DecodeProfile.Step.embedding, .norms, .qkv, .attention, .outputProjection, .feedForward, .lmHead] {
            #expect(profile.microsecondsPerToken(step) > 0, "\(step.rawValue)")
        }
        #expect(profile.microsecondsPerToken(.predictors) == 0, "a dense model has no predictors")
        #expect(profile.totalMicrosecondsPerToken * Double(decoded.count) <= wallMicroseconds)
        #expect(plain.decodeProfile == DecodeProfile(), "off by default")
        let table = profile.table
        for step in DecodeProfile.Step.allCases { #expect(table.contains("| \(step.rawValue) |")) }
        #expect(table.contains("| total |") && table.contains("(6 decoded tokens)"))
        profiled.resetDecodeProfile()
        #expect(profiled.decodeProfile == DecodeProfile())
    }
}
