import BYOLModel
import Foundation
import NumPyIO
import Reference

/// relu and avgpool (global average pooling): the ops, their C calls and their randomized
/// float32 implementations.
extension Ops {
    /// max(x, 0) and its gradient.
    static let relu =
        Op(
            name: "relu", inputs: ["x", "dy"], outputs: ["y", "dx"], params: [], abi: ["relu_forward", "relu_backward"], abiVersion: 1,
            kind: .layer,
            plugin: .init(f32: ConformancePlugin.relu, f64: ConformancePlugin.relu),
            compute: { e, c in e.relu(x: try c.x("x"), dy: try c.x("dy")) },
            errorModel: { v in
                let r = ElementwiseErrors.relu(y: v.t(v.expected, "y"), dx: v.t(v.expected, "dx"))
                return ["y": r.y, "dx": r.dx]
            },
            samples: { rng in
                // Inputs kept 1e-3 from the kink: neither float32 rounding nor a finite-difference step flips a sign.
                [OpSample("relu", [("x", rng.awayFromZero([4, 3, 5, 5], minMagnitude: 1e-3)), ("dy", rng.tensor([4, 3, 5, 5]))], kinks: ["x"])]
            },
            randomized: { _, c in
                let x = try c.floats("x"), dy = try c.floats("dy"), xs = try c.shape("x")
                return [out32("y", x.map { max($0, 0) }, xs), out32("dx", x.indices.map { x[$0] > 0 ? dy[$0] : 0 }, xs)]
            })

    /// Global average pooling [N, C, H, W] -> [N, C] and its gradient.
    static let avgPool =
        Op(
            name: "avgpool", inputs: ["x", "dy"], outputs: ["y", "dx"], params: [], abi: ["avgpool_forward", "avgpool_backward"], abiVersion: 1,
            kind: .layer,
            plugin: .init(f32: ConformancePlugin.avgPool, f64: ConformancePlugin.avgPool),
            compute: { e, c in e.avgPool(x: try c.x("x"), dy: try c.x("dy")) },
            errorModel: { v in
                [
                    "y": ElementwiseErrors.avgPoolForward(x: v.t(v.inputs, "x"), y: v.t(v.expected, "y")),
                    "dx": ElementwiseErrors.avgPoolBackward(dx: v.t(v.expected, "dx"))
                ]
            },
            samples: { rng in [OpSample("global average pooling", [("x", rng.tensor([4, 6, 3, 5])), ("dy", rng.tensor([4, 6]))])] },
            randomized: { k, c in
                let xs = try c.shape("x")
                let (nc, sp) = (xs[0] * xs[1], xs[2] * xs[3])
                let x = try c.floats("x"), dy = try c.floats("dy")
                let sm = k.summer()
                let y = (0..<nc).map { sm.sum(Array(x[$0 * sp..<($0 + 1) * sp]), &k.rng) / Float(sp) }
                return [out32("y", y, [xs[0], xs[1]]), out32("dx", (0..<nc * sp).map { dy[$0 / sp] / Float(sp) }, xs)]
            })
}

extension ConformancePlugin {
    typealias Elementwise = @convention(c) (P, I, M) -> Int32
    typealias ReluBackward = @convention(c) (P, P, I, M) -> Int32
    typealias PoolForward = @convention(c) (P, I, I, I, M) -> Int32

    /// relu.
    static func relu<T: Scalar>(_ call: Call<T>) throws {
        let (x, xs) = try call.input("x"), (dy, _) = try call.input("dy")
        var y = [T](repeating: .nan, count: x.count), dx = [T](repeating: .nan, count: x.count)
        call.check("relu_forward", call.fn("relu_forward", Elementwise.self)(x, i64(x.count), &y))
        call.check("relu_backward", call.fn("relu_backward", ReluBackward.self)(dy, x, i64(x.count), &dx))
        call.emit("y", y, xs)
        call.emit("dx", dx, xs)
    }

    /// avgpool.
    static func avgPool<T: Scalar>(_ call: Call<T>) throws {
        let (x, xs) = try call.input("x"), (dy, dys) = try call.input("dy")
        let (n, ch, hw) = (xs[0], xs[1], xs[2] * xs[3])
        var y = [T](repeating: .nan, count: n * ch), dx = [T](repeating: .nan, count: x.count)
        call.check("avgpool_forward", call.fn("avgpool_forward", PoolForward.self)(x, i64(n), i64(ch), i64(hw), &y))
        call.check("avgpool_backward", call.fn("avgpool_backward", PoolForward.self)(dy, i64(n), i64(ch), i64(hw), &dx))
        call.emit("y", y, dys)
        call.emit("dx", dx, xs)
    }
}
