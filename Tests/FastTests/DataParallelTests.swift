import BYOLModel
import Foundation
import NumPyIO
import TestSupport
import Testing
import Verification

@testable import Fast

/// Data-parallel steps (issue #17): P processes, each computing its sample groups, end
/// with the bytes of one process computing them all.
@Suite struct DataParallelTests {
    /// Two steps on P = 1 (no communicator), 2, 3, 4 and 5 ranks, LARS with separate BN
    /// and Adam with joint BN; 11 samples in 5 uneven groups (2 or 3 samples each). Small
    /// sums go by recursive doubling on 2 and 4 ranks, by gathering blocks on 3 and 5.
    @Test(arguments: [(OptimizerKind.lars, BNViews.separate), (.adam, .joint)])
    func stepsAreByteIdenticalForAnyNumberOfRanks(kind: OptimizerKind, bn: BNViews) throws {
        let arch = Architecture.preset(named: "tiny")!
        let (batch, size, count) = (11, 12, 5)
        var rng = CaseDraws(seed: 5)
        var views: [([Float], [Float])] = []
        for _ in 0..<2 {
            let v1: [Float] = rng.tensor([batch, 3, size, size], -2, 2).data.map(Float.init)
            let v2: [Float] = rng.tensor([batch, 3, size, size], -2, 2).data.map(Float.init)
            views.append((v1, v2))
        }
        let steps = views
        let state = Initializer.initialState(arch: arch, seed: 4)
        let config = StepConfig(optimizer: OptimizerConfig(kind: kind, lr: 0.05), tau: 0.99, bnViews: bn)
        let plane = 3 * size * size
        @Sendable func run(_ trainer: FastTrainer) throws -> ([UInt8], [Double]) {
            trainer.load(state)
            let r = trainer.groups.localSamples
            var losses: [Double] = []
            for (v1, v2) in steps {
                losses.append(
                    trainer.train(
                        view1: Array(v1[r.lowerBound * plane..<r.upperBound * plane]),
                        view2: Array(v2[r.lowerBound * plane..<r.upperBound * plane]), config: config))
            }
            return (try stepBytes(trainer), losses)
        }
        let single = try run(
            FastTrainer(
                arch: arch, batch: batch, height: size, width: size, bnViews: bn, threads: 2,
                groups: SampleGroups(batch: batch, count: count)))
        for p in [2, 3, 4, 5] {
            let ranks = ThreadRanks(size: p)
            let results = Locked<[Int: ([UInt8], [Double])]>([:])
            ranks.run { comm in
                let groups = SampleGroups(batch: batch, count: count, ranks: p, rank: comm.rank)
                let t = FastTrainer(arch: arch, batch: batch, height: size, width: size, bnViews: bn, threads: 1, groups: groups, comm: comm)
                let out = try! run(t)
                results.mutate { $0[comm.rank] = out }
            }
            for (rank, out) in results.value.sorted(by: { $0.key < $1.key }) {
                let same = out.0 == single.0  // (not inside #expect, which would print both files' bytes)
                #expect(same, "P = \(p), rank \(rank): state or gradients differ")
                #expect(out.1 == single.1, "P = \(p), rank \(rank): losses \(out.1) against \(single.1)")
            }
        }
    }

    /// Recursive doubling applies where the ranks' blocks pair up along the tree.
    @Test func doublingPairsRanksAlongTheTree() {
        func doubling(_ count: Int, _ ranks: Int) -> Bool {
            let tree = ReductionTree(leaves: count)
            let g = SampleGroups(batch: 64, count: count, ranks: ranks, rank: 0)
            return GroupReduction.pairsForDoubling((0..<ranks).map { tree.blocks(inside: g.groups(ofRank: $0)) })
        }
        #expect(doubling(5, 2) && doubling(5, 4) && doubling(16, 8) && doubling(16, 16) && doubling(12, 4) && doubling(7, 4))
        #expect(!doubling(5, 3) && !doubling(5, 5) && !doubling(16, 1) && !doubling(16, 6))
    }

    /// The tree's blocks: each rank's largest nodes inside its groups, together the leaves.
    @Test func treeBlocksCoverEachRanksGroups() {
        let tree = ReductionTree(leaves: 16)
        #expect(tree.blocks(inside: 0..<16) == [0..<16])
        #expect(tree.blocks(inside: 5..<10) == [5..<6, 6..<8, 8..<10])
        for p in 1...16 {
            let g = SampleGroups(batch: 64, count: 16, ranks: p, rank: 0)
            let all = (0..<p).flatMap { tree.blocks(inside: g.groups(ofRank: $0)) }
            #expect(all.map(\.count).reduce(0, +) == 16 && zip(all, all.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
        }
    }
}
