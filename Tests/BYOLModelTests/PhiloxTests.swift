import BYOLModel
import NumPyIO
import TestSupport
import Testing

@Suite struct PhiloxKnownAnswers {
    /// Random123's published known answer for Philox4x64-10, key 0, counter 0.
    @Test func random123Vector() {
        let out = Philox4x64.block(counter: (0, 0, 0, 0), key: (0, 0))
        #expect(out.0 == 0x1655_4d9e_ca36_314c)
        #expect(out.1 == 0xdb20_fe9d_672d_0fdc)
        #expect(out.2 == 0xd7e7_72ce_e186_176b)
        #expect(out.3 == 0x7e68_b68a_ec7b_a23b)
    }

    /// Streams written by numpy.random.Philox (ci/make_philox_vectors.py), counter
    /// carries included: raw outputs bit for bit, uniforms exactly.
    @Test func numpyStreams() throws {
        let f = try NPZ.load(Repo.fixture("philox_vectors.npz"))
        let keys = try f.requireInt("key").storage
        let counters = try f.requireInt("counter").storage
        let raw = try f.requireInt("raw")
        let uniform = try f.requireFloat("uniform")
        guard case .int64(let k) = keys, case .int64(let c) = counters, case .int64(let r) = raw.storage else {
            Issue.record("fixture dtypes")
            return
        }
        let u = uniform.doubles
        let cases = raw.shape[0]
        #expect(cases == 6)
        for j in 0..<cases {
            let key = (UInt64(bitPattern: k[2 * j]), UInt64(bitPattern: k[2 * j + 1]))
            let counter = (
                UInt64(bitPattern: c[4 * j]), UInt64(bitPattern: c[4 * j + 1]),
                UInt64(bitPattern: c[4 * j + 2]), UInt64(bitPattern: c[4 * j + 3])
            )
            var a = PhiloxStream(key: key, counter: counter)
            var b = PhiloxStream(key: key, counter: counter)
            for i in 0..<10 {
                #expect(a.nextUInt64() == UInt64(bitPattern: r[10 * j + i]), "case \(j) raw \(i)")
                #expect(b.nextUniform() == u[10 * j + i], "case \(j) uniform \(i)")
            }
        }
    }
}
