import Foundation
import SieveCore

/// Namespace of the SieveTransforms module: the passes that turn a dense `ModelGraph` into a contextually
/// sparse one.
///
/// The passes, in pipeline order (`Packer.pack` composes them):
/// - Calibration: `CalibrationText` cuts text into sequences; `CalibrationRecorder` (the runtime's
///   `Model.activationObserver`) streams block inputs, FFN activation magnitudes and head output norms into a
///   `CalibrationStore`; any `CalibrationRecords` can feed the passes (`InMemoryCalibration` for small or synthetic
///   data).
/// - Reordering: `NeuronReordering` finds a function-preserving permutation of each FFN's neurons that puts
///   co-firing neurons in the same block; `BlockedLayout` rewrites the FFN into the blocked layout.
/// - Predictors: `PredictorTrainer` (Adam on calibration records) or `SVDPredictor` (training-free) build the
///   low-rank `LowRankPredictor` of each block.
/// - Measurement: `RecallMeasurement` computes recall tables; `DensitySchedule` picks per-block densities.
public enum SieveTransforms {}

/// Errors raised by the passes. Each message names the problem and says how to fix it.
public enum SieveTransformsError: Error, LocalizedError, Equatable {
    /// A pass option is out of range or inconsistent with the model.
    case invalidOption(name: String, value: String, reason: String)
    /// The graph does not have the structure a pass needs.
    case unsupportedGraph(block: Int?, reason: String)
    /// Calibration data is missing, inconsistent or unreadable.
    case calibration(reason: String)
    /// A file of a calibration store could not be written or read.
    case storeIO(path: String, reason: String)

    public var errorDescription: String? {
        switch self {
        case let .invalidOption(name, value, reason):
            return "\(name) \(value): \(reason)."
        case let .unsupportedGraph(block, reason):
            return (block.map { "block \($0): " } ?? "") + reason + "."
        case let .calibration(reason):
            return "calibration: \(reason)."
        case let .storeIO(path, reason):
            return "\(path): \(reason). Check free disk space and permissions of the work directory (--work-dir)."
        }
    }
}
