import BYOLModel
import Foundation
import NumPyIO
import Reference

/// The conformance kit's case files (docs/conformance.md): every layer function a BYOL
/// network uses, at every distinct shape it uses it, with inputs, the float64
/// reference's outputs and the bound per precision that an implementation under test
/// must meet. Another implementation, in any language, reads a case's inputs, writes
/// its outputs under the same names, and `check` compares.
public enum Conformance {
    /// The manifest's format version: bumped when a name, a layout or a rule changes.
    public static let version = 1

    /// One case: a function applied to inputs, and what the reference returns.
    public struct Case {
        public var id: String
        public var function: String
        public var params: [String: Int]
        public var inputs: [(name: String, array: NDArray)]
        public var expected: [(name: String, array: NDArray)]
        /// The smallest |input| of a ReLU case, or of every ReLU of a step case's float64
        /// passes: float32 rounding cannot flip a sign above it.
        public var reluMargin: Double?
        /// The state a step or embed case starts from (written as ID/state.npz).
        public var state: BYOLState?
    }

    /// Functions in the order cases are generated.
    public static let functions = ["conv2d", "batchnorm2d_train", "batchnorm2d_eval", "batchnorm1d_train", "batchnorm1d_eval",
                                   "linear", "relu", "avgpool", "loss", "symmetric_loss", "sgd", "lars", "adam", "ema", "step", "embed"]

    // MARK: Bounds

    /// The bound of `tensor` in `precision`: max |result - expected| <= bound x max(1,
    /// max |expected|), and why (docs/contract.md §4).
    public static func bound(_ tensor: String, precision: Precision) -> (bound: Double, reason: String) {
        switch precision {
        case .float64:
            return (1e-10, "float64: rounding of a different summation order, far below 1e-10 for these sizes")
        case .float32:
            if tensor == "y" || tensor == "loss" || tensor == "features" {
                return (1e-4, "float32 outputs: a few hundred ulps of accumulated rounding over the reduction")
            }
            return (1e-3, "float32 gradients: longer reductions (over batch and space) and, in BN, cancellation")
        }
    }

    // MARK: Cases

