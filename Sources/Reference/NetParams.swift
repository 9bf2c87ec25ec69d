import BYOLModel
import NumPyIO

/// BatchNorm mode: batch statistics (and running-stat updates) or running statistics.
public enum BNMode: Sendable { case train, eval }

/// One network's arrays (online or target), named relative to it:
/// `backbone.conv1.weight`, `projector.0.bias`, `predictor.1.running_var`.
/// Learnable parameters and running statistics are float64 tensors; the
/// `num_batches_tracked` counters are kept apart as integers.
public struct NetParams: Equatable {
    public var tensors: [String: Tensor]
    public var batchCounts: [String: Int64]

    public init(tensors: [String: Tensor] = [:], batchCounts: [String: Int64] = [:]) {
        self.tensors = tensors
        self.batchCounts = batchCounts
    }

    public subscript(name: String) -> Tensor {
        guard let t = tensors[name] else { preconditionFailure("no parameter named \(name)") }
        return t
    }

    /// The running statistics of BN layer `bn` (e.g. `backbone.layer1.0.bn1`).
    public func running(_ bn: String) -> BatchNorm.Running {
        BatchNorm.Running(
            mean: self[bn + ".running_mean"].data, variance: self[bn + ".running_var"].data,
            batches: batchCounts[bn + ".num_batches_tracked"] ?? 0)
    }

    public mutating func setRunning(_ bn: String, _ r: BatchNorm.Running) {
        tensors[bn + ".running_mean"]!.data = r.mean
        tensors[bn + ".running_var"]!.data = r.variance
        batchCounts[bn + ".num_batches_tracked"] = r.batches
    }

    /// The arrays of network `prefix` ("online" or "target") of a state, as float64.
    public init(state: BYOLState, network prefix: String) {
        self.init()
        let specs = prefix == "online" ? state.arch.onlineSpecs : state.arch.targetSpecs
        for spec in specs {
            let rel = String(spec.name.dropFirst(prefix.count + 1))
            let a = state.arrays[spec.name]!
            if spec.kind == .bnBatchCount {
                if case .int64(let v) = a.storage { batchCounts[rel] = v[0] }
            } else {
                tensors[rel] = Tensor(shape: a.shape, data: a.doubles)
            }
        }
    }

    /// Writes these arrays back into `state` under `prefix`, as float64.
    public func store(into state: inout BYOLState, network prefix: String) {
        for (name, t) in tensors { state.arrays[prefix + "." + name] = NDArray(float64: t.data, shape: t.shape) }
        for (name, c) in batchCounts { state.arrays[prefix + "." + name] = .scalar(c) }
    }
}

/// Gradients by parameter name (same names as `NetParams`).
public typealias Gradients = [String: Tensor]

extension Dictionary where Key == String, Value == Tensor {
    /// Adds `g` into the gradient `name` (first write stores it).
    mutating func accumulate(_ name: String, _ g: Tensor) {
        if let existing = self[name] { self[name] = existing + g } else { self[name] = g }
    }
}
