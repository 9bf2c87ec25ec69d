import Foundation
import TestSupport
import Testing

/// Every subcommand of `byol`, as its `--help` is asked for.
let allCommands: [[String]] = [
    [], ["verify"], ["init"], ["step"], ["embed"], ["augment"], ["knn"], ["pretrain"], ["knn-eval"],
    ["crosscheck"], ["goldens"], ["goldens", "regenerate"], ["goldens", "verify"], ["bench"],
    ["bench-augment"]
]

/// The flags as `--help` documents them and as validation reports them.
@Suite struct FlagHelpAndRanges {
    /// The options of a help text's OPTIONS section with their descriptions, less the
    /// "(values: ...)" and "(default: ...)" that ArgumentParser appends on its own: an
    /// option declared without `help:` shows only those (`--adam-beta1 <adam-beta1>
    /// (default: 0.9)`) or nothing at all (`--train-limit <train-limit>`).
    ///
    /// ArgumentParser prints a label of up to 23 characters (after the 2-space indent)
    /// with its description from column 26 on the same line, even with a single space
    /// between them (`--precision <precision> float32 ...`); a longer label sits alone on
    /// its line and the description follows, indented 26 columns. The label is matched by
    /// its shape (names joined by ", ", then an optional <value>), not by its width.
    static func options(inHelp help: String) -> [(label: String, description: String)] {
        let lines = help.components(separatedBy: "\n")
        guard let start = lines.firstIndex(of: "OPTIONS:") else { return [] }
        let label = #/^  (-{1,2}[A-Za-z0-9][A-Za-z0-9-]*(?:, -{1,2}[A-Za-z0-9][A-Za-z0-9-]*)*(?: <[^>]+>)?(?: \.\.\.)?)(.*)$/#
        var found: [(label: String, description: String)] = []
        for line in lines[(start + 1)...] {
            if line.trimmingCharacters(in: .whitespaces).isEmpty { break }  // end of the section
            if let m = line.wholeMatch(of: label) {
                found.append((String(m.1), String(m.2).trimmingCharacters(in: .whitespaces)))
            } else if line.hasPrefix(String(repeating: " ", count: 26)), !found.isEmpty {
                found[found.count - 1].description += " " + line.trimmingCharacters(in: .whitespaces)
            } else {
                found.append((line, "<line not understood as an option or its description>"))
            }
        }
        return found.map { o in
            var d = o.description.trimmingCharacters(in: .whitespaces)
            while let r = d.firstMatch(of: #/\((?:values|default): [^()]*\)\s*$/#) {
                d = String(d[..<r.range.lowerBound]).trimmingCharacters(in: .whitespaces)
            }
            return (o.label, d)
        }
    }