    /// The cases of `arch` on `batch` images of size x size, inputs drawn from `seed`.
    public static func cases(arch: Architecture, batch: Int, size: Int, seed: UInt64) -> [Case] {
        var rng = CaseDraws(seed: seed)
        let reference = ReferenceEngine()
        var out: [Case] = []
        var seen = Set<String>()
        func add(_ id: String, _ function: String, params: [String: Int] = [:], inputs: [(String, NDArray)], margin: Double? = nil,
                 run: () -> LayerResult) {
            guard seen.insert(id).inserted else { return }
            out.append(Case(id: id, function: function, params: params, inputs: inputs.map { (name: $0.0, array: $0.1) },
                            expected: run().arrays, reluMargin: margin))
        }
        func nd(_ t: Tensor) -> NDArray { NDArray(t) }

        func batchNorm(shape: [Int], label: String, function: String) {
            let c = shape[1]
            let x = nd(rng.tensor(shape, -1, 3)), gamma = nd(rng.tensor([c], 0.5, 1.5)), beta = nd(rng.tensor([c], -0.5, 0.5))
            let dy = nd(rng.tensor(shape)), mean = nd(rng.tensor([c], -0.5, 0.5)), variance = nd(rng.tensor([c], 0.5, 2))
            add(label.replacingOccurrences(of: function, with: function + "-train"), function + "_train",
                inputs: [("x", x), ("weight", gamma), ("bias", beta), ("dy", dy)]) {
                reference.batchNormTrain(x: x, weight: gamma, bias: beta, dy: dy)
            }
            add(label.replacingOccurrences(of: function, with: function + "-eval"), function + "_eval",
                inputs: [("x", x), ("weight", gamma), ("bias", beta), ("running_mean", mean), ("running_var", variance)]) {
                reference.batchNormEval(x: x, weight: gamma, bias: beta, runningMean: mean, runningVar: variance)
            }
        }
        func relu(shape: [Int], label: String) {
            // Inputs kept 1e-3 from the kink: float32 rounding must not flip a sign.
            let xt = rng.awayFromZero(shape, minMagnitude: 1e-3)
            let x = nd(xt), dy = nd(rng.tensor(shape))
            let margin = x.doubles.map(abs).min() ?? 0
            add(label, "relu", inputs: [("x", x), ("dy", dy)], margin: margin) { reference.relu(x: x, dy: dy) }
        }

        // Convolutions and the BN that follows each, in network order.
        var convs: [(c: Int, k: Int, r: Int, stride: Int, pad: Int, h: Int)] = [(3, arch.widths[0], 3, 1, 1, size)]
        var h = size
        for b in arch.blockSpecs {
            let ho = (h + 2 - 3) / b.stride + 1
            convs.append((b.inChannels, b.outChannels, 3, b.stride, 1, h))
            convs.append((b.outChannels, b.outChannels, 3, 1, 1, ho))
            if b.hasDownsample { convs.append((b.inChannels, b.outChannels, 1, b.stride, 0, h)) }
            h = ho
        }
        for cv in convs {
            let ho = (cv.h + 2 * cv.pad - cv.r) / cv.stride + 1
            let id = "conv2d-\(cv.r)x\(cv.r)-s\(cv.stride)-p\(cv.pad)-\(cv.c)to\(cv.k)-\(cv.h)x\(cv.h)"
            // Weights at He-like scale keep outputs of order 1 whatever the fan-in.
            let s = (3.0 / Double(cv.c * cv.r * cv.r)).squareRoot()
            let x = nd(rng.tensor([batch, cv.c, cv.h, cv.h])), w = nd(rng.tensor([cv.k, cv.c, cv.r, cv.r], -s, s))
            let dy = nd(rng.tensor([batch, cv.k, ho, ho]))
            add(id, "conv2d", params: ["stride": cv.stride, "pad": cv.pad], inputs: [("x", x), ("weight", w), ("dy", dy)]) {
                reference.conv2d(x: x, weight: w, stride: cv.stride, pad: cv.pad, dy: dy)
            }
            batchNorm(shape: [batch, cv.k, ho, ho], label: "batchnorm2d-\(cv.k)x\(ho)x\(ho)", function: "batchnorm2d")
            relu(shape: [batch, cv.k, ho, ho], label: "relu-\(cv.k)x\(ho)x\(ho)")
        }
        // Pooling, heads, loss.
        let last = arch.widths[3]
        let px = nd(rng.tensor([batch, last, h, h])), pdy = nd(rng.tensor([batch, last]))
        add("avgpool-\(last)x\(h)x\(h)", "avgpool", inputs: [("x", px), ("dy", pdy)]) { reference.avgPool(x: px, dy: pdy) }
        for (i, o) in [(arch.featureSize, arch.projHidden), (arch.projHidden, arch.projOut), (arch.projOut, arch.predHidden),
                       (arch.predHidden, arch.projOut)] {
            let s = (3.0 / Double(i)).squareRoot()
            let x = nd(rng.tensor([batch, i])), w = nd(rng.tensor([o, i], -s, s)), b = nd(rng.tensor([o])), dy = nd(rng.tensor([batch, o]))
            add("linear-\(i)to\(o)", "linear", inputs: [("x", x), ("weight", w), ("bias", b), ("dy", dy)]) {
                reference.linear(x: x, weight: w, bias: b, dy: dy)
            }
        }
        for hidden in [arch.projHidden, arch.predHidden] {
            batchNorm(shape: [batch, hidden], label: "batchnorm1d-\(hidden)", function: "batchnorm1d")
            relu(shape: [batch, hidden], label: "relu-\(hidden)")
        }
        let p = nd(rng.tensor([batch, arch.projOut])), z = nd(rng.tensor([batch, arch.projOut]))
        add("loss-\(batch)x\(arch.projOut)", "loss", inputs: [("p", p), ("z", z)]) { reference.loss(p: p, z: z) }
        // BYOL's loss over both views: each view's prediction against the other view's target.
        let (p1, p2) = (nd(rng.tensor([batch, arch.projOut])), nd(rng.tensor([batch, arch.projOut])))
        let (z1, z2) = (nd(rng.tensor([batch, arch.projOut])), nd(rng.tensor([batch, arch.projOut])))
        add("symmetric_loss-\(batch)x\(arch.projOut)", "symmetric_loss", inputs: [("p1", p1), ("p2", p2), ("z1", z1), ("z2", z2)]) {
            symmetricLoss(reference, p1: p1, p2: p2, z1: z1, z2: z2)
        }

        // The updates, on the stem's weight shape (LARS also on a bias, which it does not
        // adapt); hyperparameters as 0-d inputs, at the values BYOL runs use.
        let wShape = [arch.widths[0], 3, 3, 3]
        func scalars(_ pairs: [(String, Double)]) -> [(String, NDArray)] { pairs.map { ($0.0, NDArray.scalar($0.1)) } }
        for (kind, shape, hyper) in [(OptimizerKind.sgd, wShape, [("lr", 0.1), ("momentum", 0.9), ("weight_decay", 5e-4)]),
                                     (.lars, wShape, [("lr", 0.2), ("momentum", 0.9), ("weight_decay", 1.5e-6), ("eta", 0.001)]),
                                     (.lars, [arch.widths[0]], [("lr", 0.2), ("momentum", 0.9), ("weight_decay", 1.5e-6), ("eta", 0.001)]),
                                     (.adam, wShape, [("lr", 1e-3), ("beta1", 0.9), ("beta2", 0.999), ("eps", 1e-8), ("weight_decay", 1e-4)])] {
            let param = nd(rng.tensor(shape, -0.5, 0.5)), grad = nd(rng.tensor(shape))
            var inputs: [(String, NDArray)] = [("param", param), ("grad", grad)]
            if kind == .adam {
                inputs += [("exp_avg", nd(rng.tensor(shape, -0.1, 0.1))), ("exp_avg_sq", nd(rng.tensor(shape, 1e-4, 1e-2))), ("step", .scalar(Int64(3)))]
            } else {
                inputs.append(("momentum_buffer", nd(rng.tensor(shape, -0.5, 0.5))))
            }
            inputs += scalars(hyper)
            let id = "\(kind.rawValue)-" + shape.map(String.init).joined(separator: "x")
            let given = inputs
            // The inputs are built just above: an error here is a bug in this function.
            add(id, kind.rawValue, inputs: inputs) { try! update(reference, kind: kind.rawValue, given) }
        }
        let target = nd(rng.tensor(wShape, -0.5, 0.5)), online = nd(rng.tensor(wShape, -0.5, 0.5))
        add("ema-" + wShape.map(String.init).joined(separator: "x"), "ema", inputs: [("target", target), ("online", online), ("tau", .scalar(0.996))]) {
            reference.emaUpdate(target: target, online: online, tau: 0.996)
        }

        // A whole step (LARS, separate BN, BYOL's hyperparameters) from a state drawn until
        // every ReLU input of the float64 passes is at least 1e-5 from 0, and an embed.
        let config = StepConfig(optimizer: OptimizerConfig(kind: .lars, lr: 0.2, momentum: 0.9, weightDecay: 1.5e-6, larsEta: 0.001),
                                tau: 0.99, bnViews: .separate)
        if let sc = CrossCheck.wellConditioned(name: "step", arch: arch, batch: batch, size: size, config: config, seed: seed) {
            let (v1, v2) = (NDArray(sc.view1), NDArray(sc.view2))
            var inputs: [(String, NDArray)] = [("view1", v1), ("view2", v2)]
            inputs += scalars([("lr", 0.2), ("momentum", 0.9), ("weight_decay", 1.5e-6), ("eta", 0.001), ("tau", 0.99)])
            add("step-lars-separate-\(batch)x\(size)x\(size)", "step", params: ["optimizer": 1, "bn_views": 0], inputs: inputs, margin: sc.margin) {
                stepOutputs(reference.step(from: sc.state, view1: v1, view2: v2, config: config), arch: arch)
            }
            out[out.count - 1].state = sc.state
            let images = nd(rng.tensor([batch, 3, size, size], -2, 2))
            add("embed-\(batch)x\(size)x\(size)", "embed", inputs: [("images", images)]) {
                LayerResult([("features", reference.embed(sc.state, images: images, network: "online"))])
            }
            out[out.count - 1].state = sc.state
        }
        return out
    }

