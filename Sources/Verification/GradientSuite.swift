import BYOLModel
import Reference

/// The gradient checks that `byol verify` and the tests run.
public enum GradientSuite {
    /// `full`: every element of every tensor of the whole-network cases (seconds in a
    /// release build); otherwise a spread sample of each tensor (fast in debug builds).
    public static func run(full: Bool, onRow: (CheckRow) -> Void = { _ in }) -> [CheckRow] {
        var rows: [CheckRow] = []
        func add(_ r: CheckRow) {
            rows.append(r)
            onRow(r)
        }
        for c in GradCheckCases.layers + GradCheckCases.composites {
            add(row(GradCheck.run(c)))
        }
        for mode in BNViews.allCases {
            add(row(GradCheck.run(GradCheckCases.network(bnViews: mode), coverage: full ? .all : .sample(6))))
        }
        add(backwardTwiceRow())
        return rows
    }

    static func row(_ r: GradCheck.CaseResult) -> CheckRow {
        let checked = r.tensors.reduce(0) { $0 + $1.checked }
        return CheckRow(
            check: "gradcheck \(r.name) [\(checked) elems]", maxAbsError: r.maxAbsError,
            maxRelError: r.maxRelError, passed: r.passed, failures: r.failures)
    }

    /// Backward run twice on the same inputs must give bitwise-equal gradients.
    public static func backwardTwiceRow(arch: Architecture = .tiny) -> CheckRow {
        let state = Initializer.initialState(arch: arch, seed: 7)
        var rng = CaseDraws(seed: 7)
        let v1 = rng.tensor([3, 3, 8, 8])
        let v2 = rng.tensor([3, 3, 8, 8])
        var target = NetParams(state: state, network: "target")
        let (z1, z2) = BYOLLoss.targetProjections(view1: v1, view2: v2, arch: arch, target: &target, bnViews: .separate)
        var o1 = NetParams(state: state, network: "online")
        var o2 = o1
        let a = BYOLLoss.onlineStep(view1: v1, view2: v2, z1: z1, z2: z2, arch: arch, online: &o1, bnViews: .separate)
        let b = BYOLLoss.onlineStep(view1: v1, view2: v2, z1: z1, z2: z2, arch: arch, online: &o2, bnViews: .separate)
        var failures: [String] = []
        var maxAbs = 0.0
        for (name, g) in a.grads.sorted(by: { $0.key < $1.key }) {
            let h = b.grads[name]!
            for i in 0..<g.count where g.data[i].bitPattern != h.data[i].bitPattern {
                maxAbs = max(maxAbs, abs(g.data[i] - h.data[i]))
                if failures.count < 5 { failures.append("backward twice: \(name)[\(i)]: \(g.data[i]) vs \(h.data[i])") }
            }
        }
        if a.loss.bitPattern != b.loss.bitPattern { failures.append("backward twice: loss \(a.loss) vs \(b.loss)") }
        return CheckRow(
            check: "backward twice is bitwise equal (tiny)", maxAbsError: maxAbs, maxRelError: maxAbs,
            passed: failures.isEmpty, failures: failures)
    }
}
