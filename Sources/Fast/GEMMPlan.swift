import BYOLModel
import Foundation

/// One sgemm call's geometry: C [m, n] = op(A) [m, k] x op(B) [k, n], row-major, with
/// the leading dimensions (row strides) of A, B and C as stored.
public struct GEMMShape: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var transA: Bool, transB: Bool
    public var m: Int, n: Int, k: Int
    public var lda: Int, ldb: Int, ldc: Int

    /// Leading dimensions default to packed storage (a row is as long as the matrix is wide).
    public init(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, lda: Int? = nil, ldb: Int? = nil, ldc: Int? = nil) {
        (self.transA, self.transB, self.m, self.n, self.k) = (transA, transB, m, n, k)
        self.lda = lda ?? (transA ? m : k)
        self.ldb = ldb ?? (transB ? k : n)
        self.ldc = ldc ?? n
    }

    public static func < (a: GEMMShape, b: GEMMShape) -> Bool {
        [a.m, a.n, a.k, a.transA ? 1 : 0, a.transB ? 1 : 0, a.lda, a.ldb, a.ldc]
            .lexicographicallyPrecedes([b.m, b.n, b.k, b.transA ? 1 : 0, b.transB ? 1 : 0, b.lda, b.ldb, b.ldc])
    }

    /// "NT 64x27x8192 lda 131072": op(A), op(B), m x n x k, and any unpacked leading dimension.
    public var description: String {
        let packed = GEMMShape(transA: transA, transB: transB, m: m, n: n, k: k)
        return "\(transA ? "T" : "N")\(transB ? "T" : "N") \(m)x\(n)x\(k)" + (lda != packed.lda ? " lda \(lda)" : "")
            + (ldb != packed.ldb ? " ldb \(ldb)" : "") + (ldc != packed.ldc ? " ldc \(ldc)" : "")
    }
}

/// The sgemm shapes the float32 path calls, derived from the same geometry the
/// convolutions, linear layers and kNN use (a test records the calls of real steps,
/// embeds and votes and compares). The kernel check runs exactly these.
public enum GEMMPlan {
    /// A training step on `batch` pairs of views of height x width, by the process
    /// computing `groups` (default: all of the batch's default groups).
    public static func step(arch: Architecture, batch: Int, height: Int, width: Int, groups: SampleGroups? = nil) -> Set<GEMMShape> {
        let g = groups ?? SampleGroups(batch: batch)
        // BN batches do not change GEMM shapes.
        return network(arch: arch, seg: Segments(groups: g, bnBatches: 1), height: height, width: width, training: true)
    }

    /// Embedding `images` images (the engine's batching: at most OpenBLASEngine.embedBatch at once).
    public static func embed(arch: Architecture, images: Int, height: Int, width: Int) -> Set<GEMMShape> {
        network(arch: arch, seg: Segments(images: min(max(images, 1), OpenBLASEngine.embedBatch)), height: height, width: width, training: false)
    }

    /// The kNN vote of `queries` against a bank of `bank` features of `features` each.
    public static func knn(bank: Int, queries: Int, features: Int) -> Set<GEMMShape> {
        Set(FastKNN.queryBlocks(queries).map { GEMMShape(transB: true, m: $0.count, n: bank, k: features) })
    }

    static func network(arch: Architecture, seg: Segments, height: Int, width: Int, training: Bool) -> Set<GEMMShape> {
        var out = Set<GEMMShape>()
        for (i, s) in FastNetwork.convShapes(arch: arch, height: height, width: width).enumerated() {
            // The stem's input gradient is never needed.
            out.formUnion(conv(s, seg: seg, training: training, dx: i > 0))
        }
        let heads = [(arch.featureSize, arch.projHidden, arch.projOut), (arch.projOut, arch.predHidden, arch.projOut)]
        if training {
            for (inF, hidden, outF) in heads {
                out.formUnion(linear(inF: inF, outF: hidden, seg: seg, training: true))
                out.formUnion(linear(inF: hidden, outF: outF, seg: seg, training: true))
            }
        }
        return out
    }

