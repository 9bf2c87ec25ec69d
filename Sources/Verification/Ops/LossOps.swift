import BYOLModel
import Foundation
import NumPyIO
import Reference

/// BYOL's loss, of one view pair and over both views: the ops, their C calls and their
/// randomized float32 implementation.
extension Ops {
    /// The normalized MSE 2 - 2 cos(p, z), a batch mean, and its gradient in p.
    static let loss =
        Op(
            name: "loss", inputs: ["p", "z"], outputs: ["loss", "dp"], params: [], abi: ["loss_forward", "loss_backward"], abiVersion: 1,
            kind: .layer,
            plugin: .init(f32: ConformancePlugin.loss, f64: ConformancePlugin.loss),
            compute: { e, c in e.loss(p: try c.x("p"), z: try c.x("z")) },
            errorModel: { v in
                let r = LossErrors.loss(p: v.t(v.inputs, "p"), z: v.t(v.inputs, "z"), dp: v.t(v.expected, "dp"))
                return ["loss": r.loss, "dp": r.dp]
            },
            samples: { rng in
                // Rows of quite different norms (x10, x0.1).
                var p = rng.tensor([5, 8])
                for j in 0..<8 {
                    p.data[8 + j] *= 10
                    p.data[16 + j] *= 0.1
                }
                return [OpSample("normalized MSE loss", [("p", p), ("z", rng.tensor([5, 8]))])]
            },
            randomized: { k, c in
                let ps = try c.shape("p")
                let r = k.loss(p: try c.floats("p"), z: try c.floats("z"), n: ps[0], d: ps[1])
                return [("loss", .scalar(Double(r.loss))), out32("dp", r.dp, ps)]
            })

    /// loss(p1, z2) + loss(p2, z1) and the gradients in p1 and p2.
    static let symmetricLoss =
        Op(
            name: "symmetric_loss", inputs: ["p1", "p2", "z1", "z2"], outputs: ["loss", "dp1", "dp2"], params: [],
            abi: ["symmetric_loss_forward", "symmetric_loss_backward"], abiVersion: 1, kind: .layer,
            plugin: .init(f32: ConformancePlugin.symmetricLoss, f64: ConformancePlugin.symmetricLoss),
            compute: { e, c in Conformance.symmetricLoss(e, p1: try c.x("p1"), p2: try c.x("p2"), z1: try c.x("z1"), z2: try c.x("z2")) },
            errorModel: { v in
                let (i, e) = (v.inputs, v.expected)
                let a = LossErrors.loss(p: v.t(i, "p1"), z: v.t(i, "z2"), dp: v.t(e, "dp1"))
                let b = LossErrors.loss(p: v.t(i, "p2"), z: v.t(i, "z1"), dp: v.t(e, "dp2"))
                let total = v.d(e, "loss").first ?? 0
                return ["loss": ErrorTerms(a: [a.loss.a[0] + b.loss.a[0] + ErrorTerms.slack * abs(total)]), "dp1": a.dp, "dp2": b.dp]
            },
            samples: { rng in
                [
                    OpSample(
                        "symmetric loss",
                        [("p1", rng.tensor([5, 8])), ("p2", rng.tensor([5, 8])), ("z1", rng.tensor([5, 8])), ("z2", rng.tensor([5, 8]))])
                ]
            },
            randomized: { k, c in
                let ps = try c.shape("p1")
                let a = k.loss(p: try c.floats("p1"), z: try c.floats("z2"), n: ps[0], d: ps[1])
                let b = k.loss(p: try c.floats("p2"), z: try c.floats("z1"), n: ps[0], d: ps[1])
                return [("loss", .scalar(Double(a.loss + b.loss))), out32("dp1", a.dp, ps), out32("dp2", b.dp, ps)]
            })
}

extension ConformancePlugin {
    typealias LossForward = @convention(c) (P, P, I, I, UnsafeMutablePointer<Double>?) -> Int32
    typealias LossBackward = @convention(c) (P, P, I, I, M) -> Int32
    typealias SymmetricLossForward = @convention(c) (P, P, P, P, I, I, UnsafeMutablePointer<Double>?) -> Int32
    typealias SymmetricLossBackward = @convention(c) (P, P, P, P, I, I, M, M) -> Int32

    /// loss.
    static func loss<T: Scalar>(_ call: Call<T>) throws {
        let (p, ps) = try call.input("p"), (z, _) = try call.input("z")
        var loss = Double.nan
        var dp = [T](repeating: .nan, count: p.count)
        call.check("loss_forward", call.fn("loss_forward", LossForward.self)(p, z, i64(ps[0]), i64(ps[1]), &loss))
        call.check("loss_backward", call.fn("loss_backward", LossBackward.self)(p, z, i64(ps[0]), i64(ps[1]), &dp))
        call.out["loss"] = .scalar(loss)
        call.emit("dp", dp, ps)
    }

    /// symmetric_loss.
    static func symmetricLoss<T: Scalar>(_ call: Call<T>) throws {
        let (p1, ps) = try call.input("p1"), (p2, _) = try call.input("p2"), (z1, _) = try call.input("z1"), (z2, _) = try call.input("z2")
        var loss = Double.nan
        var dp1 = [T](repeating: .nan, count: p1.count), dp2 = [T](repeating: .nan, count: p2.count)
        call.check(
            "symmetric_loss_forward", call.fn("symmetric_loss_forward", SymmetricLossForward.self)(p1, p2, z1, z2, i64(ps[0]), i64(ps[1]), &loss))
        call.check(
            "symmetric_loss_backward",
            call.fn("symmetric_loss_backward", SymmetricLossBackward.self)(p1, p2, z1, z2, i64(ps[0]), i64(ps[1]), &dp1, &dp2))
        call.out["loss"] = .scalar(loss)
        call.emit("dp1", dp1, ps)
        call.emit("dp2", dp2, ps)
    }
}

extension RandomizedKernels {

    mutating func loss(p: [Float], z: [Float], n: Int, d: Int) -> (loss: Float, dp: [Float]) {
        let sm = summer(), cosForm = rng.next() % 2 == 0
        var total: [Float] = [], dp = p
        for row in 0..<n {
            let pr = Array(p[row * d..<(row + 1) * d]), zr = Array(z[row * d..<(row + 1) * d])
            let rp = max(sm.dot(pr, pr, &rng).squareRoot(), 1e-12), rz = max(sm.dot(zr, zr, &rng).squareRoot(), 1e-12)
            let u = pr.map { $0 / rp }, zn = zr.map { $0 / rz }
            if cosForm {
                total.append(2 - 2 * sm.dot(pr, zr, &rng) / (rp * rz))
            } else {
                let diff = (0..<d).map { u[$0] - zn[$0] }
                total.append(sm.dot(diff, diff, &rng))
            }
            let g = (0..<d).map { 2 * (u[$0] - zn[$0]) / Float(n) }
            let ug = sm.dot(u, g, &rng)
            for j in 0..<d { dp[row * d + j] = (g[j] - u[j] * ug) / rp }
        }
        return (sm.sum(total, &rng) / Float(n), dp)
    }
}
