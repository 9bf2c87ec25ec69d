/// The target update: target <- target + (1 - tau) (online - target), applied to
/// parameters only (BN running statistics are not averaged: each network keeps its own).
public enum EMA {
    public static func update(target: [Double], online: [Double], tau: Double) -> [Double] {
        var out = target
        let w = 1 - tau
        for i in 0..<out.count { out[i] = target[i] + w * (online[i] - target[i]) }
        return out
    }
}
