import BYOLModel
import Foundation
import NumPyIO
import Reference

/// linear: the op, its C calls and its randomized float32 implementation.
extension Ops {
    /// A fully connected layer with bias, forward and backward.
    static let linear =
        Op(
            name: "linear", inputs: ["x", "weight", "bias", "dy"], outputs: ["y", "dx", "dweight", "dbias"], params: [],
            abi: ["linear_forward", "linear_backward"], abiVersion: 1, kind: .layer,
            plugin: .init(f32: ConformancePlugin.linear, f64: ConformancePlugin.linear),
            compute: { e, c in e.linear(x: try c.x("x"), weight: try c.x("weight"), bias: try c.x("bias"), dy: try c.x("dy")) },
            errorModel: { v in
                let (i, e) = (v.inputs, v.expected)
                let r = MatrixProductErrors.linearBackward(
                    x: v.t(i, "x"), w: v.t(i, "weight"), dy: v.t(i, "dy"), dx: v.t(e, "dx"), dw: v.t(e, "dweight"),
                    db: v.d(e, "dbias"))
                return [
                    "y": MatrixProductErrors.linearForward(x: v.t(i, "x"), w: v.t(i, "weight"), b: v.d(i, "bias"), y: v.t(e, "y")), "dx": r.dx,
                    "dweight": r.dw, "dbias": r.db
                ]
            },
            samples: { rng in
                let x = rng.tensor([6, 20]), w = rng.tensor([9, 20], -0.3, 0.3), b = rng.tensor([9]), dy = rng.tensor([6, 9])
                return [OpSample("linear", [("x", x), ("weight", w), ("bias", b), ("dy", dy)])]
            },
            randomized: { k, c in
                let (xs, ws) = (try c.shape("x"), try c.shape("weight"))
                let r = k.linear(
                    x: try c.floats("x"), n: xs[0], i: xs[1], w: try c.floats("weight"), o: ws[0], b: try c.floats("bias"), dy: try c.floats("dy"))
                return [out32("y", r.y, [xs[0], ws[0]]), out32("dx", r.dx, xs), out32("dweight", r.dw, ws), out32("dbias", r.db, [ws[0]])]
            })
}

extension ConformancePlugin {
    typealias LinearForward = @convention(c) (P, I, I, P, I, P, M) -> Int32
    typealias LinearBackward = @convention(c) (P, P, I, I, P, I, M, M, M) -> Int32

    /// linear.
    static func linear<T: Scalar>(_ call: Call<T>) throws {
        let (x, xs) = try call.input("x"), (w, ws) = try call.input("weight"), (b, _) = try call.input("bias"), (dy, dys) = try call.input("dy")
        let (n, inF, outF) = (xs[0], xs[1], ws[0])
        var y = [T](repeating: .nan, count: n * outF), dx = [T](repeating: .nan, count: x.count)
        var dw = [T](repeating: .nan, count: w.count), db = [T](repeating: .nan, count: outF)
        call.check("linear_forward", call.fn("linear_forward", LinearForward.self)(x, i64(n), i64(inF), w, i64(outF), b, &y))
        call.check("linear_backward", call.fn("linear_backward", LinearBackward.self)(dy, x, i64(n), i64(inF), w, i64(outF), &dx, &dw, &db))
        call.emit("y", y, dys)
        call.emit("dx", dx, xs)
        call.emit("dweight", dw, ws)
        call.emit("dbias", db, [outF])
    }
}

extension RandomizedKernels {

    mutating func linear(
        x: [Float], n: Int, i: Int, w: [Float], o: Int, b: [Float], dy: [Float]
    ) -> (y: [Float], dx: [Float], dw: [Float], db: [Float]) {
        let (xo, wop, dyo) = (x.map(operand), w.map(operand), dy.map(operand))
        var sm = summer()
        var y = [Float](repeating: 0, count: n * o)
        for ni in 0..<n {
            for oi in 0..<o {
                y[ni * o + oi] = output(sm.dot(Array(xo[ni * i..<(ni + 1) * i]) + [b[oi]], Array(wop[oi * i..<(oi + 1) * i]) + [1], &rng))
            }
        }
        sm = summer()
        let dx = (0..<n * i).map { idx in output(sm.dot((0..<o).map { dyo[(idx / i) * o + $0] }, (0..<o).map { wop[$0 * i + idx % i] }, &rng)) }
        sm = summer()
        let dw = (0..<o * i).map { idx in output(sm.dot((0..<n).map { dyo[$0 * o + idx / i] }, (0..<n).map { xo[$0 * i + idx % i] }, &rng)) }
        sm = summer()
        let db = (0..<o).map { oi in output(sm.sum((0..<n).map { dyo[$0 * o + oi] }, &rng)) }
        return (y, dx, dw, db)
    }
}
