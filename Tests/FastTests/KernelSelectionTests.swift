import BYOLModel
import NumPyIO
import TestSupport
import Testing
import Verification

@testable import Fast

/// The GEMM shapes the kernel check runs are the ones the float32 path calls.
@Suite struct GEMMPlanTests {
    /// Odd widths, a head wider than one 128-row block, stride-2 im2col and Winograd
    /// convolutions with uneven sample groups.
    let arch = Architecture(widths: [4, 6, 8, 10], blocks: [1, 2, 1, 1], projHidden: 130, projOut: 7, predHidden: 257)

    @Test func stepShapesAreTheRecordedOnes() {
        let (batch, h, w) = (5, 11, 13)
        var rng = CaseDraws(seed: 3)
        let engine = OpenBLASEngine(threads: 2)
        engine.load(Initializer.initialState(arch: arch, seed: 1))
        let v1 = NDArray(rng.tensor([batch, 3, h, w], -2, 2)), v2 = NDArray(rng.tensor([batch, 3, h, w], -2, 2))
        let config = StepConfig(optimizer: OptimizerConfig(kind: .lars, lr: 0.01), tau: 0.99, bnViews: .separate)
        let recorded = GEMMRecorder.record { _ = engine.step(view1: v1, view2: v2, config: config) }
        #expect(recorded.count > 10)
        #expect(recorded == GEMMPlan.step(arch: arch, batch: batch, height: h, width: w))
    }

    /// Each rank of a data-parallel step calls the shapes of its own share (its groups'
    /// images are fewer, so leading dimensions differ from one process's).
    @Test func stepShapesOfEachRankAreTheRecordedOnes() {
        let (batch, h, w, ranks) = (7, 9, 9, 3)
        var rng = CaseDraws(seed: 6)
        let v1 = rng.tensor([batch, 3, h, w], -2, 2).data.map(Float.init), v2 = rng.tensor([batch, 3, h, w], -2, 2).data.map(Float.init)
        let state = Initializer.initialState(arch: arch, seed: 1)
        let config = StepConfig(optimizer: OptimizerConfig(kind: .lars, lr: 0.01), tau: 0.99, bnViews: .separate)
        let recorded = Locked<[Int: Set<GEMMShape>]>([:])
        let arch = self.arch
        ThreadRanks(size: ranks).run { comm in
            let groups = SampleGroups(batch: batch, count: 5, ranks: ranks, rank: comm.rank)
            let t = FastTrainer(arch: arch, batch: batch, height: h, width: w, bnViews: .separate, threads: 2, groups: groups, comm: comm)
            t.load(state)
            let r = groups.localSamples, plane = 3 * h * w
            let shapes = GEMMRecorder.record {
                t.train(
                    view1: Array(v1[r.lowerBound * plane..<r.upperBound * plane]), view2: Array(v2[r.lowerBound * plane..<r.upperBound * plane]),
                    config: config)
            }
            recorded.mutate { $0[comm.rank] = shapes }
        }
        for rank in 0..<ranks {
            let plan = GEMMPlan.step(
                arch: arch, batch: batch, height: h, width: w, groups: SampleGroups(batch: batch, count: 5, ranks: ranks, rank: rank))
            #expect(recorded.value[rank] == plan, "rank \(rank)")
        }
        #expect(recorded.value[0] != recorded.value[2])
    }

    /// 300 images: one full batch of OpenBLASEngine.embedBatch and a padded one.
    @Test(arguments: [3, 300])
    func embedShapesAreTheRecordedOnes(images: Int) {
        var rng = CaseDraws(seed: 4)
        let engine = OpenBLASEngine(threads: 2)
        engine.load(Initializer.initialState(arch: arch, seed: 1))
        let x = NDArray(rng.tensor([images, 3, 8, 8], -2, 2))
        let recorded = GEMMRecorder.record { _ = engine.embed(x, network: "online") }
        #expect(recorded == GEMMPlan.embed(arch: arch, images: images, height: 8, width: 8))
    }

    @Test func knnShapesAreTheRecordedOnes() {
        var rng = CaseDraws(seed: 5)
        let engine = OpenBLASEngine(threads: 2)
        let (bank, queries, f) = (70, 300, 9)
        let b = NDArray(rng.tensor([bank, f], -1, 1)), q = NDArray(rng.tensor([queries, f], -1, 1))
        let recorded = GEMMRecorder.record {
            _ = engine.knn(bank: b, bankLabels: (0..<bank).map { Int64($0 % 3) }, queries: q, queryLabels: nil, k: 5, temperature: 0.1, classes: 3)
        }
        #expect(recorded == GEMMPlan.knn(bank: bank, queries: queries, features: f))
    }
}

