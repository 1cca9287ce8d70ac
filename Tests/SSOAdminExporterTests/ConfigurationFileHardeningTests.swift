import Foundation
import Logging
import Synchronization
import TestSupport
import Testing

@testable import SSOAdminExporter

#if canImport(Glibc)
    import Glibc
#endif

/// A folder of its own for each test's files, removed when the test ends.
struct ScratchFolder {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("files-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let file = path(name)
        try text.write(toFile: file, atomically: false, encoding: .utf8)
        return file
    }

    /// A sparse file of `size` bytes: no disk used, and nothing read unless a reader reads it whole.
    @discardableResult
    func sparse(_ name: String, size: Int) throws -> String {
        let file = path(name)
        #expect(FileManager.default.createFile(atPath: file, contents: nil))
        let handle = try FileHandle(forWritingAtPath: file).unwrapped()
        try handle.truncate(atOffset: UInt64(size))
        try handle.close()
        return file
    }

    func fifo(_ name: String) -> String {
        let file = path(name)
        #expect(mkfifo(file, 0o600) == 0)
        return file
    }

    func remove() { try? FileManager.default.removeItem(at: url) }
}

extension Optional {
    func unwrapped(_ what: String = "value") throws -> Wrapped {
        guard let self else { throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: what]) }
        return self
    }
}

/// Runs `body` on a thread of its own and gives up after `seconds`: a read that blocks (a FIFO with no writer) must
/// fail the test, not hang the suite.
func withinDeadline<T: Sendable>(seconds: Double, _ body: @escaping @Sendable () -> T) async -> T? {
    await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
        let pending = Mutex<CheckedContinuation<T?, Never>?>(continuation)
        let answer: @Sendable (T?) -> Void = { value in pending.withLock { $0.take() }?.resume(returning: value) }
        Thread { answer(body()) }.start()
        Thread {
            Thread.sleep(forTimeInterval: seconds)
            answer(nil)
        }.start()
    }
}

/// What a load of `path` reports, as one text: the error's, or "loaded".
func outcome(webConfiguration path: String) -> String {
    do {
        _ = try WebConfiguration.load(path: path)
        return "loaded"
    } catch {
        return error.description
    }
}

func outcome(configFile path: String) -> String {
    do {
        _ = try TargetsConfiguration.load(path: path)
        return "loaded"
    } catch {
        return error.description
    }
}

@Suite("configuration files as an attacker writes them: sizes, kinds of file, aliases and what errors quote")
struct ConfigurationFileHardeningTests {
    static let hash = "$2y$10$" + String(repeating: "a", count: 53)

    static func webConfiguration(users count: Int) -> String {
        var text = "basic_auth_users:\n"
        text.reserveCapacity(count * 80)
        for index in 0..<count { text += "  user\(index): \(hash)\n" }
        return text
    }

    static func targetsFile(labels count: Int) -> String {
        var text = "targets:\n  - name: many\n    regions: [us-east-1]\n    labels:\n"
        for index in 0..<count { text += "      label_\(index): value\(index)\n" }
        return text
    }

    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = ContinuousClock.now
        try body()
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    @Test("one mapping with 16,000 keys parses in linear time: basic_auth_users and labels")
    func mappingDecodingIsLinear() throws {
        // Quadratic decoding took 22.6 s for 16,000 users on this machine; linear takes a small fraction of a
        // second. The bound is loose for a loaded 2-core machine and still far below the quadratic time.
        let users = Self.webConfiguration(users: 16_000)
        let parsedUsers = try Self.seconds {
            let file = try WebConfigurationFile.parse(users, path: "web.yml")
            #expect(file.basicAuthUsers?.count == 16_000)
        }
        #expect(parsedUsers < 3, "16,000 users took \(parsedUsers) s")
        let labels = Self.targetsFile(labels: 16_000)
        let parsedLabels = try Self.seconds {
            let file = try TargetsFile.parse(labels, path: "targets.yml")
            #expect(file.targets?.first?.labels?.count == 16_000)
        }
        #expect(parsedLabels < 3, "16,000 labels took \(parsedLabels) s")
    }

