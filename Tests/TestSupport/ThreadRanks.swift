import BYOLModel
import Foundation

/// P ranks as threads of one process, moving data through shared memory as MPI would:
/// the reduction's independence of P, tested without mpirun (ci/mpi runs the real one).
public final class ThreadRanks: @unchecked Sendable {
    public let size: Int
    private let cond = NSCondition()
    private var arrived = 0, generation = 0
    /// What each rank offers in the current exchange.
    var offered: [UnsafeRawPointer?]
    var offsets: [[Int]]
    var values: [Int64]

    public init(size: Int) {
        self.size = size
        offered = Array(repeating: nil, count: size)
        offsets = Array(repeating: [], count: size)
        values = Array(repeating: 0, count: size)
    }

    func barrier() {
        cond.lock()
        let g = generation
        arrived += 1
        if arrived == size {
            arrived = 0
            generation += 1
            cond.broadcast()
        } else {
            while g == generation { cond.wait() }
        }
        cond.unlock()
    }

    /// Runs body(rank's collective) on `size` threads and waits for all.
    public func run(_ body: @escaping @Sendable (ThreadRank) -> Void) {
        let done = DispatchGroup()
        for r in 0..<size {
            done.enter()
            Thread.detachNewThread { [self] in
                body(ThreadRank(group: self, rank: r))
                done.leave()
            }
        }
        done.wait()
    }
}

public final class ThreadRank: Collective, @unchecked Sendable {
    let group: ThreadRanks
    public let rank: Int
    public var size: Int { group.size }

    init(group: ThreadRanks, rank: Int) { (self.group, self.rank) = (group, rank) }

    private func gather<T>(_ mine: UnsafeBufferPointer<T>, counts: [Int], into out: UnsafeMutableBufferPointer<T>) {
        group.offered[rank] = UnsafeRawPointer(mine.baseAddress)
        group.barrier()
        var o = 0
        for r in 0..<size {
            if counts[r] > 0 { (out.baseAddress! + o).update(from: group.offered[r]!.assumingMemoryBound(to: T.self), count: counts[r]) }
            o += counts[r]
        }
        group.barrier()
    }

    public func allgather(_ mine: UnsafeBufferPointer<Double>, counts: [Int], into out: UnsafeMutableBufferPointer<Double>) {
        gather(mine, counts: counts, into: out)
    }

    public func allgather(_ mine: UnsafeBufferPointer<Float>, counts: [Int], into out: UnsafeMutableBufferPointer<Float>) {
        gather(mine, counts: counts, into: out)
    }

    public func alltoall(
        _ send: UnsafeBufferPointer<Float>, sendCounts: [Int], sendOffsets: [Int],
        into recv: UnsafeMutableBufferPointer<Float>, recvCounts: [Int], recvOffsets: [Int]
    ) {
        group.offered[rank] = UnsafeRawPointer(send.baseAddress)
        group.offsets[rank] = sendOffsets
        group.barrier()
        for s in 0..<size where recvCounts[s] > 0 {
            let src = group.offered[s]!.assumingMemoryBound(to: Float.self) + group.offsets[s][rank]
            (recv.baseAddress! + recvOffsets[s]).update(from: src, count: recvCounts[s])
        }
        group.barrier()
    }

    public func exchange(_ mine: UnsafeBufferPointer<Double>, with partner: Int, into theirs: UnsafeMutableBufferPointer<Double>) {
        // Every rank exchanges at the same time (recursive doubling pairs them all).
        group.offered[rank] = UnsafeRawPointer(mine.baseAddress)
        group.barrier()
        theirs.baseAddress!.update(from: group.offered[partner]!.assumingMemoryBound(to: Double.self), count: mine.count)
        group.barrier()
    }

    public func broadcast(_ bytes: [UInt8]) -> [UInt8] {
        let out = bytes.withUnsafeBufferPointer { b -> [UInt8] in
            group.offered[rank] = UnsafeRawPointer(b.baseAddress)
            group.values[rank] = Int64(b.count)
            group.barrier()
            let n = Int(group.values[0])
            let copy = Array(UnsafeBufferPointer(start: group.offered[0]!.assumingMemoryBound(to: UInt8.self), count: n))
            group.barrier()
            return copy
        }
        return out
    }

    public func max(_ value: Int64) -> Int64 {
        group.values[rank] = value
        group.barrier()
        let m = group.values.max()!
        group.barrier()
        return m
    }
}

/// A value shared by threads.
public final class Locked<T>: @unchecked Sendable {
    private var v: T
    private let lock = NSLock()
    public init(_ v: T) { self.v = v }
    public var value: T {
        lock.lock()
        defer { lock.unlock() }
        return v
    }
    public func mutate(_ f: (inout T) -> Void) {
        lock.lock()
        f(&v)
        lock.unlock()
    }
}