    /// loss = l(p1, z2) + l(p2, z1) (each the batch mean of `loss`), dp1, dp2: the loss
    /// of a BYOL step (docs/contract.md §3.2) from an engine's `loss` entry point.
    static func symmetricLoss(_ engine: Engine, p1: NDArray, p2: NDArray, z1: NDArray, z2: NDArray) -> LayerResult {
        let a = engine.loss(p: p1, z: z2), b = engine.loss(p: p2, z: z1)
        let total = (a["loss"]?.doubles.first ?? .nan) + (b["loss"]?.doubles.first ?? .nan)
        return LayerResult([("loss", .scalar(total)), ("dp1", a["dp"]!), ("dp2", b["dp"]!)])
    }

    /// A step's outputs: `loss`, `grad.NAME` per learnable array, the next state's arrays.
    static func stepOutputs(_ o: StepOutcome, arch: Architecture) -> LayerResult {
        LayerResult([("loss", .scalar(o.loss))] + arch.learnableSpecs.compactMap { s in o.grads[s.name].map { ("grad." + s.name, $0) } }
                    + o.next.members.filter { $0.name != "loss" })
    }

    /// A step case's configuration from its params and 0-d inputs.
    static func stepConfig(params: [String: Int], inputs: NPZFile) -> StepConfig {
        func h(_ n: String, _ fallback: Double) -> Double { inputs[n]?.doubles.first ?? fallback }
        let kind: OptimizerKind = [0: .sgd, 1: .lars, 2: .adam][params["optimizer"] ?? 1] ?? .lars
        return StepConfig(optimizer: OptimizerConfig(kind: kind, lr: h("lr", 0), momentum: h("momentum", 0.9), weightDecay: h("weight_decay", 0),
                                                     larsEta: h("eta", 0.001)),
                          tau: h("tau", 0.99), bnViews: params["bn_views"] == 1 ? .joint : .separate)
    }

