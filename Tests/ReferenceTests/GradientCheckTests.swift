import BYOLModel
import Reference
import Testing
import Verification

/// Finite-difference proofs of every hand-written backward (float64, central
/// differences, |analytic - numeric| <= 1e-6 * max(1, |numeric|)).
@Suite struct GradientChecks {
    func expectPass(_ r: GradCheck.CaseResult) {
        #expect(r.passed, "\(r.failures.joined(separator: "\n"))")
        #expect(r.tensors.allSatisfy { $0.checked > 0 })
    }

    @Test(arguments: GradCheckCases.layers.map(\.name))
    func layer(_ name: String) {
        expectPass(GradCheck.run(GradCheckCases.layers.first { $0.name == name }!))
    }

    @Test(arguments: GradCheckCases.composites.map(\.name))
    func composite(_ name: String) {
        let r = GradCheck.run(GradCheckCases.composites.first { $0.name == name }!)
        expectPass(r)
        #expect(r.minReluMargin >= GradCheckCases.reluMargin)
    }

    @Test(arguments: BNViews.allCases)
    func wholeOnlineNetwork(_ mode: BNViews) {
        let r = GradCheck.run(GradCheckCases.network(bnViews: mode), coverage: .sample(4))
        expectPass(r)
        // Every learnable parameter of the tiny preset is covered.
        #expect(r.tensors.count == Architecture.tiny.learnableSpecs.count)
    }

    @Test func backwardTwiceIsBitwiseEqual() {
        let row = GradientSuite.backwardTwiceRow()
        #expect(row.passed, "\(row.failures)")
    }
}

/// The checker must fail on a broken backward, naming the tensor and the values.
@Suite struct GradientCheckerCatchesBugs {
    @Test func flippedSignInOneGradient() throws {
        var c = try #require(GradCheckCases.layers.first { $0.name == "linear" })
        c.analytic["weight"]!.data = c.analytic["weight"]!.data.map { -$0 }
        let r = GradCheck.run(c)
        #expect(!r.passed)
        let failing = r.tensors.filter { !$0.passed }.map(\.tensor)
        #expect(failing == ["weight"])
        #expect(r.failures.count == 1)
        #expect(r.failures[0].hasPrefix("linear: weight["))
        #expect(r.failures[0].contains("analytic") && r.failures[0].contains("numeric"))
    }

    @Test func oneWrongElementInAWholeNetwork() {
        var c = GradCheckCases.network(bnViews: .separate)
        let name = "backbone.layer2.0.bn1.weight"
        c.analytic[name]!.data[0] += 1e-3
        let r = GradCheck.run(c, coverage: .sample(2))  // checks element 0
        #expect(r.tensors.filter { !$0.passed }.map(\.tensor) == [name])
    }

    @Test func aCaseCrossingAKinkIsInvalid() {
        // ReLU inputs right at +-1e-8: a 1e-6 step crosses the kink.
        let x = Tensor(shape: [4], data: [1e-8, -1e-8, 0.5, -0.5])
        let dy = Tensor(shape: [4], data: [1, 1, 1, 1])
        let c = GradCheck.Case(name: "relu at kink", inputs: [("x", x)], analytic: ["x": ReLU.backward(dy, x: x)]) { t in
            (ReLU.forward(t["x"]!).data.reduce(0, +), [t["x"]!])
        }
        let r = GradCheck.run(c)
        #expect(!r.passed)
        #expect(r.tensors[0].kinkCrossedAt == 0)
        #expect(r.failures[0].contains("ReLU kink"))
    }
}
