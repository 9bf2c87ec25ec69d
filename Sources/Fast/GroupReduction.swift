import BYOLModel
import Foundation

/// Sums over the sample groups of a training step, on one process or across the ranks
/// of a run: every sum a step makes over samples goes through here, so its order is
/// fixed by the groups (`SampleGroups`) and never by the number of processes.
///
/// - Small sums (BN statistics and gradient sums, bias gradients, the loss) are float64
///   partials per group added by `ReductionTree`: a rank evaluates its blocks, every
///   rank gathers all block sums and evaluates the nodes above them.
/// - Weight gradients are float32 partials per group added by the same tree: a rank
///   evaluates its blocks (the largest tree nodes inside its groups), then the ranks
///   exchange block sums slice by slice (rank d evaluates the nodes above the blocks for
///   the d-th slice of the elements) and gather the slices.
final class GroupReduction {
    let groups: SampleGroups
    let comm: Collective
    let tree: ReductionTree
    /// Each rank's blocks, left to right; `blocks` is this rank's.
    let blocksByRank: [[Range<Int>]]
    var blocks: [Range<Int>] { blocksByRank[groups.rank] }
    let pool: WorkerPool
    /// Wall seconds spent in exchanges (gathers, the block exchange) since the last reset:
    /// the communication share `bench` and pretraining report.
    var exchangeSeconds = 0.0

    /// Whether the nodes above the blocks pair the ranks as recursive doubling does: P a
    /// power of two, one block per rank, and at each level k the blocks of ranks r and
    /// r ^ 2^k (for r with bit k clear) siblings whose parent is the next level's node.
    /// Then small sums take log2 P exchanges of one block each instead of a gather of
    /// every block (the tree, and so the bytes, are the same).
    let doubling: Bool

    init(groups: SampleGroups, comm: Collective, pool: WorkerPool) {
        precondition(comm.size == groups.ranks && comm.rank == groups.rank, "sample groups made for another communicator")
        self.groups = groups
        self.comm = comm
        self.pool = pool
        let tree = ReductionTree(leaves: groups.count)
        self.tree = tree
        blocksByRank = (0..<groups.ranks).map { tree.blocks(inside: groups.groups(ofRank: $0)) }
        doubling = Self.pairsForDoubling(blocksByRank)
    }

    static func pairsForDoubling(_ blocksByRank: [[Range<Int>]]) -> Bool {
        let p = blocksByRank.count
        guard p > 1, p & (p - 1) == 0, blocksByRank.allSatisfy({ $0.count == 1 }) else { return false }
        var nodes = blocksByRank.map { $0[0] }
        while nodes.count > 1 {
            var parents: [Range<Int>] = []
            for i in stride(from: 0, to: nodes.count, by: 2) {
                let parent = nodes[i].lowerBound..<nodes[i + 1].upperBound
                guard nodes[i].upperBound == nodes[i + 1].lowerBound, ReductionTree.split(parent) == (nodes[i], nodes[i + 1]) else { return false }
                parents.append(parent)
            }
            nodes = parents
        }
        return true
    }

    private func timed<T>(_ body: () -> T) -> T {
        let t0 = DispatchTime.now().uptimeNanoseconds
        defer { exchangeSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 }
        return body()
    }

    // MARK: Small sums

    /// local [localGroups, n] (this rank's groups in order) -> [n]: each element the sum
    /// over all groups by the reduction tree, in float64. Each rank evaluates its blocks;
    /// the ranks gather the block sums (n values each) and evaluate the nodes above.
    func fold(_ local: [Double], n: Int) -> [Double] {
        // The sum of `node`'s values, from `leaf(g)` for its groups, or from `parts`.
        func evaluate(_ node: Range<Int>, parts: [Range<Int>], part: (Int) -> ArraySlice<Double>) -> [Double] {
            if let i = parts.firstIndex(of: node) { return Array(part(i)) }
            let (l, r) = ReductionTree.split(node)
            var a = evaluate(l, parts: parts, part: part)
            let b = evaluate(r, parts: parts, part: part)
            for i in 0..<n { a[i] += b[i] }
            return a
        }
        let leaves = groups.local.map { $0..<($0 + 1) }
        var mine = blocks.flatMap { b in
            evaluate(b, parts: leaves) { local[($0 * n)..<(($0 + 1) * n)] }
        }
        if groups.ranks == 1 { return mine }
        if doubling {
            // Step k: ranks r and r ^ 2^k hold sibling nodes; both form their parent.
            var theirs = [Double](repeating: 0, count: n)
            var k = 1
            while k < groups.ranks {
                timed {
                    mine.withUnsafeBufferPointer { m in theirs.withUnsafeMutableBufferPointer { comm.exchange(m, with: groups.rank ^ k, into: $0) } }
                }
                // (Addition is commutative in IEEE arithmetic: left + right either way.)
                for i in 0..<n { mine[i] += theirs[i] }
                k <<= 1
            }
            return mine
        }
        let all = blocksByRank.flatMap { $0 }
        var sums = [Double](repeating: 0, count: all.count * n)
        timed {
            mine.withUnsafeBufferPointer { m in
                sums.withUnsafeMutableBufferPointer { comm.allgather(m, counts: blocksByRank.map { $0.count * n }, into: $0) }
            }
        }
        return evaluate(tree.root, parts: all) { sums[($0 * n)..<(($0 + 1) * n)] }
    }

    // MARK: Weight gradients