    /// An optimizer case's update on `engine`, from its inputs by name.
    static func update(_ engine: Engine, kind: String, _ inputs: [(String, NDArray)]) throws -> LayerResult {
        let named = Dictionary(uniqueKeysWithValues: inputs)
        func scalar(_ n: String, _ fallback: Double) -> Double { named[n]?.doubles.first ?? fallback }
        guard let k = OptimizerKind(rawValue: kind), let param = named["param"], let grad = named["grad"] else {
            throw NumPyIOError(file: kind, "not an optimizer case")
        }
        let config = OptimizerConfig(kind: k, lr: scalar("lr", 0), momentum: scalar("momentum", 0.9), weightDecay: scalar("weight_decay", 0),
                                     larsEta: scalar("eta", 0.001), adamBeta1: scalar("beta1", 0.9), adamBeta2: scalar("beta2", 0.999),
                                     adamEps: scalar("eps", 1e-8))
        var buffers: [String: NDArray] = [:]
        for b in config.bufferNames { buffers[b] = named[b] }
        let step = named["step"].flatMap { a -> Int64? in if case .int64(let v) = a.storage { return v.first }; return a.doubles.first.map(Int64.init) } ?? 0
        return engine.optimizerUpdate(param: param, grad: grad, buffers: buffers, step: step, config: config)
    }

