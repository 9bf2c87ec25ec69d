import BYOLModel
import Foundation
import NumPyIO
import Reference

/// ema: the target network's update, its C call and its randomized float32 implementation.
extension Ops {
    /// target + (1 - tau) (online - target).
    static let ema =
        Op(
            name: "ema", inputs: ["target", "online", "tau"], outputs: ["target"], params: [], abi: ["ema_update"], abiVersion: 1, kind: .update,
            plugin: .init(f32: ConformancePlugin.ema, f64: ConformancePlugin.ema),
            compute: { e, c in e.emaUpdate(target: try c.x("target"), online: try c.x("online"), tau: try c.scalar("tau")) },
            errorModel: { v in
                [
                    "target": UpdateErrors.ema(
                        target: v.d(v.inputs, "target"), online: v.d(v.inputs, "online"), tau: v.s("tau"),
                        out: v.d(v.expected, "target"))
                ]
            },
            randomized: { k, c in
                let t = try c.floats("target"), o = try c.floats("online"), tau = Float(try c.scalar("tau"))
                let form = k.rng.next() % 2 == 0
                return [
                    out32(
                        "target", t.indices.map { form ? t[$0] + (1 - tau) * (o[$0] - t[$0]) : tau * t[$0] + (1 - tau) * o[$0] },
                        try c.shape("target"))
                ]
            })
}

extension ConformancePlugin {
    typealias EMAUpdate = @convention(c) (P, P, I, Double, M) -> Int32

    /// ema.
    static func ema<T: Scalar>(_ call: Call<T>) throws {
        let (t, ts) = try call.input("target"), (o, _) = try call.input("online")
        var out2 = [T](repeating: .nan, count: t.count)
        call.check("ema_update", call.fn("ema_update", EMAUpdate.self)(t, o, i64(t.count), call.inputs["tau"]?.doubles.first ?? .nan, &out2))
        call.emit("target", out2, ts)
    }
}
