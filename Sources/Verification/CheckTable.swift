import Foundation

/// One line of `byol verify`'s table.
public struct CheckRow: Sendable {
    public var check: String
    public var maxAbsError: Double
    public var maxRelError: Double
    public var passed: Bool
    /// Why it failed (one line per problem), empty on PASS.
    public var failures: [String]
    /// Why the check does not apply (printed as SKIP, counted apart); nil when it ran.
    public var skipped: String?

    public init(check: String, maxAbsError: Double, maxRelError: Double, passed: Bool, failures: [String] = [], skipped: String? = nil) {
        self.check = check
        self.maxAbsError = maxAbsError
        self.maxRelError = maxRelError
        self.passed = passed
        self.failures = failures
        self.skipped = skipped
    }
}

/// Prints rows as they arrive, in fixed-width columns, and the failures under them.
public struct CheckTable {
    let checkWidth: Int

    public init(checkWidth: Int = 68) { self.checkWidth = checkWidth }

    public var header: String {
        pad("check", checkWidth) + "  " + pad("max abs err", 11) + "  " + pad("max rel err", 11) + "  result"
    }

    public func line(_ r: CheckRow) -> String {
        if let why = r.skipped { return pad(r.check, checkWidth) + "  " + pad("-", 11) + "  " + pad("-", 11) + "  SKIP (\(why))" }
        return pad(r.check, checkWidth) + "  " + pad(sci(r.maxAbsError), 11) + "  " + pad(sci(r.maxRelError), 11) + "  "
            + (r.passed ? "PASS" : "FAIL")
    }

    func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }

    func sci(_ x: Double) -> String { x.isFinite ? String(format: "%.3e", x) : "\(x)" }
}
