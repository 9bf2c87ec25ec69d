import BYOLModel
import Foundation
import Reference

/// The engines `--engine NAME` can name. The float64 reference is always there; the
/// program registers the others (the `byol` command registers `openblas`), so this
/// module checks engines without linking any of them: its verdicts rest on the
/// reference alone. To validate kernels of your own, conform them to `Engine` and
/// register a factory before the checks run.
public enum Engines {
    public typealias Factory = @Sendable (_ threads: Int) -> Engine

    private static let lock = NSLock()
    nonisolated(unsafe) private static var factories: [(name: String, make: Factory)] = [("reference", { _ in ReferenceEngine() })]

    /// Adds (or replaces) the engine `name`.
    public static func register(_ name: String, _ make: @escaping Factory) {
        lock.lock()
        defer { lock.unlock() }
        factories.removeAll { $0.name == name }
        factories.append((name, make))
    }

    /// The registered names, in registration order.
    public static var names: [String] {
        lock.lock()
        defer { lock.unlock() }
        return factories.map(\.name)
    }

    /// A new engine `name` (also by its precision: "float64", or "float32" for the
    /// first float32 engine registered), or nil.
    public static func make(_ name: String, threads: Int) -> Engine? {
        lock.lock()
        let all = factories
        lock.unlock()
        if let f = all.first(where: { $0.name == name }) { return f.make(threads) }
        for f in all {
            let e = f.make(threads)
            if e.precision.rawValue == name { return e }
        }
        return nil
    }
}
