import BYOLModel
import NumPyIO

/// One network's float arrays in a single contiguous buffer, addressed by name
/// (`backbone.conv1.weight`, relative to `online.`/`target.`), plus the integer BN
/// batch counters.
final class ParamStore {
    let specs: [ParamSpec]
    /// The learnable arrays among `specs` (what the EMA averages).
    let learnableSpecs: [ParamSpec]
    private(set) var offsets: [String: Int] = [:]
    let buffer: FloatBuffer
    var counts: [String: Int64] = [:]
    let total: Int

    /// `specs` with names relative to the network; integer counters are kept apart.
    init(specs: [ParamSpec]) {
        var offset = 0
        var kept: [ParamSpec] = []
        for s in specs {
            if s.kind == .bnBatchCount {
                counts[s.name] = 0
                continue
            }
            offsets[s.name] = offset
            offset += s.count
            kept.append(s)
        }
        self.specs = kept
        learnableSpecs = kept.filter { $0.kind.isLearnable }
        total = offset
        buffer = FloatBuffer(offset)
    }

    func ptr(_ name: String) -> UnsafeMutablePointer<Float> {
        guard let o = offsets[name] else { preconditionFailure("no array named \(name)") }
        return buffer.pointer + o
    }

    /// Loads `prefix.<name>` arrays of a state (missing optimizer buffers become zeros).
    func load(_ state: BYOLState, prefix: String) {
        for s in specs {
            let p = ptr(s.name)
            if let a = state.arrays[prefix + s.name] {
                let v = a.floats
                for i in 0..<s.count { p[i] = v[i] }
            } else {
                p.update(repeating: 0, count: s.count)
            }
        }
        for name in counts.keys {
            if case .int64(let v)? = state.arrays[prefix + name]?.storage { counts[name] = v[0] }
        }
    }

    /// The arrays as float32 NDArrays named `prefix.<name>`.
    func export(prefix: String) -> [String: NDArray] {
        var out: [String: NDArray] = [:]
        for s in specs {
            out[prefix + s.name] = NDArray(float32: Array(UnsafeBufferPointer(start: ptr(s.name), count: s.count)), shape: s.shape)
        }
        for (name, c) in counts { out[prefix + name] = .scalar(c) }
        return out
    }
}
