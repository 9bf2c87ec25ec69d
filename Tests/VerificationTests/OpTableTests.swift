import BYOLModel
import Foundation
import NumPyIO
import Reference
import TestSupport
import Testing
import Verification

/// The op table (Ops) is the one declaration of the kit's functions: what the generator
/// writes, the C header's symbols and the cross-check's layer rows must all agree with
/// it, so that a function added in one place and forgotten in another fails here.
@Suite struct OpTable {
    @Test func casesHaveTheDeclaredInputsAndOutputs() {
        let cases = Conformance.cases(arch: .tiny, batch: 4, size: 8, seed: 0, steps: [.sgd])  // one step kind: a third of the time
        #expect(Set(cases.map(\.function)) == Set(Ops.all.map(\.name)), "every op has cases, and nothing else does")
        for c in cases {
            guard let op = Ops.named(c.function) else {
                Issue.record("\(c.id): no op \(c.function)")
                continue
            }
            let inputs = Set(c.inputs.map(\.name)), outputs = Set(c.expected.map(\.name))
            if op.name == "step" {
                // Hyperparameters depend on the optimizer; outputs on the state's arrays.
                #expect(Set(op.inputs).isSubset(of: inputs) && Set(op.outputs).isSubset(of: outputs), "\(c.id)")
            } else {
                #expect(inputs == Set(op.inputs), "\(c.id): inputs \(inputs.sorted()), declared \(op.inputs)")
                #expect(outputs == Set(op.outputs), "\(c.id): outputs \(outputs.sorted()), declared \(op.outputs)")
            }
            #expect(Set(c.params.keys) == Set(op.params), "\(c.id): params \(c.params.keys.sorted())")
            // Bounds for every float output of a layer or update (integer outputs are exact).
            if !op.wholeNetwork {
                let floats = Set(c.expected.filter { $0.array.dtype != .int64 }.map(\.name))
                #expect(Set(c.bounds.keys) == floats, "\(c.id): bounds for \(c.bounds.keys.sorted())")
            }
        }
    }

    /// byol_kernels.h declares, in both precisions, exactly the ABI functions of the table.
    @Test func theHeaderDeclaresTheTablesABIFunctions() throws {
        let header = String(decoding: readBytes(Repo.root.appendingPathComponent("Sources/CByolKernels/include/byol_kernels.h").path), as: UTF8.self)
        let declared = Set(header.matches(of: #/byol_([a-z0-9_]+)_f(?:32|64)\(/#).map { String($0.output.1) })
        let table = Set(Ops.all.flatMap(\.abi))
        #expect(
            !table.isEmpty && declared == table,
            "header only: \(declared.subtracting(table).sorted()); table only: \(table.subtracting(declared).sorted())")
        for f in table {
            #expect(header.contains("byol_\(f)_f32(") && header.contains("byol_\(f)_f64("), "\(f) in both precisions")
        }
    }

    /// Every layer op declares samples (the cross-check's rows), and one with a gradient
    /// makes a finite-difference case, unless the op has no gradient output (the eval-mode
    /// BatchNorm forwards).
    @Test func everyLayerOpHasCrossCheckRowsAndAGradientCheck() {
        let layerOps = Set(Ops.all.filter { $0.kind == .layer }.map(\.name))
        #expect(Set(CrossCheck.layerCases().map(\.op)) == layerOps)
        let forwardOnly = Set(Ops.all.filter { $0.kind == .layer && !$0.outputs.contains { $0.hasPrefix("d") } }.map(\.name))
        #expect(forwardOnly == ["batchnorm2d_eval", "batchnorm1d_eval"])
        let checked = Set(Ops.samples().filter { $0.sample.gradCheck && GradCheckCases.derived($0.op, $0.sample) != nil }.map(\.op.name))
        #expect(checked == layerOps.subtracting(forwardOnly))
    }

    /// An optimizer code the manifest does not know was read as LARS.
    @Test func anUnknownOptimizerCodeIsRefused() throws {
        let d = TemporaryDirectory()
        try NPZ.write([("view1", NDArray(float64: [0], shape: [1])), ("view2", NDArray(float64: [0], shape: [1]))], to: d.file("inputs.npz"))
        let inputs = try NPZ.load(d.file("inputs.npz"))
        // The codes this byol knows follow; the first three are fixed for good (codes are never reused).
        let message = "\(d.file("inputs.npz")): params.optimizer = 99 is no optimizer this byol knows (0 sgd, 1 lars, 2 adam"
        do {
            _ = try Conformance.compute(
                function: "step", params: ["optimizer": 99], inputs: inputs, state: Initializer.initialState(arch: .tiny, seed: 0),
                engine: ReferenceEngine())
            Issue.record("code 99 was accepted")
        } catch let e as NumPyIOError {
            #expect(e.description.hasPrefix(message), "\(e)")
        }
    }
}
