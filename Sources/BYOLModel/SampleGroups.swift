/// The batch's sample groups: the unit of work of a training step and of every sum over
/// samples in it. The batch's N samples are split into `count` contiguous groups (sizes
/// differing by at most one); a group holds both views of its samples. With P processes
/// (`mpirun -np P`), rank r computes the contiguous groups `local`; every sum over
/// samples is a sum of per-group partial sums in an order fixed by the groups alone
/// (`ReductionTree`, for weight gradients, BN sums and the loss alike), so the
/// bytes of a step depend on N and `count`, never on P or the thread count.
public struct SampleGroups: Equatable, Sendable, CustomStringConvertible {
    public let batch: Int
    public let count: Int
    public let ranks: Int, rank: Int

    /// Groups of at least 16 samples, at most 16 of them (a share for each of 16 ranks):
    /// a group's GEMMs cover its images only, and smaller groups make them slower
    /// (resnet18, batch 64, 2 threads: 35.5 images/s in 4 groups, 32.2 in 16). A run
    /// wanting more processes than that asks for more groups (`--sample-groups`).
    public static func defaultCount(batch: Int) -> Int { min(16, max(1, batch / 16)) }

    public init(batch: Int, count: Int? = nil, ranks: Int = 1, rank: Int = 0) {
        let c = count ?? Self.defaultCount(batch: batch)
        precondition(batch >= 1 && c >= 1 && c <= batch, "sample groups: \(c) for a batch of \(batch)")
        precondition(ranks >= 1 && ranks <= c && rank >= 0 && rank < ranks, "\(ranks) ranks for \(c) sample groups")
        (self.batch, self.count, self.ranks, self.rank) = (batch, c, ranks, rank)
    }

    /// The samples of group g.
    public func samples(_ g: Int) -> Range<Int> { (g * batch / count)..<((g + 1) * batch / count) }

    /// The groups rank r computes.
    public func groups(ofRank r: Int) -> Range<Int> { (r * count / ranks)..<((r + 1) * count / ranks) }

    /// This process's groups, and the samples they hold (contiguous).
    public var local: Range<Int> { groups(ofRank: rank) }
    public var localSamples: Range<Int> { samples(local.lowerBound).lowerBound..<samples(local.upperBound - 1).upperBound }

    public var description: String { "\(count) sample groups of \(batch / count)\(batch % count == 0 ? "" : "-\(batch / count + 1)")" }
}
