import NumPyIO

/// A BYOL training state as docs/contract.md §2 lays it out: named arrays in a fixed order
/// (online, target, step, optimizer buffers), plus the architecture they imply.
public struct BYOLState {
    /// Optimizer buffers a state may hold per learnable parameter, as
    /// `optimizer.<parameter>.<buffer>` (SGD/LARS momentum, Adam's two moments).
    public static let optimizerBufferNames: [String] = OptimizerKind.allCases.flatMap(\.bufferNames).reduce(into: []) { names, b in
        if !names.contains(b) { names.append(b) }
    }
    /// The largest `step` or `num_batches_tracked` a state may hold: 2^53.
    public static let maxCount: Int64 = 1 << 53

    public var arch: Architecture
    /// Arrays by full name (`online.backbone.conv1.weight`, `step`, `optimizer....`).
    public var arrays: [String: NDArray]

    public init(arch: Architecture, arrays: [String: NDArray]) {
        self.arch = arch
        self.arrays = arrays
    }

    public var step: Int64 {
        get { if case .int64(let v)? = arrays["step"]?.storage { return v[0] } else { return 0 } }
        set { arrays["step"] = .scalar(newValue) }
    }

    /// Names in file order: online, target, step, then optimizer buffers in parameter
    /// order, then anything else sorted (e.g. `loss`).
    public var orderedNames: [String] {
        var names = arch.onlineSpecs.map(\.name) + arch.targetSpecs.map(\.name) + ["step"]
        for spec in arch.learnableSpecs {
            for suffix in Self.optimizerBufferNames {
                let n = "optimizer.\(spec.name).\(suffix)"
                if arrays[n] != nil { names.append(n) }
            }
        }
        let known = Set(names)
        names += arrays.keys.filter { !known.contains($0) }.sorted()
        return names.filter { arrays[$0] != nil }
    }

    /// The same state with every float array converted to float64.
    public func asFloat64() -> BYOLState {
        var out = self
        for (name, a) in arrays where a.dtype == .float32 {
            out.arrays[name] = NDArray(float64: a.doubles, shape: a.shape)
        }
        return out
    }

    /// The same state with its float arrays in `dtype`.
    public func converted(to dtype: DType) -> BYOLState {
        var out = self
        for (name, a) in arrays { out.arrays[name] = a.converted(to: dtype) }
        return out
    }

    /// The first float array, in file order, holding a NaN or Inf.
    public func firstNonFiniteArray() -> String? {
        orderedNames.first { arrays[$0]?.isFinite == false }
    }

    /// The arrays in file order.
    public var members: [(name: String, array: NDArray)] { orderedNames.map { ($0, arrays[$0]!) } }

    /// Refuses, writing nothing, a state holding a NaN or infinity (NPZ.writeOutput): a
    /// reader would refuse it (`read`), so no command may leave one with exit 0.
    public func write(to path: String) throws {
        try NPZ.writeOutput(members, to: path)
    }

    /// Reads and checks a state file: the architecture is inferred from the shapes, then
    /// every array of docs/contract.md §2 must be present with its shape and a finite
    /// value. Float arrays keep their stored dtype; callers convert.
    public static func read(_ path: String) throws -> BYOLState {
        try read(NPZ.load(path))
    }

