import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

extension ExternalProgramTests {
    /// The README's paste blocks, read from README.md by their heading and fed to bash as a terminal paste would be,
    /// line by line, against the real binaries. Only the release build is stood in for: the block runs in a
    /// temporary folder whose `.build/release` is a link to the products this test run built (debug), and `swift`
    /// (and `pip`) on its PATH are shims that accept only the block's own build (install) commands and check that
    /// the named product exists, so that the test does not spend ten minutes on a release build. Everything else
    /// runs unchanged, the ports given through the variables the README tells a user to set when one is busy.
    @Suite("README blocks, pasted into bash as written")
    struct ReadmeBlocksTests {
        @Test("\"Try many accounts without AWS\": every account is collected in every Region, the last line stops all")
        func manyAccounts() async throws {
            let block = try ReadmeBlock(heading: "### Try many accounts without AWS")
            let accounts = try #require(
                block.text.firstMatch(of: #/--accounts (\d+)/#).flatMap { Int($0.output.1) },
                "the block does not pass --accounts to the simulator")
            let regions = try #require(
                block.text.firstMatch(of: #/--regions ([a-z0-9,-]+)/#).map { $0.output.1.split(separator: ",") },
                "the block does not pass --regions to the simulator"
            ).map(String.init)
            let simulator = OrganizationSimulator.generated(accounts: accounts, regions: regions)
            // The simulator names its accounts in order from the management account's number up.
            let managementNumber = try #require(Int(simulator.managementAccountID))
            let expected = Set(
                (0..<accounts).flatMap { index in regions.map { "\(managementNumber + index)/\($0)" } })
            let probed = try #require(
                block.text.firstMatch(of: #/probe\?target=(\d{12})\/([a-z0-9-]+)/#), "the block curls no /probe")
            #expect(
                String(probed.output.1) == simulator.managementAccountID && String(probed.output.2) == regions[0],
                "the block probes \(probed.output.0), not the management account's instance in \(regions[0])")

            let ports = try ReadmeBlock.freePorts("SIMULATOR_PORT", "EXPORTER_PORT")
            let exporter = "http://127.0.0.1:\(try #require(ports["EXPORTER_PORT"]))"
            try await block.run(ports: ports) { http, printed in
                // The exporter publishes targets as discovery reads each account's Regions, and collects them in
                // rounds: wait until /sd lists them all and /metrics has a success for each.
                let collected = try await eventually(timeout: .seconds(60)) { () -> ParsedExposition? in
                    guard let sd = try? await Self.get(http, exporter + "/sd"),
                        let groups = try? JSONSerialization.jsonObject(with: Data(sd.utf8)) as? [[String: Any]],
                        Set(groups.flatMap { $0["targets"] as? [String] ?? [] }) == expected,
                        groups.count == expected.count,
                        let text = try? await Self.get(http, exporter + "/metrics"),
                        let metrics = try? ExpositionParser.parse(text),
                        metrics.samples("aws_sso_admin_collect_success").count == expected.count,
                        metrics.samples("aws_sso_admin_collect_success").allSatisfy({ $0.value == 1 })
                    else { return nil }
                    return metrics
                }
                let metrics = try #require(
                    collected, "not every account and Region was listed and collected\n\(printed())")
                for target in expected.sorted() {
                    let parts = target.split(separator: "/").map(String.init)
                    #expect(
                        metrics.value(
                            "aws_sso_admin_collect_success", ["account_id": parts[0], "region": parts[1]]) == 1,
                        "\(target) was not collected")
                }
                #expect(metrics.value("aws_sso_admin_discovery_accounts") == Double(accounts))
                // What the block printed from its /probe: the organization's instance, in the management account.
                let probe = try ExpositionParser.parse(
                    printed().split(separator: "\n").filter { $0.hasPrefix("aws_sso_admin_") }.joined(separator: "\n"))
                #expect(
                    probe.samples(
                        "aws_sso_admin_instance_info",
                        [
                            "account_id": simulator.managementAccountID,
                            "owner_account_id": simulator.managementAccountID,
                        ]
                    ).count == 1, "the block's /probe did not print the organization instance\n\(printed())")
            }
        }

        @Test(
            "\"Try it without an AWS account\": moto's instance is collected, the last line stops all",
            .enabled(if: ExternalTools.shouldRun("moto_server")))
        func moto() async throws {
            _ = try #require(
                ExternalTools.path("moto_server"), "moto_server is not on PATH (pip install 'moto[server]')")
            let block = try ReadmeBlock(heading: "### Try it without an AWS account")
            let ports = try ReadmeBlock.freePorts("MOTO_PORT", "EXPORTER_PORT")
            let exporter = "http://127.0.0.1:\(try #require(ports["EXPORTER_PORT"]))"
            try await block.run(ports: ports) { http, printed in
                let text = try await Self.get(http, exporter + "/metrics")
                let metrics = try ExpositionParser.parse(text)
                let success = metrics.samples("aws_sso_admin_collect_success")
                #expect(success.count == 1 && success.allSatisfy { $0.value == 1 }, "\(success)\n\(printed())")
                #expect(!metrics.samples("aws_sso_admin_instance_info").isEmpty, "no instance\n\(printed())")
                let shown = try ExpositionParser.parse(
                    printed().split(separator: "\n").filter { $0.hasPrefix("aws_sso_admin_") }.joined(separator: "\n"))
                #expect(!shown.samples("aws_sso_admin_instance_info").isEmpty, "the block printed no instance")
            }
        }

        static func get(_ http: HTTPClient, _ url: String) async throws -> String {
            let response = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 16 << 20)
            guard response.status == .ok else { throw ReadmeBlockError("\(url): \(response.status)") }
            return String(buffer: body)
        }
    }
}

