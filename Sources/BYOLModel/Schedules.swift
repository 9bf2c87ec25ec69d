import Foundation

/// BYOL's schedules (Grill et al. 2020, section 3.2 and appendix), as pure functions of
/// the step k of K.
public enum Schedule {
    /// EMA decay: tau_k = 1 - (1 - tau_base) (cos(pi k / K) + 1) / 2, from tau_base at
    /// k = 0 up to 1 at k = K.
    public static func tau(step k: Int, total K: Int, base: Double) -> Double {
        precondition(K > 0, "total steps must be positive")
        return 1 - (1 - base) * (cos(Double.pi * Double(k) / Double(K)) + 1) / 2
    }

    /// Learning rate: linear warmup from 0 over `warmup` steps to `base` (reached at
    /// k = warmup), then cosine decay to 0 at k = K:
    /// lr_k = base k / warmup for k < warmup, else
    /// base (1 + cos(pi (k - warmup) / (K - warmup))) / 2.
    public static func learningRate(step k: Int, total K: Int, warmup: Int, base: Double) -> Double {
        precondition(K > 0 && warmup >= 0 && warmup <= K, "need 0 <= warmup <= total, total > 0")
        if k < warmup { return base * Double(k) / Double(warmup) }
        if K == warmup { return base }
        return base * (1 + cos(Double.pi * Double(k - warmup) / Double(K - warmup))) / 2
    }
}
