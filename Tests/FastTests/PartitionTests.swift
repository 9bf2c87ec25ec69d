import BYOLModel
import NumPyIO
import TestSupport
import Testing
import Verification

@testable import Fast

/// The fixed partition of the float32 step (issue #15): enough tasks for 16 threads, and
/// the same bytes whatever the thread count, in both convolution schedules.
@Suite struct PartitionTests {
    /// Batch 32 of 32 x 32 in 8 sample groups: layer1's Winograd convolutions have 32
    /// image groups (a group per task), the deeper ones 8 (one group at a time, split
    /// inside).
    @Test func stepBytesAreTheSameFrom1To16Threads() throws {
        let arch = Architecture.preset(named: "tiny")!
        let (batch, size) = (32, 32)
        let groups = SampleGroups(batch: batch, count: 8)
        let seg = Segments(groups: groups, bnBatches: 2)
        let schedules = FastNetwork.convShapes(arch: arch, height: size, width: size).filter(Winograd.applies)
            .map { Winograd.groupPerTask($0, Winograd.groups(seg, $0).ranges) }
        #expect(schedules.contains(true) && schedules.contains(false), "\(schedules)")
        var rng = CaseDraws(seed: 11)
        let v1 = rng.tensor([batch, 3, size, size], -2, 2).data.map(Float.init), v2 = rng.tensor([batch, 3, size, size], -2, 2).data.map(Float.init)
        let state = Initializer.initialState(arch: arch, seed: 2)
        var outputs: [Int: [UInt8]] = [:]
        for kind in [OptimizerKind.lars, .adam] {
            let config = StepConfig(optimizer: OptimizerConfig(kind: kind, lr: 0.01), tau: 0.99, bnViews: .separate)
            for t in [1, 2, 5, 16] {
                let trainer = FastTrainer(arch: arch, batch: batch, height: size, width: size, bnViews: .separate, threads: t, groups: groups)
                trainer.load(state)
                trainer.train(view1: v1, view2: v2, config: config)
                outputs[t] = try stepBytes(trainer)
            }
            for t in [2, 5, 16] { #expect(outputs[t] == outputs[1], "\(kind): \(t) threads") }
        }
    }

    /// Tensors larger than one optimizer block are split into consecutive blocks that
    /// cover each element once (LARS's norms sum a tensor's blocks in order).
    @Test func optimizerBlocksCoverEveryElementOnce() {
        let specs = Architecture.preset(named: "resnet18")!.learnableSpecs
        let blocks = FastOptimizer.blocks(specs)
        #expect(blocks.count > specs.count)
        for (si, s) in specs.enumerated() {
            let mine = blocks.filter { $0.spec == si }.map(\.range)
            #expect(mine.first?.lowerBound == 0 && mine.last?.upperBound == s.count)
            #expect(zip(mine, mine.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
            #expect(mine.allSatisfy { $0.count <= FastOptimizer.blockSize })
        }
    }

    /// im2col groups and linear row blocks give 16 threads a task each where the size
    /// allows; im2col groups grow with the column matrix, which bounds per-worker memory.
    @Test func partitionOffersSixteenTasks() {
        let stem = ConvShape(c: 3, k: 64, r: 3, stride: 1, pad: 1, h: 32, w: 32)
        let layer2 = ConvShape(c: 64, k: 128, r: 3, stride: 2, pad: 1, h: 32, w: 32)
        #expect(FastConv.groups(images: 128, stem, segments: 1).count == 16 && FastConv.groups(images: 10, stem, segments: 1).count == 10)
        // 576 x 256 floats per sample, 7 samples within 2^20: 512 samples need 74 groups,
        // rounded up to 80 (5 per thread at 16 threads).
        let g = FastConv.groups(images: 512, layer2, segments: 1)
        #expect(g.count == 80)
        // resnet18's layer4 stride-2 convolution at batch 256 needs 19 groups; 32 would
        // hold 151 MB of partial weight gradients, so it keeps 19.
        let layer4 = ConvShape(c: 256, k: 512, r: 3, stride: 2, pad: 1, h: 8, w: 8)
        #expect(FastConv.groups(images: 512, layer4, segments: 1).count == 19)
        #expect(g.allSatisfy { $0.count * 576 * 256 <= FastConv.columnBudget })
        #expect(FastLinear.rowBlocks(256).count == 16 && FastLinear.rowBlocks(4096).count == 32 && FastLinear.rowBlocks(7).count == 7)
    }
}

/// The float32 engine through the conformance kit's file route: every exported case of
/// the tiny preset, whole step and embed included, within the float32 bounds (issue
/// #16; `byol conformance` on the small preset: docs/conformance.md).
@Suite struct FastConformance {
    @Test func openBLASPassesTheTinyPresetCases() throws {
        let d = TemporaryDirectory()
        let cases = Conformance.cases(arch: Architecture.preset(named: "tiny")!, batch: 4, size: 16, seed: 0)
        try Conformance.export(cases, header: [:], to: d.file("cases"))
        #expect(try Conformance.run(cases: d.file("cases"), engine: OpenBLASEngine(threads: 2), results: d.file("results")) == cases.count)
        let findings = try Conformance.check(cases: d.file("cases"), results: d.file("results"), judged: .tier(.float32))
        for f in findings where !f.passed { Issue.record("\(f.caseID): \(f.message)") }
        #expect(findings.count > cases.count)
    }
}

/// The state and gradients a trainer holds, as the bytes of two .npz files.
func stepBytes(_ trainer: FastTrainer) throws -> [UInt8] {
    let d = TemporaryDirectory()
    try trainer.exportState().write(to: d.file("s.npz"))
    try NPZ.write(trainer.exportGradients(), to: d.file("g.npz"))
    return readBytes(d.file("s.npz")) + readBytes(d.file("g.npz"))
}