    /// Runs a case's function on `engine`'s layer entry points: what an implementation
    /// in this package returns for the case (`byol conformance run --engine`).
    public static func compute(function: String, params: [String: Int], inputs: NPZFile, state: BYOLState? = nil, engine: Engine) throws -> LayerResult {
        func x(_ n: String) throws -> NDArray { try inputs.requireFloat(n) }
        switch function {
        case "step", "embed":
            guard let state else { throw NumPyIOError(file: inputs.path, "a \(function) case needs its state.npz") }
            if function == "embed" { return LayerResult([("features", engine.embed(state, images: try x("images"), network: "online"))]) }
            let o = engine.step(from: state, view1: try x("view1"), view2: try x("view2"), config: stepConfig(params: params, inputs: inputs))
            return stepOutputs(o, arch: state.arch)
        case "conv2d":
            return engine.conv2d(x: try x("x"), weight: try x("weight"), stride: params["stride"] ?? 1, pad: params["pad"] ?? 0, dy: try x("dy"))
        case "batchnorm2d_train", "batchnorm1d_train":
            return engine.batchNormTrain(x: try x("x"), weight: try x("weight"), bias: try x("bias"), dy: try x("dy"))
        case "batchnorm2d_eval", "batchnorm1d_eval":
            return engine.batchNormEval(x: try x("x"), weight: try x("weight"), bias: try x("bias"), runningMean: try x("running_mean"),
                                        runningVar: try x("running_var"))
        case "linear": return engine.linear(x: try x("x"), weight: try x("weight"), bias: try x("bias"), dy: try x("dy"))
        case "relu": return engine.relu(x: try x("x"), dy: try x("dy"))
        case "avgpool": return engine.avgPool(x: try x("x"), dy: try x("dy"))
        case "loss": return engine.loss(p: try x("p"), z: try x("z"))
        case "symmetric_loss": return symmetricLoss(engine, p1: try x("p1"), p2: try x("p2"), z1: try x("z1"), z2: try x("z2"))
        case "sgd", "lars", "adam": return try update(engine, kind: function, inputs.names.map { ($0, try inputs.require($0)) })
        case "ema": return engine.emaUpdate(target: try x("target"), online: try x("online"), tau: try x("tau").doubles.first ?? .nan)
        default: throw NumPyIOError(file: inputs.path, "unknown function '\(function)'")
        }
    }

    /// Every case of the manifest in `dir` through `engine`, written to RESULTS/ID.npz.
    public static func run(cases dir: String, engine: Engine, results: String) throws -> Int {
        try? FileManager.default.createDirectory(atPath: results, withIntermediateDirectories: true)
        let listed = try readManifest(dir)
        for c in listed {
            let inputs = try NPZ.load("\(dir)/\(c.id)/inputs.npz")
            let statePath = "\(dir)/\(c.id)/state.npz"
            let state = FileManager.default.fileExists(atPath: statePath) ? try BYOLState.read(statePath) : nil
            let r = try compute(function: c.function, params: c.params, inputs: inputs, state: state, engine: engine)
            try NPZ.write(r.arrays, to: "\(results)/\(c.id).npz")
        }
        return listed.count
    }

    // MARK: Export

    /// Writes `cases` under `dir`: DIR/ID/inputs.npz, DIR/ID/expected.npz and
    /// DIR/manifest.json (written last, so a folder with a manifest is complete).
    public static func export(_ cases: [Case], header: [String: Any], to dir: String) throws {
        let fm = FileManager.default
        do {
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw NumPyIOError(file: dir, "cannot create the folder: \((error as NSError).localizedFailureReason ?? error.localizedDescription)")
        }
        var entries: [[String: Any]] = []
        for c in cases {
            try? fm.createDirectory(atPath: dir + "/" + c.id, withIntermediateDirectories: true)
            try NPZ.write(c.inputs, to: "\(dir)/\(c.id)/inputs.npz")
            if let state = c.state { try state.write(to: "\(dir)/\(c.id)/state.npz") }
            try NPZ.write(c.expected, to: "\(dir)/\(c.id)/expected.npz")
            var bounds: [String: Any] = [:]
            for precision in [Precision.float32, .float64] {
                bounds[precision.rawValue] = Dictionary(uniqueKeysWithValues: c.expected.map { e in
                    let b = bound(e.name, precision: precision)
                    return (e.name, ["bound": b.bound, "reason": b.reason] as [String: Any])
                })
            }
            var entry: [String: Any] = [
                "id": c.id, "function": c.function, "params": c.params,
                "inputs": c.inputs.map { ["name": $0.name, "shape": $0.array.shape] as [String: Any] },
                "outputs": c.expected.map { ["name": $0.name, "shape": $0.array.shape] as [String: Any] },
                "bounds": bounds,
            ]
            if let m = c.reluMargin { entry["relu_margin"] = m }
            if c.state != nil { entry["state"] = "state.npz" }
            entries.append(entry)
        }
        var manifest = header
        manifest["format"] = "byol-conformance"
        manifest["version"] = version
        manifest["rule"] = "per output tensor: max |result - expected| <= bound x max(1, max |expected|)"
        manifest["cases"] = entries
        let json = try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(dir + "/manifest.json", data: json + Data("\n".utf8))
    }