    static func conv(_ s: ConvShape, seg: Segments, training: Bool, dx: Bool) -> Set<GEMMShape> {
        var out = Set<GEMMShape>()
        let nTotal = seg.images
        if Winograd.applies(s) {
            for g in Winograd.groups(seg, s).ranges {
                let t = g.count * Winograd.tilesPerImage(s)
                out.insert(GEMMShape(m: s.k, n: t, k: s.c))
                if training { out.insert(GEMMShape(transB: true, m: s.k, n: s.c, k: t)) }
                if training && dx { out.insert(GEMMShape(m: s.c, n: t, k: s.k)) }
            }
            return out
        }
        let hw = s.ho * s.wo
        let direct = s.r == 1 && s.stride == 1 && s.pad == 0
        for g in FastConv.groups(seg, s).ranges {
            // Activations are [channels, nTotal * hw]: a group's columns are a slice of rows that long.
            let cols = g.count * hw, row = nTotal * hw
            out.insert(direct ? GEMMShape(m: s.k, n: cols, k: s.c, ldb: row, ldc: row) : GEMMShape(m: s.k, n: cols, k: s.crr, ldc: row))
            if training { out.insert(GEMMShape(transB: true, m: s.k, n: s.crr, k: cols, lda: row)) }
            if training && dx { out.insert(GEMMShape(transA: true, m: s.crr, n: cols, k: s.k, ldb: row)) }
        }
        return out
    }

    /// One GEMM per row block and segment; activations are [features, cols] (rows cols long).
    static func linear(inF: Int, outF: Int, seg: Segments, training: Bool) -> Set<GEMMShape> {
        var out = Set<GEMMShape>()
        let cols = seg.images
        for sr in seg.ranges {
            for r in FastLinear.rowBlocks(outF) {
                out.insert(GEMMShape(m: r.count, n: sr.count, k: inF, ldb: cols, ldc: cols))
                if training { out.insert(GEMMShape(transB: true, m: r.count, n: inF, k: sr.count, lda: cols, ldb: cols)) }
            }
            // The input gradient reads a column block of w [O, I]: rows I long.
            if training {
                for r in FastLinear.rowBlocks(inF) {
                    out.insert(GEMMShape(transA: true, m: r.count, n: sr.count, k: outF, lda: inF, ldb: cols, ldc: cols))
                }
            }
        }
        return out
    }
}

/// Records the shapes of the sgemm calls that one piece of code makes (tests compare
/// GEMMPlan with it). Other code calling sgemm at the same time (tests run in
/// parallel) is not recorded: the recording belongs to the calling thread, and the
/// worker pool hands it to its workers for the chunks it runs on that thread's behalf.
public enum GEMMRecorder {
    final class Recording: @unchecked Sendable {
        var shapes = Set<GEMMShape>()
        let lock = NSLock()
    }
    /// Recordings in progress, anywhere: the one check sgemm makes when none is.
    nonisolated(unsafe) static var active = 0
    static let lock = NSLock()
    static let key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k, nil)
        return k
    }()

    /// This thread's recording, if any.
    static var current: Recording? {
        get { pthread_getspecific(key).map { Unmanaged<Recording>.fromOpaque($0).takeUnretainedValue() } }
        set { pthread_setspecific(key, newValue.map { Unmanaged.passUnretained($0).toOpaque() }) }
    }

    /// The shapes `body` calls sgemm with.
    public static func record(_ body: () -> Void) -> Set<GEMMShape> {
        let r = Recording()
        lock.lock()
        active += 1
        lock.unlock()
        let outer = current
        current = r
        body()
        current = outer
        lock.lock()
        active -= 1
        lock.unlock()
        return r.shapes
    }

    /// Runs `body` on this thread under `recording` (a worker running a chunk for a
    /// recording caller).
    @inline(__always)
    static func on(_ recording: Recording?, _ body: () -> Void) {
        guard let recording else { return body() }
        let outer = current
        current = recording
        body()
        current = outer
    }

    static func add(_ s: GEMMShape) {
        guard let r = current else { return }
        r.lock.lock()
        r.shapes.insert(s)
        r.lock.unlock()
    }
}