/// The exact sgemm check: passes on correct kernels, fails on a wrong value.
@Suite struct KernelCheckTests {
    let shapes: Set<GEMMShape> = [
        GEMMShape(m: 17, n: 300, k: 9), GEMMShape(transA: true, m: 64, n: 33, k: 1000),
        GEMMShape(transB: true, m: 130, n: 27, k: 20000), GEMMShape(transA: true, transB: true, m: 5, n: 7, k: 3),
        // Rows longer than the matrices, as in the convolutions' calls.
        GEMMShape(m: 9, n: 50, k: 7, ldb: 300, ldc: 200), GEMMShape(transA: true, m: 20, n: 30, k: 11, lda: 64)
    ]

    @Test func correctKernelsPassExactly() {
        let r = KernelCheck.run(shapes)
        #expect(r.passed, "\(r.failure ?? "")")
        #expect(r.shapes == 6)
        // All 17 rows x 37 sampled columns of 17 x 300 (16 first, 5 every 61st, 16 last),
        // all of 64 x 33, 34 sampled rows x 27 of 130 x 27, all of 5 x 7, 9 x 50, 20 x 30.
        #expect(r.entries == 17 * 37 + 64 * 33 + 34 * 27 + 5 * 7 + 9 * 50 + 20 * 30)
    }

    @Test func aWrongValueFailsNamingShapeAndIndex() {
        let r = KernelCheck.run(shapes, corrupt: true)
        #expect(!r.passed)
        // The corrupted entry is the first of the smallest shape (shapes run sorted).
        #expect(r.failure?.hasPrefix("sgemm TT 5x7x3: C[0, 0] = ") == true, "\(r.failure ?? "")")
    }

    /// Every sum of k products of inputs below 2^p stays an exact float32 integer.
    @Test(arguments: [1, 2, 3, 27, 64, 512, 4095, 4096, 16384, 1 << 20])
    func inputBitsKeepSumsExact(k: Int) {
        let p = KernelCheck.inputBits(k: k)
        #expect(p >= 1)
        #expect(Double(k) * Double(1 << p) * Double(1 << p) <= Double(1 << 24))
    }
}

/// Which kernel set replaces OpenBLAS's own choice, and when.
@Suite struct KernelSelectionTests {
    let intel512 = CPUFeatures(vendor: .intel, family: 6, model: 207, avx2: true, avx512: true)
    let amd512 = CPUFeatures(vendor: .amd, family: 26, model: 2, avx2: true, avx512: true)
    let amd2 = CPUFeatures(vendor: .amd, family: 23, model: 49, avx2: true, avx512: false)
    let intel2 = CPUFeatures(vendor: .intel, family: 6, model: 63, avx2: true, avx512: false)
    let old = CPUFeatures(vendor: .intel, family: 6, model: 42, avx2: false, avx512: false)

    @Test func lowerTierSetsAreReplaced() {
        #expect(KernelSelection.replacement(loaded: "Prescott", cpu: intel512) == "SkylakeX")
        #expect(KernelSelection.replacement(loaded: "Haswell", cpu: intel512) == "SkylakeX")
        #expect(KernelSelection.replacement(loaded: "Sandybridge", cpu: amd2) == "Zen")
        #expect(KernelSelection.replacement(loaded: "Prescott", cpu: intel2) == "Haswell")
        #expect(KernelSelection.replacement(loaded: "prescott", cpu: amd512) == "SkylakeX")
    }

    @Test func bestOrUnknownSetsAreKept() {
        #expect(KernelSelection.replacement(loaded: "Cooperlake", cpu: amd512) == nil)
        #expect(KernelSelection.replacement(loaded: "SkylakeX", cpu: intel512) == nil)
        #expect(KernelSelection.replacement(loaded: "Zen", cpu: amd2) == nil)
        #expect(KernelSelection.replacement(loaded: "Haswell", cpu: amd2) == nil)
        // No AVX2: OpenBLAS's choice stands. Names this table does not know stand too.
        #expect(KernelSelection.replacement(loaded: "Prescott", cpu: old) == nil)
        #expect(KernelSelection.replacement(loaded: "NeoverseN1", cpu: intel512) == nil)
        #expect(KernelSelection.replacement(loaded: "Zen5", cpu: amd512) == nil)
    }

    /// The detected CPU is consistent with itself (AVX-512 implies AVX2) and with the
    /// kernels OpenBLAS loaded: those run here, so their tier is at most the CPU's.
    @Test func detectionAgreesWithTheLoadedKernels() {
        let cpu = CPUFeatures.detect()
        #expect(!cpu.avx512 || cpu.avx2)
        if let loaded = KernelSelection.tier(ofCore: KernelSelection.loadedCore), loaded >= .avx2 {
            #expect(cpu.avx2, "OpenBLAS runs \(KernelSelection.loadedCore) on \(cpu.summary)")
            if loaded == .avx512 { #expect(cpu.avx512) }
        }
    }
}