struct ReadmeBlockError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The first `sh` block under a heading of README.md; its last line is the one that stops what the block started.
struct ReadmeBlock {
    let heading: String
    let text: String
    let lines: [String]

    init(heading: String) throws {
        let readme = try String(
            contentsOf: ExternalTools.repositoryRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let all = readme.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let start = try #require(all.firstIndex(of: heading), "README.md has no heading \"\(heading)\"")
        // The block must belong to this heading: it opens before the next heading of any level.
        let rest = all[(start + 1)...]
        let next = rest.firstIndex { $0.hasPrefix("#") } ?? all.endIndex
        let open = try #require(
            rest.firstIndex(of: "```sh").flatMap { $0 < next ? $0 : nil }, "no ```sh block under \"\(heading)\"")
        let close = try #require(all[(open + 1)...].firstIndex(of: "```"), "the block under \"\(heading)\" never ends")
        self.heading = heading
        lines = Array(all[(open + 1)..<close])
        text = lines.joined(separator: "\n")
        #expect(lines.last?.hasPrefix("kill ") == true, "the block does not end with a line that stops what it started")
    }

    /// A distinct free loopback port for each variable the README names for a busy port: a fixed one could be
    /// taken on the machine that runs the suite.
    static func freePorts(_ names: String...) throws -> [String: Int] {
        var ports: [String: Int] = [:]
        while ports.count < names.count {
            let port = try ExternalTools.freeLoopbackPort()
            if !ports.values.contains(port) { ports[names[ports.count]] = port }
        }
        return ports
    }

    /// Runs the block up to its last line, then `checks` while everything it started runs, then the last line;
    /// checks that the shims were asked for the products the block runs, and that after the last line no process
    /// the block started runs and no port it was given answers.
    func run(
        ports: [String: Int], _ checks: (_ http: HTTPClient, _ printed: () -> String) async throws -> Void
    ) async throws {
        let bash = try #require(ExternalTools.path("bash"), "bash is needed to run README blocks")
        _ = try #require(ExternalTools.path("curl"), "curl is needed to run README blocks")
        let exporter = try #require(
            ExternalTools.builtProduct("sso-admin-exporter"), "build the products first (swift build --build-tests)")
        let products = URL(fileURLWithPath: exporter).deletingLastPathComponent()
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("readme-block-\(UUID().uuidString)")
        let shims = directory.appendingPathComponent("shims")
        try FileManager.default.createDirectory(at: shims, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(
            at: directory.appendingPathComponent(".build"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            at: directory.appendingPathComponent(".build/release"), withDestinationURL: products)
        defer { try? FileManager.default.removeItem(at: directory) }
        let requests = directory.appendingPathComponent("shim-requests.log")
        try Self.writeShims(in: shims, log: requests)

        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AWS_") }
        environment["PATH"] = shims.path + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
        for (name, port) in ports { environment[name] = String(port) }
        let shell = try PastedShell(
            bash: bash, log: directory.appendingPathComponent("output.log"), environment: environment)
        defer { shell.kill() }
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        try await withAsyncCleanup {
            try shell.send("cd '\(directory.path)' || exit 1\n")
            try shell.send(lines.dropLast().joined(separator: "\n") + "\n")
            try shell.send("echo \"@@started $(jobs -p | tr '\\n' ' ')\"\n")
            let marker = try await eventually(timeout: .seconds(120)) { () -> String? in
                shell.output().split(separator: "\n").last { $0.hasPrefix("@@started") }.map(String.init)
            }
            let started = try #require(
                marker, "\(heading): the block did not get to its last line within 120 s\n\(shell.output())")
            let pids = started.split(separator: " ").dropFirst().compactMap { pid_t($0) }
            #expect(!pids.isEmpty, "the block started nothing in the background")

            try await checks(http, { shell.output() })

            let asked = (try? String(contentsOf: requests, encoding: .utf8)) ?? ""
            #expect(!asked.contains("refused"), "\(asked)")
            for product in Set(text.matches(of: #/\.build/release/([A-Za-z0-9-]+)/#).map { String($0.output.1) }) {
                #expect(asked.contains("built \(product)\n"), "the block runs \(product) without building it: \(asked)")
            }

            try shell.send((lines.last ?? "") + "\necho @@stopped\nexit\n")
            let ended = try await eventually(timeout: .seconds(30)) { shell.hasExited() ? true : nil }
            #expect(ended == true, "bash did not finish the block's last line\n\(shell.output())")
            #expect(shell.output().contains("@@stopped"), "\(shell.output())")
            let stopped = try await eventually(timeout: .seconds(20)) { () -> Bool? in
                let running = pids.filter(Self.isRunning)
                let answering = ports.values.filter(Self.accepts(port:))
                return running.isEmpty && answering.isEmpty ? true : nil
            }
            let running = pids.filter(Self.isRunning)
            let answering = ports.filter { Self.accepts(port: $0.value) }
            #expect(
                stopped == true,
                "after the last line, still running: \(running); ports answering: \(answering)\n\(shell.output())")
        } cleanup: {
            try? await http.shutdown()
        }
    }