    @Test("a web configuration file, a certificate and --config.file over 1 MiB are refused, naming the limit")
    func oversizedFiles() throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let web = try folder.sparse("web.yml", size: 2 << 20)
        let webOutcome = outcome(webConfiguration: web)
        #expect(webOutcome.hasPrefix(web) && webOutcome.contains("larger than 1 MiB"), "\(webOutcome)")

        try folder.sparse("big.pem", size: 2 << 20)
        try folder.sparse("small.key", size: 100)
        let withCertificate = try folder.write(
            "tls.yml", "tls_server_config:\n  cert_file: big.pem\n  key_file: small.key\n")
        let certificateOutcome = outcome(webConfiguration: withCertificate)
        #expect(
            certificateOutcome.contains("tls_server_config.cert_file")
                && certificateOutcome.contains(folder.path("big.pem"))
                && certificateOutcome.contains("larger than 1 MiB"), "\(certificateOutcome)")

        let config = try folder.sparse("targets.yml", size: 2 << 20)
        let configOutcome = outcome(configFile: config)
        #expect(configOutcome.hasPrefix(config) && configOutcome.contains("larger than 1 MiB"), "\(configOutcome)")
    }

    @Test("a 1 GiB --config.file or cert_file is refused at once, without being read")
    func hugeFileNotRead() throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let config = try folder.sparse("targets.yml", size: 1 << 30)
        var result = ""
        let elapsed = Self.seconds { result = outcome(configFile: config) }
        #expect(result.contains("larger than 1 MiB"), "\(result)")
        // Reading a gigabyte, even of a sparse file's zeros, takes far longer than a stat.
        #expect(elapsed < 0.5, "took \(elapsed) s")

        try folder.sparse("huge.pem", size: 1 << 30)
        let web = try folder.write("web.yml", "tls_server_config:\n  cert_file: huge.pem\n  key_file: huge.pem\n")
        var webResult = ""
        let webElapsed = Self.seconds { webResult = outcome(webConfiguration: web) }
        #expect(webResult.contains("cert_file") && webResult.contains("larger than 1 MiB"), "\(webResult)")
        #expect(webElapsed < 0.5, "took \(webElapsed) s")
    }

    @Test("a FIFO, a directory or a device as a file is \"not a regular file\", at once, never a permission problem")
    func notRegularFiles() async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let fifo = folder.fifo("pipe.yml")
        let directory = folder.path("folder.yml")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for file in [fifo, directory, "/dev/zero"] {
            let config = try #require(await withinDeadline(seconds: 5) { outcome(configFile: file) }, "\(file) blocked")
            #expect(config.contains("is not a regular file") && !config.contains("permission"), "\(config)")
            let web = try #require(await withinDeadline(seconds: 5) { outcome(webConfiguration: file) }, "\(file)")
            #expect(web.contains("is not a regular file") && !web.contains("permission"), "\(web)")
        }
        try folder.write("server.key", "not read: the certificate fails first")
        let withFIFO = try folder.write(
            "tls.yml", "tls_server_config:\n  cert_file: pipe.yml\n  key_file: server.key\n")
        let certificate = try #require(await withinDeadline(seconds: 5) { outcome(webConfiguration: withFIFO) })
        #expect(
            certificate.contains("tls_server_config.cert_file") && certificate.contains("is not a regular file"),
            "\(certificate)")
    }

    @Test("a newline or another control character in a bad target name is escaped, never written raw")
    func controlCharactersEscaped() throws {
        let text = """
            targets:
              - name: "bad\\nname\\u001b[31m"
                regions: [us-east-1]
            """
        do {
            _ = try TargetsConfiguration.parse(text, path: "targets.yml")
            Issue.record("a name with a newline was accepted")
        } catch {
            let report = error.description
            #expect(!report.contains("\n") && !report.contains("\u{1B}"), "\(report)")
            #expect(report.contains(#"bad\nname\u{1B}[31m"#), "\(report)")
        }
    }

    @Test("a long value is quoted as a short excerpt with its length, in every kind of error")
    func longValuesExcerpted() throws {
        let long = String(repeating: "é", count: 100_000)
        do {
            _ = try TargetsConfiguration.parse("targets:\n  - name: \(long)\n    regions: [us-east-1]\n", path: "t.yml")
            Issue.record("a 100,000-character name was accepted")
        } catch {
            #expect(error.description.count < 700, "\(error.description.count) characters")
            #expect(error.description.contains("100000 characters"), "\(error.description.prefix(700))")
        }
        // A role ARN is checked by the code that checks --aws.role-arn, which quotes it the same way.
        do {
            _ = try TargetsConfiguration.parse(
                "targets:\n  - name: a\n    role_arn: \(long)\n    regions: [us-east-1]\n", path: "t.yml")
            Issue.record("a 100,000-character role ARN was accepted")
        } catch {
            #expect(error.description.count < 700, "\(error.description.count) characters")
        }
        let folder = try ScratchFolder()
        defer { folder.remove() }
        for text in [
            "http_server_config:\n  headers:\n    \(long): x\n", "\(long): 1\n",
            "basic_auth_users:\n  \(long): plain\n",
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: \(long)\n",
        ] {
            let report = outcome(webConfiguration: try folder.write("web.yml", text))
            #expect(report.count < 700, "\(report.count) characters: \(report.prefix(300))")
        }
    }

    @Test("a check-config report with thousands of problems stops at 64 KiB and counts what it left out")
    func reportBounded() throws {
        var text = "targets:\n"
        for index in 0..<5_000 {
            text += "  - name: \"bad name \(index) \(String(repeating: "x", count: 100))\"\n    regions: [us-east-1]\n"
        }
        do {
            _ = try TargetsConfiguration.parse(text, path: "targets.yml")
            Issue.record("5,000 bad names were accepted")
        } catch {
            let report = error.description
            #expect(report.utf8.count <= 64 * 1024, "\(report.utf8.count) bytes")
            let last = try #require(report.split(separator: "\n").last)
            #expect(last.contains("more problems not shown"), "\(last)")
            let shown = report.split(separator: "\n").count - 1
            #expect(last.contains("\(5_000 - shown) more problems"), "\(last)")
        }
    }

    @Test("a 404 KB file whose 200 KB anchor is aliased 2,000 times is refused quickly with a short error")
    func aliasBombRefused() async throws {
        let anchor = String(repeating: "a", count: 200_000)
        var text = "targets:\n  - name: &big \(anchor)\n    regions: [us-east-1]\n"
        for _ in 0..<2_000 { text += "  - name: *big\n    regions: [us-east-1]\n" }
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let config = try folder.write("targets.yml", text)
        var report = ""
        let elapsed = Self.seconds { report = outcome(configFile: config) }
        #expect(elapsed < 2, "took \(elapsed) s")
        #expect(report.utf8.count < 1_000, "\(report.utf8.count) bytes")
        #expect(report.hasPrefix(config + ":") && report.contains("aliases expand"), "\(report.prefix(500))")

        var web = "basic_auth_users:\n  first: &big \(anchor)\n"
        for index in 0..<2_000 { web += "  user\(index): *big\n" }
        let webReport = outcome(webConfiguration: try folder.write("web.yml", web))
        #expect(webReport.utf8.count < 1_000 && webReport.contains("aliases expand"), "\(webReport.prefix(500))")
    }

    @Test("nested aliases used as a mapping key are refused before the parser walks their expansion")
    func aliasKeyRefused() throws {
        // Ten million scalars from 600 bytes: composing hashes every key, and a key that is an alias is hashed in
        // full, which took 3.4 s here (and ten times as long for each level more).
        var lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        for level in 1...6 {
            lines.append(
                "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]")
        }
        lines.append("? *a6\n: 1")
        let text = lines.joined(separator: "\n") + "\n"
        var report = ""
        let elapsed = Self.seconds {
            do {
                _ = try TargetsConfiguration.parse(text, path: "targets.yml")
                report = "loaded"
            } catch {
                report = "\(error)"
            }
        }
        #expect(report.contains("aliases expand"), "\(report)")
        #expect(elapsed < 1, "took \(elapsed) s")
    }

    @Test("aliases used as intended still load")
    func modestAliasesLoad() throws {
        var text = "targets:\n  - name: first\n    regions: &regions [us-east-1, eu-west-1]\n"
        text += "    labels: &labels {team: platform, tier: gold}\n"
        for index in 0..<50 { text += "  - name: t\(index)\n    regions: *regions\n    labels: *labels\n" }
        let configuration = try TargetsConfiguration.parse(text, path: "targets.yml")
        #expect(configuration.targets.count == 51)
        #expect(configuration.targets.last?.labels.count == 2)
    }

    @Test("the web configuration watcher neither reads nor parses an unchanged file, and loads a changed one")
    func watcherSkipsUnchangedFiles() async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let path = try folder.write("web.yml", "basic_auth_users:\n  alice: \(Self.hash)\n")
        let store = WebConfigurationStore(try WebConfiguration.load(path: path))
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let (hangups, _) = AsyncStream.makeStream(of: Void.self)
        // No racy window: the file was written a moment ago, and the test must not wait for its times to age.
        let reloader = WebConfigurationReloader(
            store: store, interval: .seconds(5), hangups: hangups, metrics: ProcessWideMetrics(),
            logger: logger, racyWindow: .zero)
        for _ in 0..<3 {
            #expect(await reloader.reload(force: false) == false)
        }
        #expect(await reloader.loads == 0, "an unchanged file was parsed")
        #expect(await reloader.contentReads == 0, "an unchanged file was read")

        // Same size, other contents: the times tell it changed, the digest that it did.
        try "basic_auth_users:\n  carol: \(Self.hash)\n".write(toFile: path, atomically: false, encoding: .utf8)
        #expect(await reloader.reload(force: false) == true, "a changed file was not loaded")
        #expect(store.current.basicAuthUsers.keys.sorted() == ["carol"])
        #expect(await reloader.loads == 1)

        // Written again with the same contents: read to compare, not parsed.
        let readsBefore = await reloader.contentReads
        try "basic_auth_users:\n  carol: \(Self.hash)\n".write(toFile: path, atomically: false, encoding: .utf8)
        #expect(await reloader.reload(force: false) == false)
        #expect(await reloader.loads == 1, "a file rewritten unchanged was parsed")
        #expect(await reloader.contentReads == readsBefore + 1)

        // SIGHUP loads whatever changed or not.
        #expect(await reloader.reload(force: true) == true)
        #expect(await reloader.loads == 2)
    }

    @Test("a file whose times did not change but that was written within the racy window is still compared")
    func racyWriteNoticed() throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let path = try folder.write("web.yml", "a: 1\n")
        var reads = 0
        let first = ConfigurationFileReader.observe(path, previous: nil, contentReads: &reads)
        let again = ConfigurationFileReader.observe(path, previous: first, contentReads: &reads)
        // Written a moment ago: its times are within the window, so the contents were read again.
        #expect(reads == 2)
        #expect(again == first)
    }

    @Test("merge keys in an any-key mapping apply as the decoder applied them")
    func mergeKeys() throws {
        let text = """
            targets:
              - name: base
                regions: [us-east-1]
                labels: &defaults {team: platform, tier: gold}
              - name: merged
                regions: [us-east-1]
                labels:
                  <<: *defaults
                  tier: silver
            """
        let configuration = try TargetsConfiguration.parse(text, path: "targets.yml")
        let labels = configuration.targets.last?.labels.map { "\($0.name)=\($0.value)" }
        #expect(labels == ["team=platform", "tier=silver"])
    }

    @Test("an excerpt cuts between whole characters and says how long the value was")
    func excerptsCutWholeCharacters() {
        let flags = String(repeating: "🇫🇷", count: 300)
        let quoted = ConfigurationText.quoted(flags)
        #expect(quoted == "\"" + String(repeating: "🇫🇷", count: 200) + "…\" (300 characters)")
        #expect(ConfigurationText.quoted("tab\there\u{85}") == #""tab\there\u{85}""#)
        #expect(ConfigurationText.quoted("short") == "\"short\"")
    }

    @Test("a report keeps within its limit, counting the problems it leaves out, one or many")
    func reportCountsWhatItLeavesOut() {
        let lines = (0..<10).map { "problem \($0) " + String(repeating: "x", count: 80) }
        let whole = ConfigurationText.report(lines, limit: 10_000)
        #expect(whole == lines.joined(separator: "\n"))
        let cut = ConfigurationText.report(lines, limit: 500)
        #expect(cut.utf8.count <= 500)
        #expect(cut.hasSuffix("… and 6 more problems not shown"), "\(cut)")
        let lastOnly = ConfigurationText.report(lines.prefix(2), limit: 170)
        #expect(lastOnly.hasSuffix("… and 1 more problem not shown") && lastOnly.utf8.count <= 170, "\(lastOnly)")
    }

    @Test("the reader takes a file of exactly the limit, in chunks, and refuses one byte more")
    func readerLimitIsExact() throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let bytes = (0..<150_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let path = folder.path("data")
        #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        #expect(try ConfigurationFileReader.contents(of: path, limit: 150_000) == bytes)
        #expect(throws: ConfigurationFileReader.Problem.tooLarge(limit: 149_999)) {
            try ConfigurationFileReader.contents(of: path, limit: 149_999)
        }
        #expect(FileManager.default.createFile(atPath: folder.path("empty"), contents: Data()))
        #expect(try ConfigurationFileReader.contents(of: folder.path("empty"), limit: 10).isEmpty)
        #expect(throws: ConfigurationFileReader.Problem.missing) {
            try ConfigurationFileReader.contents(of: folder.path("absent"), limit: 10)
        }
    }
}