    /// The parser of the check itself: it sees the layouts ArgumentParser prints, and an
    /// option without help (today's `--adam-beta1` before this test existed) fails it.
    @Test func helpParserSeesMissingDescriptions() {
        let help = """
            USAGE: byol step [<options>]

            OPTIONS:
              --precision <precision> float64 (the plain reference) or float32 (the
                                      OpenBLAS path). (values: float64, float32; default:
                                      float64)
              --lr <lr>               Learning rate.
              --adam-beta1 <adam-beta1>
                                      (default: 0.9)
              --adam-eps <adam-eps>   (default: 1e-08)
              --weight-decay <weight-decay>
                                      Weight decay.
              --train-limit <train-limit>
              --engine, --backend <engine>
                                      The engine.
              -h, --help              Show help information.

            """
        let o = Self.options(inHelp: help)
        #expect(
            o.map(\.label) == [
                "--precision <precision>", "--lr <lr>", "--adam-beta1 <adam-beta1>", "--adam-eps <adam-eps>",
                "--weight-decay <weight-decay>", "--train-limit <train-limit>", "--engine, --backend <engine>",
                "-h, --help"
            ])
        #expect(
            o.filter { $0.description.isEmpty }.map(\.label) == [
                "--adam-beta1 <adam-beta1>", "--adam-eps <adam-eps>",
                "--train-limit <train-limit>"
            ])
        #expect(o[0].description == "float64 (the plain reference) or float32 (the OpenBLAS path).")
    }

    @Test(arguments: allCommands)
    func everyOptionHasAHelpText(command: [String]) throws {
        let r = try CLI.run(command + ["--help"])
        #expect(r.status == 0, "\(r.stderr)")
        let options = Self.options(inHelp: r.stdout)
        #expect(options.count >= 2, "no OPTIONS section parsed:\n\(r.stdout)")  // at least --version and --help
        for o in options {
            #expect(!o.description.isEmpty, "byol \(command.joined(separator: " ")) --help: \(o.label) has no description")
        }
    }

    /// ArgumentParser's default for a long option list is `USAGE: byol pretrain <options>`.
    @Test func pretrainHasARealUsageLine() throws {
        let r = try CLI.run(["pretrain", "--help"])
        let usage = try #require(r.stdout.split(separator: "\n").first { $0.hasPrefix("USAGE: ") })
        #expect(usage.hasPrefix("USAGE: byol pretrain [--data "), "\(usage)")
        for flag in ["--preset", "--epochs", "--batch", "--out", "--resume"] { #expect(usage.contains(flag), "\(usage)") }
    }

    /// A bad value is a flag error (exit 64) of one line naming the one flag at fault and
    /// the value given; a negative value reaches validation instead of reading as a flag.
    func expectFlagError(_ args: [String], _ message: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let r = try CLI.run(args)
        #expect(r.status == 64, "byol \(args.joined(separator: " ")): status \(r.status)", sourceLocation: sourceLocation)
        #expect(r.stderr == "byol: error: \(message)\n", "byol \(args.joined(separator: " "))", sourceLocation: sourceLocation)
        #expect(r.stdout.isEmpty, sourceLocation: sourceLocation)
    }

    @Test func stepRangesNameTheFlag() throws {
        // Validation runs before any file is read: the paths need not exist.
        let step = ["step", "--state", "s.npz", "--views", "v.npz", "--out", "n.npz"]
        for (flags, message) in [
            (["--lr", "-1"], "--lr must be > 0, got -1"),
            (["--lr=-1"], "--lr must be > 0, got -1"),
            (["--lr", "0"], "--lr must be > 0, got 0"),
            (["--lr", "-1e-3"], "--lr must be > 0, got -0.001"),
            (["--lr", "nan"], "--lr must be a finite number, got nan"),
            (["--momentum", "-0.5"], "--momentum must be in [0, 1), got -0.5"),
            (["--momentum", "1"], "--momentum must be in [0, 1), got 1"),
            (["--weight-decay", "-1e-4"], "--weight-decay must be >= 0, got -0.0001"),
            (["--lars-eta", "0"], "--lars-eta must be > 0, got 0"),
            (["--adam-beta1", "-0.1"], "--adam-beta1 must be in [0, 1), got -0.1"),
            (["--adam-beta2", "1"], "--adam-beta2 must be in [0, 1), got 1"),
            (["--adam-eps", "0"], "--adam-eps must be > 0, got 0"),
            (["--tau", "-0.5"], "--tau must be in [0, 1], got -0.5"),
            (["--tau", "inf"], "--tau must be a finite number, got inf"),
            (["--threads", "-2"], "--threads must be >= 1, got -2")
        ] {
            try expectFlagError(step + flags, message)
        }
    }

    @Test func pretrainRangesNameTheFlag() throws {
        let d = TemporaryDirectory()
        let pretrain = ["pretrain", "--preset", "tiny", "--out", d.file("run")]
        for (flags, message) in [
            (["--epochs", "-1"], "--epochs must be >= 1, got -1"),
            (["--batch", "-2"], "--batch must be >= 2, got -2"),
            (["--batch", "1"], "--batch must be >= 2, got 1"),
            (["--lr", "-0.1"], "--lr must be > 0, got -0.1"),
            (["--momentum", "-1"], "--momentum must be in [0, 1), got -1"),
            (["--weight-decay", "-5e-4"], "--weight-decay must be >= 0, got -0.0005"),
            (["--tau-base", "-0.5"], "--tau-base must be in [0, 1], got -0.5"),
            (["--tau-base", "1.5"], "--tau-base must be in [0, 1], got 1.5"),
            (["--warmup-epochs", "-1"], "--warmup-epochs must be in [0, --epochs] = [0, 10], got -1"),
            // Past --epochs this trapped (SIGILL) in Schedule.learningRate's precondition.
            (["--epochs", "1", "--warmup-epochs", "2"], "--warmup-epochs must be in [0, --epochs] = [0, 1], got 2"),
            (["--threads", "-1"], "--threads must be >= 1, got -1"),
            (["--checkpoint-every", "0"], "--checkpoint-every must be >= 1, got 0"),
            (["--sample-groups", "0"], "--sample-groups must be >= 1, got 0"),
            (["--batch", "8", "--sample-groups", "9"], "--sample-groups must be <= --batch = 8, got 9"),
            (["--knn-k", "-5"], "--knn-k must be >= 1, got -5"),
            // Accepted before, with a meaningless accuracy.
            (["--knn-temperature", "0"], "--knn-temperature must be >= 1/700 (exp(1 / T) must be finite in float64), got 0"),
            (["--knn-temperature", "-0.1"], "--knn-temperature must be >= 1/700 (exp(1 / T) must be finite in float64), got -0.1"),
            (["--knn-temperature", "nan"], "--knn-temperature must be a finite number, got nan"),
            (["--stop-after", "-1"], "--stop-after must be >= 0, got -1")
        ] {
            try expectFlagError(pretrain + flags, message)
        }
        #expect(!FileManager.default.fileExists(atPath: d.file("run")))
    }

    @Test func knnAndBenchRangesNameTheFlag() throws {
        let knn = ["knn", "--bank", "b.npz", "--queries", "q.npz", "--out", "o.npz"]
        let knnEval = ["knn-eval", "--checkpoint", "c.npz"]
        for (args, message) in [
            (knn + ["--k", "-1"], "--k must be >= 1, got -1"),
            (knn + ["--temperature", "-0.5"], "--temperature must be >= 1/700 (exp(1 / T) must be finite in float64), got -0.5"),
            (knn + ["--classes", "0"], "--classes must be >= 1, got 0"),
            (knnEval + ["--k", "0"], "--k must be >= 1, got 0"),
            (knnEval + ["--temperature", "0"], "--temperature must be >= 1/700 (exp(1 / T) must be finite in float64), got 0"),
            (knnEval + ["--test-limit", "-3"], "--test-limit must be >= 1, got -3"),
            (["bench", "--batch", "-4"], "--batch must be >= 2, got -4"),
            (["bench", "--steps", "0"], "--steps must be >= 1, got 0"),
            (["bench", "--size", "-8"], "--size must be >= 8, got -8"),
            (["bench", "--threads", "0"], "--threads must be >= 1, got 0"),
            (["bench-augment", "--images", "i.npz", "--repeats", "-1"], "--repeats must be >= 1, got -1"),
            (["crosscheck", "--trajectory", "-1"], "--trajectory must be >= 0, got -1"),
            (["augment", "--seed", "1", "--images", "i.npz", "--out", "o.npz", "--size", "-32"], "--size must be >= 1, got -32"),
            (
                [
                    "init", "--seed", "0", "--widths", "-1,2,3,4", "--blocks", "1,1,1,1", "--proj-hidden", "2", "--proj-out", "2",
                    "--pred-hidden", "2", "--out", "x.npz"
                ], "--widths must be 4 integers >= 1, got -1,2,3,4"
            ),
            (
                [
                    "init", "--seed", "0", "--widths", "1,2,3,4", "--blocks", "1,1,1,1", "--proj-hidden", "2", "--proj-out", "-2",
                    "--pred-hidden", "2", "--out", "x.npz"
                ], "--proj-out must be >= 1, got -2"
            ),
            // An unsigned flag refuses a negative value by name, not as "Missing value".
            (["augment", "--seed", "-1", "--images", "i.npz", "--out", "o.npz"], "The value '-1' is invalid for '--seed <seed>'")
        ] {
            try expectFlagError(args, message)
        }
    }

    /// Issue #23, row 5: integer flags have an upper bound with its reason; huge values
    /// trapped (arithmetic overflow) or grew until the kernel killed the process.
    @Test func integerFlagsHaveUpperBounds() throws {
        let d = TemporaryDirectory()
        let pretrain = ["pretrain", "--preset", "tiny", "--out", d.file("run")]
        let huge = "9223372036854775807"
        for (args, flag, max) in [
            (pretrain + ["--epochs", "4611686018427387904"], "--epochs", "1000000"),
            (pretrain + ["--batch", huge], "--batch", "65536"),
            (["augment", "--seed", "1", "--images", "i.npz", "--out", "o.npz", "--size", "4000000000"], "--size", "4096"),
            (["conformance", "export", "--out", d.file("c"), "--size", "4000000000"], "--size", "4096"),
            (["conformance", "export", "--out", d.file("c"), "--batch", huge], "--batch", "65536"),
            (["knn", "--bank", "b.npz", "--queries", "q.npz", "--out", "o.npz", "--classes", huge], "--classes", "65536"),
            (["knn", "--bank", "b.npz", "--queries", "q.npz", "--out", "o.npz", "--classes", "1000000000000"], "--classes", "65536"),
            (["bench", "--steps", huge], "--steps", "1000000")
        ] {
            let r = try CLI.run(args)
            #expect(
                r.status == 64 && r.stderr.hasPrefix("byol: error: \(flag) must be <= \(max) (") && r.stderr.hasSuffix("), got \(args.last!)\n"),
                "byol \(args.joined(separator: " ")): \(r.status) \(r.stderr)")
        }
        let threads = try CLI.run(pretrain + ["--threads", huge])
        #expect(
            threads.status == 64 && threads.stderr.contains("--threads must be <= ") && threads.stderr.split(separator: "\n").count == 1,
            "\(threads.stderr)")
        #expect(!FileManager.default.fileExists(atPath: d.file("run")) && !FileManager.default.fileExists(atPath: d.file("c")))
    }

    @Test func unknownPresetListsThePresets() throws {
        let d = TemporaryDirectory()
        for args in [
            ["pretrain", "--preset", "bogus", "--out", d.file("run")], ["bench", "--preset", "bogus"],
            ["init", "--seed", "0", "--preset", "bogus", "--out", d.file("s.npz")]
        ] {
            try expectFlagError(args, "unknown preset 'bogus' for --preset (expected one of: resnet18, small, tiny)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: d.path).isEmpty)
    }
}
