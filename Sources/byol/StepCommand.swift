import ArgumentParser
import BYOLModel
import Foundation
import NumPyIO
import Verification

struct StepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "step",
        abstract: "One BYOL training step on given views: loss, gradients, optimizer, EMA (docs/contract.md §3).")

    @Option(help: "Incoming state (.npz).") var state: String
    @Option(help: "Views (.npz) with view1 and view2, float [N, 3, H, W].") var views: String
    @Option(help: "Output: the next state plus loss (.npz).") var out: String
    @Option(help: "Also write the gradients, grad.<parameter name>, taken before the update.") var grads: String?
    @OptionGroup var engineOptions: EngineOptions
    @OptionGroup var optimizerOptions: OptimizerOptions

    func run() throws {
        let s = try BYOLState.read(state)
        let (v1, v2) = try Inputs.views(views, bnViews: optimizerOptions.bnViews)
        // Fail before the step (minutes in float64 on ResNet-18), not after it.
        for path in [out] + (grads.map { [$0] } ?? []) { try AtomicFile.checkWritable(path) }
        let engine = engineOptions.engine()
        let r = engine.step(from: s, view1: NDArray(v1), view2: NDArray(v2), config: optimizerOptions.stepConfig)
        // Both files or neither.
        var files = [(members: r.next.members, path: out)]
        if let grads {
            files.append((s.arch.learnableSpecs.map { ("grad." + $0.name, r.grads[$0.name]!) }, grads))
        }
        try NPZ.writeTogether(files)
        print("step \(s.step) -> \(r.next.step): loss \(r.loss) (\(engine.name), \(engine.precision))")
    }
}
