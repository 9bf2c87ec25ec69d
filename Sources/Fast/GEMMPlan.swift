import BYOLModel
import Foundation

/// One sgemm call's geometry: C [m, n] = op(A) [m, k] x op(B) [k, n], row-major.
public struct GEMMShape: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var transA: Bool, transB: Bool
    public var m: Int, n: Int, k: Int

    public init(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int) {
        (self.transA, self.transB, self.m, self.n, self.k) = (transA, transB, m, n, k)
    }

    public static func < (a: GEMMShape, b: GEMMShape) -> Bool {
        (a.m, a.n, a.k, a.transA ? 1 : 0, a.transB ? 1 : 0) < (b.m, b.n, b.k, b.transA ? 1 : 0, b.transB ? 1 : 0)
    }

    /// "NT 64x27x8192": op(A), op(B), then m x n x k.
    public var description: String { "\(transA ? "T" : "N")\(transB ? "T" : "N") \(m)x\(n)x\(k)" }
}

/// The sgemm shapes the float32 path calls, derived from the same geometry the
/// convolutions, linear layers and kNN use (a test records the calls of real steps,
/// embeds and votes and compares). The kernel check runs exactly these.
public enum GEMMPlan {
    /// A training step on `batch` pairs of views of height x width.
    public static func step(arch: Architecture, batch: Int, height: Int, width: Int) -> Set<GEMMShape> {
        network(arch: arch, nTotal: 2 * batch, height: height, width: width, training: true)
    }

    /// Embedding `images` images (the engine's batching: at most OpenBLASEngine.embedBatch at once).
    public static func embed(arch: Architecture, images: Int, height: Int, width: Int) -> Set<GEMMShape> {
        network(arch: arch, nTotal: min(max(images, 1), OpenBLASEngine.embedBatch), height: height, width: width, training: false)
    }

    /// The kNN vote of `queries` against a bank of `bank` features of `features` each.
    public static func knn(bank: Int, queries: Int, features: Int) -> Set<GEMMShape> {
        Set(FastKNN.queryBlocks(queries).map { GEMMShape(transB: true, m: $0.count, n: bank, k: features) })
    }

    static func network(arch: Architecture, nTotal: Int, height: Int, width: Int, training: Bool) -> Set<GEMMShape> {
        var out = Set<GEMMShape>()
        let groups = FastNetwork.convGroups(nTotal)
        for (i, s) in FastNetwork.convShapes(arch: arch, height: height, width: width).enumerated() {
            // The stem's input gradient is never needed.
            out.formUnion(conv(s, nTotal: nTotal, groups: groups, training: training, dx: i > 0))
        }
        let heads = [(arch.featureSize, arch.projHidden, arch.projOut), (arch.projOut, arch.predHidden, arch.projOut)]
        if training {
            for (inF, hidden, outF) in heads {
                out.formUnion(linear(inF: inF, outF: hidden, cols: nTotal, training: true))
                out.formUnion(linear(inF: hidden, outF: outF, cols: nTotal, training: true))
            }
        }
        return out
    }

    static func conv(_ s: ConvShape, nTotal: Int, groups: [Range<Int>], training: Bool, dx: Bool) -> Set<GEMMShape> {
        var out = Set<GEMMShape>()
        if Winograd.applies(s) {
            for g in Winograd.groups(nTotal: nTotal, s) {
                let t = g.count * Winograd.tilesPerImage(s)
                out.insert(GEMMShape(m: s.k, n: t, k: s.c))
                if training { out.insert(GEMMShape(transB: true, m: s.k, n: s.c, k: t)) }
                if training && dx { out.insert(GEMMShape(m: s.c, n: t, k: s.k)) }
            }
            return out
        }
        let hw = s.ho * s.wo
        for g in groups {
            let cols = g.count * hw
            out.insert(GEMMShape(m: s.k, n: cols, k: s.crr))
            if training { out.insert(GEMMShape(transB: true, m: s.k, n: s.crr, k: cols)) }
            if training && dx { out.insert(GEMMShape(transA: true, m: s.crr, n: cols, k: s.k)) }
        }
        return out
    }

    static func linear(inF: Int, outF: Int, cols: Int, training: Bool) -> Set<GEMMShape> {
        var out = Set<GEMMShape>()
        for r in FastLinear.rowBlocks(outF) {
            out.insert(GEMMShape(m: r.count, n: cols, k: inF))
            if training { out.insert(GEMMShape(transB: true, m: r.count, n: inF, k: cols)) }
        }
        if training { for r in FastLinear.rowBlocks(inF) { out.insert(GEMMShape(transA: true, m: r.count, n: cols, k: outF)) } }
        return out
    }
}

/// Records the shape of every sgemm call while on (tests compare GEMMPlan with it).
public enum GEMMRecorder {
    nonisolated(unsafe) static var isOn = false
    nonisolated(unsafe) static var shapes = Set<GEMMShape>()
    static let lock = NSLock()

    /// The shapes `body` calls sgemm with.
    public static func record(_ body: () -> Void) -> Set<GEMMShape> {
        lock.lock(); shapes = []; isOn = true; lock.unlock()
        body()
        lock.lock(); defer { isOn = false; lock.unlock() }
        return shapes
    }

    static func add(_ s: GEMMShape) {
        lock.lock(); shapes.insert(s); lock.unlock()
    }
}
