import ArgumentParser
import BYOLModel
import Foundation

// Range checks of the numeric flags, one flag per check: each message names the flag at
// fault and the value given, `--lr must be > 0, got -1`. Every numeric option is parsed
// with `.unconditional`, so that `--lr -1` reaches these checks instead of failing as
// "Missing value for '--lr <lr>'" (a leading "-" otherwise reads as a flag).

/// The values a Double flag accepts, as its message states them.
struct FlagRange {
    var text: String
    var contains: (Double) -> Bool

    static let positive = FlagRange(text: "> 0") { $0 > 0 }
    /// A kNN temperature: exp(s / T) with |s| <= 1 must stay finite, with room for summing
    /// up to e^9 weights (issue #23 row 11: T = 5e-4 wrote Inf scores).
    static let temperature = FlagRange(text: ">= 1/700 (exp(1 / T) must be finite in float64)") { $0 >= 1.0 / 700 }
    static let nonNegative = FlagRange(text: ">= 0") { $0 >= 0 }
    /// [0, 1]: an EMA decay.
    static let unit = FlagRange(text: "in [0, 1]") { (0...1).contains($0) }
    /// [0, 1): a momentum or an Adam beta (1 would never forget).
    static let unitOpen = FlagRange(text: "in [0, 1)") { (0..<1).contains($0) }
}

enum FlagCheck {
    /// A finite `value` within `range`.
    static func require(_ flag: String, _ value: Double, _ range: FlagRange) throws {
        guard value.isFinite else { throw ValidationError("\(flag) must be a finite number, got \(shown(value))") }
        guard range.contains(value) else { throw ValidationError("\(flag) must be \(range.text), got \(shown(value))") }
    }

    /// `value` >= `minimum`; `minimumText` names the bound when it is another flag's value.
    /// A flag in `limits` is also held to its upper bound: integers from flags go into
    /// allocations and step counts, where a huge value trapped or exhausted memory.
    static func require(_ flag: String, _ value: Int, atLeast minimum: Int, _ minimumText: String? = nil) throws {
        guard value >= minimum else { throw ValidationError("\(flag) must be >= \(minimumText ?? "\(minimum)"), got \(value)") }
        if let limit = limits[flag], value > limit.max {
            throw ValidationError("\(flag) must be <= \(limit.max) (\(limit.why)), got \(value)")
        }
    }

    /// The largest value of each integer flag, and why.
    static let limits: [String: (max: Int, why: String)] = [
        "--threads": (max(64, 8 * ProcessInfo.processInfo.activeProcessorCount), "8 per core, 64 at least: more only add stacks and scheduling"),
        "--size": (4096, "a float64 view of 4096 x 4096 pixels is already 400 MB"),
        "--batch": (65_536, "more images per step than CIFAR-10's 50,000 training images"),
        "--epochs": (1_000_000, "step counts stay far inside 64 bits"),
        "--steps": (1_000_000, "a million timed steps"),
        "--repeats": (1_000_000, "a million timed repeats"),
        "--trajectory": (1_000_000, "a million steps"),
        "--stop-after": (1 << 40, "step counts stay far inside 64 bits"),
        "--checkpoint-every": (1 << 40, "step counts stay far inside 64 bits"),
        "--classes": (65_536, "the scores are [queries, classes] float64"),
        "--k": (1 << 31, "k is at most the bank's size anyway"),
        "--knn-k": (1 << 31, "k is at most the bank's size anyway"),
        "--train-limit": (1 << 31, "more images than any data set here"),
        "--test-limit": (1 << 31, "more images than any data set here"),
        "--sample-groups": (65_536, "at most one group per image")
    ]

    /// An output path flag: not empty (a flag error); `file` outputs are also checked
    /// writable before any work (AtomicFile.checkWritable: an existing device, FIFO,
    /// socket or link is refused with status 1).
    static func output(_ flag: String, _ path: String?) throws {
        if let path, path.isEmpty { throw ValidationError("\(flag) must name a file or folder, got an empty path") }
    }

    /// `--network`: which backbone of a state, online or target.
    static func network(_ name: String) throws {
        guard name == "online" || name == "target" else { throw ValidationError("--network must be online or target, got '\(name)'") }
    }

    /// A preset name, or the flag error listing the known ones.
    static func preset(_ flag: String, _ name: String) throws -> Architecture {
        guard let a = Architecture.preset(named: name) else {
            throw ValidationError(
                "unknown preset '\(name)' for \(flag) (expected one of: \(Architecture.presets.map(\.name).joined(separator: ", ")))")
        }
        return a
    }

    /// A Double as one would type it: -1 rather than -1.0, nan and inf as Swift parses them.
    static func shown(_ v: Double) -> String {
        if v.isNaN { return "nan" }
        if v.isInfinite { return v < 0 ? "-inf" : "inf" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }
}
