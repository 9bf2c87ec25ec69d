import BYOLModel
import CommandFiles
import Foundation
import NumPyIO
import Reference

extension Goldens {
    /// Verifies an engine against the goldens at the bounds of its precision: each
    /// step starts from the golden's own input of that step (the committed input state or
    /// the previous expected state), so every step is checked on its own; digest cases
    /// are checked on their first step, by max |x| and the sampled elements. Float32
    /// bounds hold on well-conditioned steps only (docs/contract.md §4): a step whose
    /// float64 ReLU inputs come within 1e-5 of 0 is reported as SKIP with its margin.
    public static func verify(goldens: String, cases: [GoldenCase], engine: NetworkEngine, onRow: (CheckRow) -> Void = { _ in }) -> [CheckRow] {
        var rows: [CheckRow] = []
        func add(_ r: CheckRow) {
            rows.append(r)
            onRow(r)
        }
        let float32 = engine.precision == .float32
        func tolerance(_ name: String, _ a: NDArray) -> Tolerance {
            if a.dtype == .int64 { return .exact }
            if !float32 { return torchTolerance }
            return name == "loss" || name.hasPrefix("features") ? CrossCheck.outputBound : CrossCheck.gradientBound
        }
        let manifest = loadManifest(goldens: goldens)
        for c in cases {
            let dir = goldens + "/" + c.name
            // The inputs and expectations are the ones the manifest recorded.
            add(manifestRow(c, goldens: goldens, manifest: manifest))
            do {
                switch c.kind {
                case .step(let steps, let wantGrads, let config):
                    let lastStep = c.storage == .full ? steps : 1
                    for k in 1...lastStep {
                        let title = "golden \(c.name) step \(k): \(engine.name)"
                        let state = k == 1 ? try inputState(c, dir: dir) : try BYOLState.read(dir + "/expected_\(k - 1).npz")
                        let views = try NPZ.load(dir + "/views_\(k).npz")
                        let v1 = Inputs.tensor(try views.require("view1")), v2 = Inputs.tensor(try views.require("view2"))
                        if float32 && config.optimizer.kind == .adam
                            && !state.arch.learnableSpecs.contains(where: { state.arrays["optimizer.\($0.name).exp_avg_sq"] != nil })
                        {
                            add(
                                CheckRow(
                                    check: title, maxAbsError: 0, maxRelError: 0, passed: false,
                                    skipped: "Adam with zero second moments, float32 bounds do not apply"))
                            continue
                        }
                        if float32 {
                            let margin = CrossCheck.reluMargin(state, v1, v2, bnViews: config.bnViews)
                            if margin < CrossCheck.reluMargin {
                                add(
                                    CheckRow(
                                        check: title, maxAbsError: 0, maxRelError: 0, passed: false,
                                        skipped: String(format: "ReLU margin %.1e < 1e-5, float32 bounds do not apply", margin)))
                                continue
                            }
                        }
                        let r = engine.step(from: state, view1: NDArray(v1), view2: NDArray(v2), config: config)
                        var produced = r.next.members
                        var expected = try NPZ.load(dir + "/expected_\(k).npz").members
                        if wantGrads {
                            produced += state.arch.learnableSpecs.map { ("grad." + $0.name, r.grads[$0.name]!) }
                            expected += try NPZ.load(dir + "/grads_\(k).npz").members
                        }
                        add(compare(title, produced: produced, expected: expected, digest: c.storage == .digest, tolerance: tolerance))
                    }
                case .embed(let stateFile):
                    let state = try BYOLState.read(goldens + "/" + stateFile)
                    let images = Inputs.tensor(try NPZ.load(dir + "/images.npz").require("images"))
                    for network in ["online", "target"] {
                        let f = engine.embed(state, images: NDArray(images), network: network)
                        let e = try NPZ.load(dir + "/expected_\(network).npz").members
                        add(
                            compare(
                                "golden \(c.name) \(network): \(engine.name)", produced: [("features", f)], expected: e,
                                digest: c.storage == .digest, tolerance: tolerance))
                    }
                }
            } catch {
                add(
                    CheckRow(
                        check: "golden \(c.name): \(engine.name)", maxAbsError: .infinity, maxRelError: .infinity, passed: false,
                        failures: ["\(error)"]))
            }
        }
        return rows
    }

    static func compare(
        _ title: String, produced: [(name: String, array: NDArray)], expected: [(name: String, array: NDArray)], digest: Bool,
        tolerance: (String, NDArray) -> Tolerance
    ) -> CheckRow {
        let got = Dictionary(produced.map { ($0.name, $0.array) }, uniquingKeysWith: { a, _ in a })
        var results: [TensorComparison] = []
        for (name, e) in expected {
            if digest && name.hasSuffix(".digest") {
                let base = String(name.dropLast(".digest".count))
                guard let a = got[base] else {
                    results.append(Compare.tensors(base, actual: nil, expected: e, tolerance: .exact))
                    continue
                }
                // Sums and norms of float32 tensors are ill-conditioned aggregates: compare
                // max |x| and the sampled elements, scaled by max(1, max |x|).
                let mine = Digest.arrays([(base, a)])[0].array.doubles
                let theirs = e.doubles
                results.append(
                    Compare.tensors(
                        name + "[max_abs, samples]", actual: NDArray(float64: Array(mine.dropFirst(2)), shape: [mine.count - 2]),
                        expected: NDArray(float64: Array(theirs.dropFirst(2)), shape: [theirs.count - 2]), tolerance: tolerance(base, a)))
            } else {
                results.append(Compare.tensors(name, actual: got[name], expected: e, tolerance: tolerance(name, e)))
            }
        }
        return CrossCheck.summary(title, results)
    }
}