    /// `swift build -c release --product NAME` and `pip install moto[server]`, nothing else: the product must
    /// already be in `.build/release` (this run's debug build), and moto on PATH (the test is skipped without it).
    static func writeShims(in shims: URL, log: URL) throws {
        let swift = """
            #!/bin/sh
            if [ "$#" -eq 5 ] && [ "$1 $2 $3 $4" = "build -c release --product" ] && [ -x ".build/release/$5" ]; then
                echo "built $5" >>'\(log.path)'
                exit 0
            fi
            echo "swift $* refused" >>'\(log.path)'
            echo "swift shim: only swift build -c release --product NAME of a built product, not: $*" >&2
            exit 97
            """
        let pip = """
            #!/bin/sh
            if [ "$*" = "install moto[server]" ] && command -v moto_server >/dev/null; then
                echo "installed moto" >>'\(log.path)'
                exit 0
            fi
            echo "pip $* refused" >>'\(log.path)'
            echo "pip shim: only pip install 'moto[server]' with moto_server on PATH, not: $*" >&2
            exit 97
            """
        for (name, script) in [("swift", swift), ("pip", pip)] {
            let path = shims.appendingPathComponent(name)
            try (script + "\n").write(to: path, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path.path)
        }
    }

    /// A zombie counts as stopped: in a container whose first process does not reap, it stays one.
    static func isRunning(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        guard let close = stat.lastIndex(of: ")") else { return false }
        return !stat[close...].hasPrefix(") Z")
    }

    /// Whether anything listens on the loopback port: on loopback a refusal is immediate.
    static func accepts(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = in_addr_t(UInt32(0x7f00_0001).bigEndian)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}

/// bash reading commands from a socket, as a terminal paste feeds them, with its output in a file. It runs in a
/// process group of its own, which holds everything the block starts in the background (bash without job control
/// keeps them in its group), so that a failing test can end them all; and with no signal blocked or ignored, since
/// the test runner blocks SIGTERM, a spawned child inherits that mask, and the block's last line stops with SIGTERM.
final class PastedShell: @unchecked Sendable {
    let pid: pid_t
    let log: URL
    private let input: Int32
    private var exited = false

    init(bash: String, log: URL, environment: [String: String]) throws {
        self.log = log
        var pair: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw ReadmeBlockError("socketpair: \(String(cString: strerror(errno)))")
        }
        let output = open(log.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard output >= 0 else { throw ReadmeBlockError("cannot create \(log.path)") }
        defer {
            close(pair[1])
            close(output)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pair[1], 0)
        posix_spawn_file_actions_adddup2(&actions, output, 1)
        posix_spawn_file_actions_adddup2(&actions, output, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGQUIT] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
        let arguments = [bash, "--noprofile", "--norc", "-s"]
        let variables = environment.map { "\($0.key)=\($0.value)" }
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        var envp: [UnsafeMutablePointer<CChar>?] = variables.map { strdup($0) } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, bash, &actions, &attributes, &argv, &envp)
        guard spawned == 0 else {
            close(pair[0])
            throw ReadmeBlockError("cannot start bash: \(String(cString: strerror(spawned)))")
        }
        self.pid = pid
        input = pair[0]
    }

    /// MSG_NOSIGNAL: a shell that already exited must fail the test, not kill the runner with SIGPIPE.
    func send(_ text: String) throws {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let sent = bytes.withUnsafeBytes { Glibc.send(input, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent < 0 && errno == EINTR { continue }
            guard sent > 0 else { throw ReadmeBlockError("bash no longer reads its input\n\(output())") }
            bytes = bytes.dropFirst(sent)
        }
    }

    func output() -> String {
        (try? String(contentsOf: log, encoding: .utf8)) ?? ""
    }

    func hasExited() -> Bool {
        if exited { return true }
        var status: Int32 = 0
        exited = waitpid(pid, &status, WNOHANG) == pid
        return exited
    }

    /// SIGKILL to the whole group, whatever the block left running; a no-op once the block stopped it all.
    func kill() {
        _ = Glibc.kill(-pid, SIGKILL)
        if !exited {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            exited = true
        }
        close(input)
    }
}
