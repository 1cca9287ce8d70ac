import AsyncHTTPClient
import Foundation
import NIOCore
import TestSupport

extension Benchmarks {
    /// The 17 Regions an AWS account has enabled by default: the shape `regions: enabled` gives a real organization.
    static let defaultRegions = [
        "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "eu-west-1", "eu-west-2", "eu-west-3",
        "eu-central-1", "eu-north-1", "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
        "ap-southeast-1", "ap-southeast-2", "sa-east-1",
    ]

    /// The exporter binary watching a simulated organization (the `sso-admin-org-simulator` binary, both built next
    /// to this one): `accounts` accounts in `regionCount` Regions (3, or the 17 enabled by default), `latency` per
    /// call, `maxConcurrency` targets at a time, the default pacing per account and Region.
    /// Everything is read from the exporter's own metrics: the first round's duration (from the discovery's end to
    /// the last target's success), its calls, its resident memory, and how long `/metrics` takes for every target.
    /// The exporter's CPU is read from `/proc` once it is idle after the round, before anything renders every target.
    /// With `instanceDetails`, owned instances are described too (the simulator's organization instance and every
    /// fifth account's own): those calls count in the round, its ideal and the CPU per call.
    static func organizationScale(
        accounts: Int, regionCount: Int = 3, latency: Duration = .milliseconds(50), maxConcurrency: Int = 64,
        instanceDetails: Bool = true
    ) async throws {
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let exporterBinary = directory.appendingPathComponent("sso-admin-exporter").path
        let simulatorBinary = directory.appendingPathComponent("sso-admin-org-simulator").path
        guard FileManager.default.isExecutableFile(atPath: exporterBinary),
            FileManager.default.isExecutableFile(atPath: simulatorBinary)
        else {
            print("organization: build the exporter and the simulator too (swift build -c release)")
            return
        }
        let regions =
            regionCount == 3
            ? ["us-east-1", "eu-west-1", "ap-southeast-2"] : Array(defaultRegions.prefix(max(1, regionCount)))
        // Long enough for a round of every target, so that the next rounds are measured one by one.
        let interval = accounts * regions.count > 20_000 ? 60 : 30
        let simulatorPort = try ExternalTools.freeLoopbackPort()
        let simulator = Process()
        simulator.executableURL = URL(fileURLWithPath: simulatorBinary)
        simulator.arguments = [
            "--accounts", "\(accounts)", "--regions", regions.joined(separator: ","), "--latency-ms",
            "\(Int(latency.milliseconds))", "--port", "\(simulatorPort)",
        ]
        simulator.standardOutput = FileHandle.nullDevice
        try simulator.run()
        defer {
            kill(simulator.processIdentifier, SIGKILL)
            simulator.waitUntilExit()
        }
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("org-\(UUID().uuidString).yml")
        try """
        discovery:
          organizations:
            role_name: SSOAdminExporterRead
            regions: [\(regions.joined(separator: ", "))]
        collection:
          mode: background
          interval: \(interval)s
          timeout: 25s
          max_concurrency: \(maxConcurrency)
          instance_details: \(instanceDetails)

        """.write(to: config, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: config) }
        let port = try ExternalTools.freeLoopbackPort()
        let exporter = Process()
        exporter.executableURL = URL(fileURLWithPath: exporterBinary)
        exporter.arguments = [
            "--config.file", config.path, "--web.listen-address", "127.0.0.1:\(port)", "--log.level", "error",
        ]
        exporter.environment = [
            "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:\(simulatorPort)",
            "AWS_ACCESS_KEY_ID": "AKIASIMULATEDMGMT001", "AWS_SECRET_ACCESS_KEY": "simulated-management-secret",
            "AWS_EC2_METADATA_DISABLED": "true", "HOME": NSTemporaryDirectory(),
        ]
        try exporter.run()
        defer {
            kill(exporter.processIdentifier, SIGKILL)
            exporter.waitUntilExit()
        }
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { http.shutdown { _ in } }
        var size = 0
        func scrape() async throws -> (ParsedExposition, Duration) {
            let started = ContinuousClock.now
            let response = try await http.execute(
                HTTPClientRequest(url: "http://127.0.0.1:\(port)/metrics"), timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 256 << 20)
            let elapsed = ContinuousClock.now - started
            size = body.readableBytes
            return (try ExpositionParser.parse(String(buffer: body)), elapsed)
        }
        let targets = accounts * regions.count
        /// The exporter's CPU seconds so far, from `/proc`: reading it does not cost the exporter anything.
        func exporterCPU() -> Double? {
            guard let stat = try? String(contentsOfFile: "/proc/\(exporter.processIdentifier)/stat", encoding: .utf8),
                let afterName = stat.lastIndex(of: ")")
            else { return nil }
            // Fields after the command name: state is field 3, utime and stime are fields 14 and 15.
            let fields = stat[stat.index(after: afterName)...].split(separator: " ")
            guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
            return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
        }
        /// The CPU time of the exporter's threads now, from each thread's `schedstat` (nanoseconds, where `stat`
        /// counts clock ticks of 10 ms: a round of 6,000 calls would otherwise be read to within 3 µs a call).
        /// Threads that have ended are not counted, so this serves for differences over a round, not for totals.
        func exporterThreadsCPU() -> Double? {
            let tasks = "/proc/\(exporter.processIdentifier)/task"
            guard let threads = try? FileManager.default.contentsOfDirectory(atPath: tasks) else { return nil }
            var nanoseconds = 0.0
            for thread in threads {
                guard let line = try? String(contentsOfFile: "\(tasks)/\(thread)/schedstat", encoding: .utf8),
                    let running = line.split(separator: " ").first.flatMap({ Double($0) })
                else { continue }
                nanoseconds += running
            }
            return nanoseconds / 1e9
        }
        var done: ParsedExposition?
        var cpu = 0.0
        var lastCPU = -1.0
        let deadline = ContinuousClock.now + .seconds(600)
        while done == nil, ContinuousClock.now < deadline {
            // Scraping renders every target, which would count in the exporter's CPU: wait until the exporter has
            // been idle for a second, and only then ask whether every target was collected.
            try await Task.sleep(for: .seconds(1))
            guard let now = exporterCPU() else { continue }
            defer { lastCPU = now }
            guard now == lastCPU else { continue }
            guard let (metrics, _) = try? await scrape() else { continue }
            if metrics.samples("aws_sso_admin_collect_last_success_timestamp_seconds").count == targets {
                done = metrics
                cpu = now
            }
        }
        guard let metrics = done else {
            print("organization of \(accounts) accounts: not every target was collected within 10 minutes")
            return
        }
        let discovered = metrics.value("aws_sso_admin_discovery_last_success_timestamp_seconds") ?? 0
        let lastSuccess =
            metrics.samples("aws_sso_admin_collect_last_success_timestamp_seconds").map(\.value).max() ?? 0
        let round = lastSuccess - discovered
        func requests(_ operation: String) -> Double {
            metrics.samples("aws_sso_admin_api_requests_total", ["operation": operation]).reduce(0) { $0 + $1.value }
        }
        let assumeRoles = requests("AssumeRole")
        // No discovery of enabled Regions here, so every ListRegions is sso-admin's, an instance detail call.
        let detailCalls = requests("DescribeInstance") + requests("ListRegions")
        let roundCalls = requests("ListInstances") + assumeRoles + detailCalls
        let allCalls = metrics.samples("aws_sso_admin_api_requests_total").reduce(0) { $0 + $1.value }
        let ideal = roundCalls * latency.seconds / Double(maxConcurrency)
        let resident = metrics.value("process_resident_memory_bytes") ?? 0
        var renders: [Duration] = []
        for _ in 0..<11 { renders.append(try await scrape().1) }
        let render = renders.sorted()[5]
        // The exporter reports its memory while it renders, with the exposition of every target in hand; between
        // scrapes that buffer is returned to the system (it is above the mmap threshold). Both are worth knowing.
        try await Task.sleep(for: .seconds(1))
        let idle =
            (try? String(contentsOfFile: "/proc/\(exporter.processIdentifier)/status", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            .flatMap { Double($0.split(separator: " ").dropFirst().first ?? "") }.map { $0 * 1024 } ?? 0

        // Series per target and per account, for sizing Prometheus: every sample of one page.
        let series = Double(metrics.samples.count)

        // The next three rounds (every `interval` from the first): credentials, signing keys and connections are in hand, as
        // in an exporter that has been running. Each round's CPU is read from /proc: from the sample before the CPU
        // time starts to rise to the one after which it stays unchanged for a second.
        var rounds: [Double] = []
        // Start between two rounds, so that the first one measured is whole: a round already running when the
        // renders above ended would be measured from the middle.
        var previous = exporterThreadsCPU() ?? 0
        let quietDeadline = ContinuousClock.now + .seconds(interval)
        while ContinuousClock.now < quietDeadline {
            try await Task.sleep(for: .milliseconds(500))
            guard let now = exporterThreadsCPU() else { continue }
            defer { previous = now }
            if now <= previous + 0.002 { break }
        }
        var roundStart: Double?
        var quietSamples = 0
        let roundsDeadline = ContinuousClock.now + .seconds(interval * 3 + 30)
        while rounds.count < 3, ContinuousClock.now < roundsDeadline {
            try await Task.sleep(for: .milliseconds(250))
            guard let now = exporterThreadsCPU() else { continue }
            // An idle exporter still wakes now and then (idle connections, timers): microseconds, not a round.
            if now > previous + 0.002 {
                if roundStart == nil { roundStart = previous }
                quietSamples = 0
            } else if let start = roundStart {
                quietSamples += 1
                if quietSamples == 4 {
                    // A tick or two of housekeeping (idle connections closing) is not a round.
                    if now - start > 0.05 { rounds.append(now - start) }
                    roundStart = nil
                }
            }
            previous = now
        }
        // Every round of an organization that does not change makes the first round's collection calls: its
        // ListInstances and detail calls. (Counting the calls made while the rounds were measured would also count
        // those of a round that started before the first was measured, or after the last.)
        let callsPerRound = requests("ListInstances") + detailCalls
        let perCall = rounds.map { String(format: "%3.0f", callsPerRound > 0 ? $0 / callsPerRound * 1e6 : 0) }
        print(
            String(
                format:
                    "organization, %5d accounts × %2d regions (%5d targets), details %@: round %6.2f s (ideal %6.2f s, "
                    + "×%.2f), %5.0f AssumeRole, %4.0f detail calls, %6.0f calls, CPU %5.2f s = %3.0f µs/call, "
                    + "RSS %5.1f MiB while rendering, %5.1f MiB between scrapes, /metrics %5.1f ms (%.1f MB), "
                    + "%.0f series (%.1f a target, %.1f an account); next rounds %5.0f calls each, CPU %@ µs/call",
                accounts, regions.count, targets, (instanceDetails ? "on" : "off") as NSString, round, ideal,
                round / ideal,
                assumeRoles, detailCalls, allCalls, cpu, cpu / allCalls * 1e6,
                resident / 1_048_576, idle / 1_048_576, render.milliseconds, Double(size) / 1e6, series,
                series / Double(targets), series / Double(accounts), callsPerRound,
                perCall.joined(separator: ", ") as NSString))
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
