import Foundation

/// Wall time per phase of the float32 step, collected only when enabled (`byol bench
/// --profile`): a few clock reads per layer, nothing in inner loops.
public final class PhaseProfile: @unchecked Sendable {
    public static let shared = PhaseProfile()
    public var enabled = false
    private var totals: [String: Double] = [:]
    private var order: [String] = []

    @inline(__always)
    func measure<T>(_ label: String, _ body: () -> T) -> T {
        guard enabled else { return body() }
        let t0 = DispatchTime.now().uptimeNanoseconds
        let r = body()
        let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        if totals[label] == nil { order.append(label) }
        totals[label, default: 0] += dt
        return r
    }

    public func reset() { totals = [:]; order = [] }

    /// Lines "label: seconds (percent)", in first-seen order.
    public func report(steps: Int) -> [String] {
        let sum = totals.values.reduce(0, +)
        return order.map { label in
            let padded = label.padding(toLength: 18, withPad: " ", startingAt: 0)
            return "  " + padded + String(format: " %7.3f s/step  %5.1f%%", totals[label]! / Double(steps), 100 * totals[label]! / sum)
        }
    }
}