    // MARK: Check

    /// One output tensor of one case, compared.
    public struct Finding {
        public var caseID: String
        public var function: String
        public var tensor: String
        public var maxAbs: Double
        public var maxRel: Double
        public var bound: Double
        /// Index of the largest difference (row-major), when there is one.
        public var worstIndex: [Int]?
        public var passed: Bool
        /// Why it failed, one line; empty when it passed.
        public var message: String
        public var ratio: Double { maxRel / bound }
    }

    /// A case of the manifest: id, function, output names.
    struct Listed {
        var id: String, function: String, params: [String: Int], outputs: [String]
    }

    static func readManifest(_ dir: String) throws -> [Listed] {
        let path = dir + "/manifest.json"
        guard let data = FileManager.default.contents(atPath: path) else { throw NumPyIOError(file: path, "missing or unreadable") }
        guard let m = try? JSONSerialization.jsonObject(with: data) as? [String: Any], m["format"] as? String == "byol-conformance" else {
            throw NumPyIOError(file: path, "not a byol conformance manifest (no \"format\": \"byol-conformance\")")
        }
        guard let v = m["version"] as? Int, v == version else {
            throw NumPyIOError(file: path, "manifest version \(m["version"] ?? "none"), this byol reads version \(version)")
        }
        guard let cases = m["cases"] as? [[String: Any]] else { throw NumPyIOError(file: path, "no \"cases\" list") }
        return try cases.map { c in
            guard let id = c["id"] as? String, let f = c["function"] as? String, let outs = c["outputs"] as? [[String: Any]] else {
                throw NumPyIOError(file: path, "a case without id, function or outputs")
            }
            return Listed(id: id, function: f, params: c["params"] as? [String: Int] ?? [:], outputs: outs.compactMap { $0["name"] as? String })
        }
    }

    /// Compares RESULTS/ID.npz with CASES/ID/expected.npz for every case whose function
    /// is in `only` (all when nil). A missing result file or tensor is a failure.
    public static func check(cases dir: String, results: String, precision: Precision, only: Set<String>? = nil) throws -> [Finding] {
        var findings: [Finding] = []
        for c in try readManifest(dir) where only?.contains(c.function) ?? true {
            let expected = try NPZ.load("\(dir)/\(c.id)/expected.npz")
            let path = "\(results)/\(c.id).npz"
            let got: NPZFile?
            if FileManager.default.fileExists(atPath: path) {
                do { got = try NPZ.load(path) } catch {
                    findings.append(Finding(caseID: c.id, function: c.function, tensor: "-", maxAbs: .infinity, maxRel: .infinity,
                                            bound: 0, worstIndex: nil, passed: false, message: "\(error)"))
                    continue
                }
            } else {
                got = nil
            }
            for name in c.outputs {
                let e = try expected.require(name)
                let b = bound(name, precision: precision).bound
                findings.append(compare(caseID: c.id, function: c.function, tensor: name, actual: got?[name], expected: e, bound: b,
                                        missing: got == nil ? "\(path): no result file" : "\(path): no array '\(name)'"))
            }
        }
        return findings
    }