extension ExternalProgramTests {
    @Suite("configuration files through the real binary: kinds of file and control characters")
    struct ConfigurationFileBinaryTests {
        @Test("check-config and --web.config.check on a FIFO answer at once: not a regular file, exit 1")
        func fifoRefused() async throws {
            let binary = try #require(ExternalProgramTests.BinaryTests.binary)
            let folder = try ScratchFolder()
            defer { folder.remove() }
            let fifo = folder.fifo("pipe.yml")
            // A writer keeps nothing waiting: a reader that opened the FIFO would block until one came.
            let checked = try #require(
                await withinDeadline(seconds: 10) {
                    try? ExternalTools.run(binary, ["check-config", "--config.file", fifo])
                }, "check-config blocked on a FIFO")
            let (status, output) = try #require(checked)
            #expect(status == 1 && output.contains("pipe.yml: is not a regular file (it is a FIFO)"), "\(output)")
            let web = try #require(
                await withinDeadline(seconds: 10) {
                    try? ExternalTools.run(binary, ["--web.config.file", fifo, "--web.config.check"])
                }, "--web.config.check blocked on a FIFO")
            let (webStatus, webOutput) = try #require(web)
            #expect(webStatus == 1 && webOutput.contains("is not a regular file"), "\(webOutput)")
        }

        @Test("check-config writes a newline in a bad target name as \\n: one problem, one line")
        func newlineEscaped() async throws {
            let binary = try #require(ExternalProgramTests.BinaryTests.binary)
            let folder = try ScratchFolder()
            defer { folder.remove() }
            let file = try folder.write(
                "targets.yml", "targets:\n  - name: \"x\\ny: forged line\"\n    regions: [us-east-1]\n")
            let (status, output) = try await ExternalTools.runDetached(binary, ["check-config", "--config.file", file])
            #expect(status == 1)
            let lines = output.split(separator: "\n")
            #expect(lines.count == 1, "\(output)")
            #expect(output.contains(#""x\ny: forged line""#), "\(output)")
        }
    }
}
