import BYOLModel

/// A fixed binary tree over the sample groups: node [lo, hi) has children [lo, mid) and
/// [mid, hi), mid = lo + (hi - lo) / 2, and its sum is left + right. A rank evaluates
/// the largest nodes inside its groups (its blocks); the nodes above them are evaluated
/// after an exchange. Either way every weight gradient is this tree's sum.
struct ReductionTree {
    let leaves: Int

    static func split(_ node: Range<Int>) -> (Range<Int>, Range<Int>) {
        let mid = node.lowerBound + node.count / 2
        return (node.lowerBound..<mid, mid..<node.upperBound)
    }

    var root: Range<Int> { 0..<leaves }

    /// The maximal nodes inside `range`, left to right.
    func blocks(inside range: Range<Int>) -> [Range<Int>] {
        var out: [Range<Int>] = []
        func visit(_ n: Range<Int>) {
            if n.lowerBound >= range.lowerBound && n.upperBound <= range.upperBound {
                out.append(n)
                return
            }
            guard n.count > 1, n.overlaps(range) else { return }
            let (l, r) = Self.split(n)
            visit(l)
            visit(r)
        }
        visit(root)
        return out
    }

    /// The additions that evaluate `node` from `parts` (each a subtree of it, together
    /// covering it), in post-order: (left part's slot, right part's slot); the sum goes
    /// to the left slot, so the node's value ends in the slot of its first part.
    static func additions(_ node: Range<Int>, parts: [Range<Int>]) -> [(into: Int, add: Int)] {
        var out: [(Int, Int)] = []
        @discardableResult
        func eval(_ n: Range<Int>) -> Int {
            if let i = parts.firstIndex(of: n) { return i }
            precondition(n.count > 1, "parts do not cover the node")
            let (l, r) = split(n)
            let a = eval(l), b = eval(r)
            out.append((a, b))
            return a
        }
        eval(node)
        return out
    }
}