    static func compare(caseID: String, function: String, tensor: String, actual: NDArray?, expected: NDArray, bound: Double,
                        missing: String) -> Finding {
        var f = Finding(caseID: caseID, function: function, tensor: tensor, maxAbs: .infinity, maxRel: .infinity, bound: bound,
                        worstIndex: nil, passed: false, message: "")
        guard let actual else { f.message = missing; return f }
        guard actual.shape == expected.shape else {
            f.message = "\(tensor): shape \(actual.shape), expected \(expected.shape)"
            return f
        }
        let a = actual.doubles, e = expected.doubles
        var worst = -1.0, at = 0, scale = 1.0
        for i in e.indices {
            scale = max(scale, abs(e[i]))
            let d = abs(a[i] - e[i])
            if !(d <= worst) { worst = d.isNaN ? .infinity : d; at = i; if d.isNaN { break } }
        }
        f.maxAbs = e.isEmpty ? 0 : worst
        f.maxRel = f.maxAbs / scale
        f.worstIndex = e.isEmpty ? nil : unravel(at, expected.shape)
        f.passed = f.maxRel <= bound
        if !f.passed {
            let idx = f.worstIndex.map { "[" + $0.map(String.init).joined(separator: ", ") + "]" } ?? "[]"
            f.message = String(format: "%@: max rel error %.3e > bound %.0e (%.1fx) at %@: got %@, expected %@", tensor, f.maxRel, bound,
                               f.ratio, idx, "\(a[at])", "\(e[at])")
        }
        return f
    }

    static func unravel(_ flat: Int, _ shape: [Int]) -> [Int] {
        var rest = flat
        var out = [Int](repeating: 0, count: shape.count)
        for d in shape.indices.reversed() where shape[d] > 0 {
            out[d] = rest % shape[d]
            rest /= shape[d]
        }
        return out
    }

    // MARK: Reports

    /// JUnit XML: one test suite per function, one test case per case of it, failed with
    /// the first violating tensor's line (all of them in the failure's text).
    public static func junit(_ findings: [Finding]) -> String {
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        var byCase: [(id: String, function: String, findings: [Finding])] = []
        for f in findings {
            if let i = byCase.firstIndex(where: { $0.id == f.caseID }) { byCase[i].findings.append(f) } else { byCase.append((f.caseID, f.function, [f])) }
        }
        let failedCases = byCase.filter { $0.findings.contains { !$0.passed } }.count
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        xml += "<testsuites name=\"byol conformance\" tests=\"\(byCase.count)\" failures=\"\(failedCases)\">\n"
        for function in functions + Set(byCase.map(\.function)).subtracting(functions).sorted() {
            let mine = byCase.filter { $0.function == function }
            guard !mine.isEmpty else { continue }
            let failures = mine.filter { $0.findings.contains { !$0.passed } }.count
            xml += "  <testsuite name=\"\(esc(function))\" tests=\"\(mine.count)\" failures=\"\(failures)\">\n"
            for c in mine {
                let bad = c.findings.filter { !$0.passed }
                if bad.isEmpty {
                    xml += "    <testcase classname=\"\(esc(function))\" name=\"\(esc(c.id))\"/>\n"
                } else {
                    xml += "    <testcase classname=\"\(esc(function))\" name=\"\(esc(c.id))\">\n"
                    xml += "      <failure message=\"\(esc(bad[0].message))\">\(esc(bad.map(\.message).joined(separator: "\n")))</failure>\n"
                    xml += "    </testcase>\n"
                }
            }
            xml += "  </testsuite>\n"
        }
        return xml + "</testsuites>\n"
    }

    /// JSON: the precision and one object per tensor.
    public static func json(_ findings: [Finding], precision: Precision) throws -> Data {
        func num(_ x: Double) -> Any { x.isFinite ? x : NSNull() }
        let rows: [[String: Any]] = findings.map { f in
            ["case": f.caseID, "function": f.function, "tensor": f.tensor, "max_abs": num(f.maxAbs), "max_rel": num(f.maxRel),
             "bound": f.bound, "ratio": num(f.ratio), "worst_index": f.worstIndex ?? NSNull(), "passed": f.passed, "message": f.message]
        }
        let doc: [String: Any] = ["precision": precision.rawValue, "passed": findings.allSatisfy(\.passed), "tensors": rows]
        return try JSONSerialization.data(withJSONObject: doc, options: [.prettyPrinted, .sortedKeys]) + Data("\n".utf8)
    }
}
