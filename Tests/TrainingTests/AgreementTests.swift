import BYOLModel
import Data
import TestSupport
import Testing

@testable import Training

/// Data-parallel failures end every rank, reported once (issue #17): `Collective.agree`
/// on 3 ranks run as threads.
@Suite struct AgreementTests {
    /// What each rank's call ends in: "ok", "quiet" (QuietFailure) or the error's text.
    func outcomes(_ errors: [Int: String]) -> [Int: String] {
        let result = Locked<[Int: String]>([:])
        ThreadRanks(size: 3).run { comm in
            let outcome: String
            do {
                try comm.agree(errors[comm.rank].map { DataError($0) })
                outcome = "ok"
            } catch is QuietFailure {
                outcome = "quiet"
            } catch {
                outcome = "\(error)"
            }
            result.mutate { $0[comm.rank] = outcome }
        }
        return result.value
    }

    @Test func noFailureEndsNoRank() {
        #expect(outcomes([:]) == [0: "ok", 1: "ok", 2: "ok"])
    }

    @Test func anotherRanksFailureIsReportedByRankZeroNamingTheRank() {
        #expect(outcomes([2: "data.tar.gz: truncated or damaged"]) == [0: "rank 2: data.tar.gz: truncated or damaged", 1: "quiet", 2: "quiet"])
    }

    @Test func rankZerosOwnFailureComesFirst() {
        #expect(outcomes([0: "runs/x: already holds a run", 1: "other"]) == [0: "runs/x: already holds a run", 1: "quiet", 2: "quiet"])
    }
}