    /// `read` of a file already loaded (a checkpoint whose `pretrain.*` arrays are read too).
    public static func read(_ file: NPZFile) throws -> BYOLState {
        let path = file.path
        let arch = try inferArchitecture(file)
        let specs = arch.onlineSpecs + arch.targetSpecs
        // Nothing is dropped without a word: an array that is none of this architecture's
        // (a corrupted name, a stage the shapes do not imply) is named.
        let expected = Set(specs.map(\.name) + ["step", "loss"])
        for name in file.names where !expected.contains(name) && !name.hasPrefix("optimizer.") && !name.hasPrefix("pretrain.") {
            throw NumPyIOError(
                file: path, array: name,
                "not an array of a state of this architecture (\(arch)); a state holds online.*, target.*, step, optimizer.* and optionally loss")
        }
        var arrays: [String: NDArray] = [:]
        for spec in specs {
            if spec.kind == .bnBatchCount {
                arrays[spec.name] = try file.requireInt(spec.name, shape: [])
            } else {
                arrays[spec.name] = try file.requireFloat(spec.name, shape: spec.shape)
            }
            if spec.kind == .bnRunningVar, let i = arrays[spec.name]!.doubles.firstIndex(where: { $0 < 0 }) {
                throw NumPyIOError(file: path, array: spec.name, "negative variance \(arrays[spec.name]!.doubles[i]) at flat index \(i)")
            }
        }
        arrays["step"] = try file.requireInt("step", shape: [])
        // Counts feed + 1, Adam's bias correction (as float64) and schedules: negative or
        // past 2^53 they trapped or lost exactness (issue #23 row 3).
        for name in ["step"] + specs.filter({ $0.kind == .bnBatchCount }).map(\.name) {
            if case .int64(let v) = arrays[name]!.storage, let count = v.first, !(0...Self.maxCount).contains(count) {
                throw NumPyIOError(file: path, array: name, "count \(count) is outside 0...2^53 (counts stay exact in float64)")
            }
        }
        for spec in arch.learnableSpecs {
            for suffix in Self.optimizerBufferNames {
                let n = "optimizer.\(spec.name).\(suffix)"
                if file[n] != nil { arrays[n] = try file.requireFloat(n, shape: spec.shape) }
            }
        }
        let known = Set(arrays.keys), learnable = Set(arch.learnableSpecs.map(\.name))
        for name in file.names where !known.contains(name) && name.hasPrefix("optimizer.") {
            // optimizer.<parameter>.<buffer>: say which part is unknown.
            let rest = name.dropFirst("optimizer.".count)
            if let dot = rest.lastIndex(of: "."), learnable.contains(String(rest[..<dot])) {
                throw NumPyIOError(
                    file: path, array: name,
                    "unknown optimizer buffer '\(rest[rest.index(after: dot)...])' (known: \(Self.optimizerBufferNames.joined(separator: ", ")))")
            }
            throw NumPyIOError(file: path, array: name, "optimizer array for no learnable parameter of this architecture")
        }
        return BYOLState(arch: arch, arrays: arrays)
    }

    /// Widths, blocks and head sizes from the shapes of a state's online arrays.
    static func inferArchitecture(_ file: NPZFile) throws -> Architecture {
        let p = "online.backbone."
        var widths: [Int] = []
        var blocks: [Int] = []
        for s in 1...4 {
            var b = 0
            while file["\(p)layer\(s).\(b).conv1.weight"] != nil { b += 1 }
            guard b > 0 else { throw NumPyIOError(file: file.path, array: "\(p)layer\(s).0.conv1.weight", "missing (cannot infer the architecture)") }
            let w = try file.require("\(p)layer\(s).0.conv1.weight")
            guard w.shape.count == 4 else {
                throw NumPyIOError(file: file.path, array: "\(p)layer\(s).0.conv1.weight", "shape \(fmt(w.shape)), expected 4 dimensions")
            }
            widths.append(w.shape[0])
            blocks.append(b)
        }
        func dims(_ name: String) throws -> [Int] {
            let a = try file.require(name)
            guard a.shape.count == 2 else { throw NumPyIOError(file: file.path, array: name, "shape \(fmt(a.shape)), expected 2 dimensions") }
            return a.shape
        }
        let h = try dims("online.projector.0.weight")[0]
        let d = try dims("online.projector.3.weight")[0]
        let ph = try dims("online.predictor.0.weight")[0]
        let arch = Architecture(widths: widths, blocks: blocks, projHidden: h, projOut: d, predHidden: ph)
        do { try arch.validate() } catch { throw NumPyIOError(file: file.path, "inferred architecture is invalid: \(error)") }
        return arch
    }
}