    /// Adds per-group partials `slot(j)` (local group j, `count` floats each) into this
    /// rank's block sums: block b's sum ends in `slot(result[b])`. Slots are overwritten.
    func reduceBlocks(count: Int, slot: (Int) -> UnsafeMutablePointer<Float>) -> [Int] {
        let first = groups.local.lowerBound
        let leaves = groups.local.map { $0..<($0 + 1) }
        var plan: [(Int, Int)] = []
        var results: [Int] = []
        for b in blocks {
            let parts = Array(leaves[(b.lowerBound - first)..<(b.upperBound - first)])
            plan += ReductionTree.additions(b, parts: parts).map { ($0.into + b.lowerBound - first, $0.add + b.lowerBound - first) }
            results.append(b.lowerBound - first)
        }
        guard !plan.isEmpty else { return results }
        let slots = (0..<leaves.count).map(slot)
        let ranges = WorkerPool.split(count, parts: 16)
        pool.run(chunks: ranges.count) { ri, _ in
            for (into, add) in plan {
                let a = slots[into], b = slots[add]
                for i in ranges[ri] { a[i] += b[i] }
            }
        }
        return results
    }

    /// Buffers of `combine`, kept from step to step (hundreds of MB for resnet18).
    private var sendBuffer: [Float] = [], recvBuffer: [Float] = [], rootBuffer: [Float] = []

    /// The tree's root for every element of the gradient stores, from every rank's block
    /// sums: `blockSums[b]` holds this rank's block b (`count` floats, the stores'
    /// layout); `write` receives the roots of all `count` elements.
    func combine(blockSums: [UnsafePointer<Float>], count: Int, write: (UnsafeBufferPointer<Float>) -> Void) {
        let p = groups.ranks, me = groups.rank
        precondition(blockSums.count == blocks.count)
        let slices = (0..<p).map { ($0 * count / p)..<(($0 + 1) * count / p) }
        let nb = blocks.count
        // Send to rank d: my blocks' d-th slices, block after block.
        let sendCounts = slices.map { nb * $0.count }
        let sendOffsets = sendCounts.indices.map { d in sendCounts[0..<d].reduce(0, +) }
        let len = slices[me].count
        let recvCounts = blocksByRank.map { $0.count * len }
        let recvOffsets = recvCounts.indices.map { recvCounts[0..<$0].reduce(0, +) }
        if sendBuffer.count < nb * count { sendBuffer = [Float](repeating: 0, count: nb * count) }
        if recvBuffer.count < recvCounts.reduce(0, +) { recvBuffer = [Float](repeating: 0, count: recvCounts.reduce(0, +)) }
        if rootBuffer.count < count { rootBuffer = [Float](repeating: 0, count: count) }
        sendBuffer.withUnsafeMutableBufferPointer { sb in
            let base = sb.baseAddress!
            pool.run(chunks: p * nb) { t, _ in
                let (d, b) = (t / nb, t % nb)
                (base + sendOffsets[d] + b * slices[d].count).update(from: blockSums[b] + slices[d].lowerBound, count: slices[d].count)
            }
        }
        timed {
            sendBuffer.withUnsafeBufferPointer { s in
                recvBuffer.withUnsafeMutableBufferPointer { r in
                    comm.alltoall(s, sendCounts: sendCounts, sendOffsets: sendOffsets, into: r, recvCounts: recvCounts, recvOffsets: recvOffsets)
                }
            }
        }
        // Part i (every rank's blocks, left to right) is recv[i * len ..< (i + 1) * len].
        let plan = ReductionTree.additions(tree.root, parts: blocksByRank.flatMap { $0 })
        recvBuffer.withUnsafeMutableBufferPointer { r in
            let base = r.baseAddress!
            let ranges = WorkerPool.split(len, parts: 16)
            pool.run(chunks: ranges.count) { ri, _ in
                for (into, add) in plan {
                    let a = base + into * len, b = base + add * len
                    for i in ranges[ri] { a[i] += b[i] }
                }
            }
        }
        // The root's slice is part 0's (the leftmost part).
        timed {
            recvBuffer.withUnsafeBufferPointer { r in
                rootBuffer.withUnsafeMutableBufferPointer {
                    comm.allgather(
                        UnsafeBufferPointer(rebasing: r[0..<len]), counts: slices.map(\.count),
                        into: UnsafeMutableBufferPointer(rebasing: $0[0..<count]))
                }
            }
        }
        rootBuffer.withUnsafeBufferPointer { write(UnsafeBufferPointer(rebasing: $0[0..<count])) }
    }
}

/// The weight gradients a step adds over sample groups (convolution and linear
/// weights), one store per block of this process's reduction (`GroupReduction`): on one
/// process a single block, the tree's root, written straight into the gradients.
final class GradientBlocks {
    let stores: [ParamStore]
    let specs: [ParamSpec]

    /// `count` blocks; `root`: the one block is the whole tree (a single process).
    init(count: Int, root: Bool, specs learnable: [ParamSpec], grads: ParamStore) {
        precondition(!root || count == 1)
        let weights = learnable.filter { $0.kind == .convWeight || $0.kind == .linearWeight }
        specs = weights
        stores = root ? [grads] : (0..<count).map { _ in ParamStore(specs: weights) }
    }

    /// Where the layer computing `name`'s gradient puts each block's sum.
    func targets(_ name: String) -> [UnsafeMutablePointer<Float>] { stores.map { $0.ptr(name) } }

    /// Copies the whole roots (the stores' layout) into the gradients.
    func write(_ all: UnsafeBufferPointer<Float>, into grads: ParamStore) {
        let layout = stores[0]
        for s in specs { grads.ptr(s.name).update(from: all.baseAddress! + (layout.offsets[s.name] ?? 0), count: s.count) }
    }
}
