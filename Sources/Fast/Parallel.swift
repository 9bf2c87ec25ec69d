import CBLAS
import Foundation

/// A fixed number of workers running a fixed set of chunks. Which worker runs a chunk
/// never changes what the chunk computes, so results do not depend on `workers`.
public struct WorkerPool: Sendable {
    public let workers: Int

    public init(workers: Int) {
        precondition(workers > 0)
        self.workers = workers
        // OpenBLAS's own threads would change bits with the thread count and fight our
        // workers for the cores.
        openblas_set_num_threads(1)
    }

    /// Runs body(chunk, worker) for chunk in 0..<chunks; worker in 0..<workers owns
    /// chunks worker, worker + workers, ... (so per-worker scratch is safe).
    public func run(chunks: Int, _ body: (_ chunk: Int, _ worker: Int) -> Void) {
        let profile = PhaseProfile.shared
        if profile.enabled && chunks > 0 {
            // Each chunk timed on its own (bench --profile): the parallelism bound.
            let durations = UnsafeMutableBufferPointer<Double>.allocate(capacity: chunks)
            defer { durations.deallocate() }
            let t0 = DispatchTime.now().uptimeNanoseconds
            schedule(chunks: chunks) { c, worker in
                let s = DispatchTime.now().uptimeNanoseconds
                body(c, worker)
                durations[c] = Double(DispatchTime.now().uptimeNanoseconds - s) / 1e9
            }
            profile.recordRun(UnsafeBufferPointer(durations), wall: Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            return
        }
        schedule(chunks: chunks, body)
    }

    private func schedule(chunks: Int, _ body: (_ chunk: Int, _ worker: Int) -> Void) {
        if workers == 1 || chunks <= 1 {
            for c in 0..<chunks { body(c, 0) }
            return
        }
        let w = min(workers, chunks)
        let recording = GEMMRecorder.active > 0 ? GEMMRecorder.current : nil
        DispatchQueue.concurrentPerform(iterations: w) { worker in
            GEMMRecorder.on(recording) {
                var c = worker
                while c < chunks {
                    body(c, worker)
                    c += w
                }
            }
        }
    }

    /// Splits 0..<n into `parts` contiguous ranges whose sizes differ by at most one.
    public static func split(_ n: Int, parts: Int) -> [Range<Int>] {
        let p = max(1, min(parts, n))
        return (0..<p).map { i in (i * n / p)..<((i + 1) * n / p) }
    }
}

/// Row-major single-precision GEMM: C = alpha op(A) op(B) + beta C.
@inline(__always)
func sgemm(
    transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    guard m > 0, n > 0 else { return }
    if GEMMRecorder.active > 0 { GEMMRecorder.add(GEMMShape(transA: transA, transB: transB, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc)) }
    if k == 0 {
        if beta == 0 { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
        return
    }
    cblas_sgemm(
        CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// A float buffer allocated once and reused; contents are not zeroed on reuse.
public final class FloatBuffer: @unchecked Sendable {
    public private(set) var pointer: UnsafeMutablePointer<Float>
    public private(set) var capacity: Int

    public init(_ count: Int) {
        capacity = max(count, 1)
        pointer = .allocate(capacity: capacity)
        pointer.initialize(repeating: 0, count: capacity)
    }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: capacity) }

    deinit { pointer.deallocate() }
}
