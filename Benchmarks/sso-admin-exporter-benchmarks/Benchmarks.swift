import AWSClient
import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import SSOAdminExporter
import ServiceLifecycle
import TestSupport

/// Figures for docs/benchmarks.md: run `swift run -c release sso-admin-exporter-benchmarks`.
@main
enum Benchmarks {
    static func main() async throws {
        if CommandLine.arguments.dropFirst().first == "--render-once" {
            // One 10,000-instance render and nothing else, for profilers such as callgrind.
            let snapshot = snapshot(instances: 10_000)
            var writer = PrometheusTextWriter(reservingCapacity: 16_384 + 10_000 * 1_200)
            SnapshotRenderer().render(snapshot, into: &writer)
            print(writer.bytes.count)
            return
        }
        print("sso-admin-exporter benchmarks (\(ProcessInfo.processInfo.activeProcessorCount) cores)")
        if CommandLine.arguments.dropFirst().first == "--memory-only" {
            try await exporterMemory(instances: 1_000, scrapes: 300)
            return
        }
        if CommandLine.arguments.dropFirst().first == "--organization-only" {
            // `--organization-only 2000` runs one size, for comparing two builds; `--no-instance-details` leaves out
            // DescribeInstance and ListRegions; `--regions 17` watches the 17 Regions enabled by default, not 3.
            var arguments = Array(CommandLine.arguments.dropFirst(2))
            var regionCount = 3
            if let flag = arguments.firstIndex(of: "--regions"), flag + 1 < arguments.count {
                regionCount = Int(arguments[flag + 1]) ?? 3
                arguments.removeSubrange(flag...(flag + 1))
            }
            let sizes = arguments.compactMap { Int($0) }
            let details = !CommandLine.arguments.contains("--no-instance-details")
            for accounts in sizes.isEmpty ? [500, 1_000, 2_000] : sizes {
                try await organizationScale(accounts: accounts, regionCount: regionCount, instanceDetails: details)
            }
            return
        }
        if CommandLine.arguments.dropFirst().first == "--signing-only" {
            signing()
            return
        }
        if CommandLine.arguments.dropFirst().first == "--tls-only" {
            try await securedScrapes(instances: 1_000, scrapes: 100)
            return
        }
        signing()
        decoding()
        rendering(instances: 1_000)
        rendering(instances: 10_000)
        compression(instances: 1_000)
        try await endToEnd(instances: 1_000, scrapes: 100)
        try await securedScrapes(instances: 1_000, scrapes: 100)
        try await exporterMemory(instances: 1_000, scrapes: 300)
        for accounts in [500, 1_000, 2_000] { try await organizationScale(accounts: accounts) }
        for accounts in [500, 1_000, 2_000] { try await organizationScale(accounts: accounts, regionCount: 17) }
    }

    /// Runs `body` `iterations` times after a warm-up and reports the median of five rounds per iteration.
    static func measure(_ name: String, iterations: Int, _ body: () -> Void) {
        for _ in 0..<max(1, iterations / 10) { body() }
        var rounds: [Duration] = []
        for _ in 0..<5 {
            let elapsed = ContinuousClock().measure {
                for _ in 0..<iterations { body() }
            }
            rounds.append(elapsed / iterations)
        }
        let median = rounds.sorted()[2]
        print(String(format: "%-52@ %12.1f µs", name as NSString, median.microseconds))
    }

    static func signing() {
        let signer = SigV4Signer(
            credentials: AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "secret", sessionToken: "token"),
            region: "us-east-1",
            service: "sso"
        )
        let body = Array(#"{"MaxResults":100,"NextToken":"tok-10"}"#.utf8)
        func listInstances() -> SigV4Request {
            SigV4Request(
                method: "POST", path: "/",
                headers: [
                    ("Host", "sso.us-east-1.amazonaws.com"), ("Content-Type", "application/x-amz-json-1.1"),
                    ("X-Amz-Target", "SWBExternalService.ListInstances"),
                ],
                body: body
            )
        }
        measure("SigV4 sign one ListInstances request", iterations: 20_000) {
            var request = listInstances()
            signer.sign(&request, date: Date(timeIntervalSince1970: 1_700_000_000))
        }
        // Assumed-role credentials, as every discovered account's calls have: STS session tokens run to a kilobyte
        // and more, and the token is signed (and so copied and hashed) with every request.
        let assumedRole = SigV4Signer(
            credentials: AWSCredentials(
                accessKeyID: "ASIAEXAMPLE", secretAccessKey: "secret",
                sessionToken: String(repeating: "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ", count: 20)),
            region: "us-east-1",
            service: "sso"
        )
        measure("SigV4 sign with a 1 KiB session token", iterations: 20_000) {
            var request = listInstances()
            assumedRole.sign(&request, date: Date(timeIntervalSince1970: 1_700_000_000))
        }
        // The first call of every target in a round signs with credentials it has not signed with before.
        measure("SigV4 sign with new credentials (key derived)", iterations: 20_000) {
            var request = listInstances()
            SigV4Signer(
                credentials: signer.credentials, region: "us-east-1", service: "sso",
                keyCache: SigningKeyCache(capacity: 1)
            ).sign(&request, date: Date(timeIntervalSince1970: 1_700_000_000))
        }
    }

    static func decoding() {
        let page: [String: Any] = [
            "Instances": FakeInstance.numbered(10).map { instance in
                [
                    "InstanceArn": instance.instanceArn, "IdentityStoreId": instance.identityStoreId!,
                    "OwnerAccountId": instance.ownerAccountId!, "Name": instance.name!,
                    "CreatedDate": instance.createdDate!, "Status": "ACTIVE",
                ]
            },
            "NextToken": "tok-10",
        ]
        let bytes = Array(try! JSONSerialization.data(withJSONObject: page))
        measure("decode a 10-instance ListInstances page", iterations: 5_000) {
            _ = try! SSOAdminClient.decodePage(bytes)
        }
    }

    static func snapshot(instances count: Int) -> CollectionSnapshot {
        let statuses: [InstanceStatus] = [.active, .createFailed, .createInProgress, .deleteInProgress]
        let instances = FakeInstance.numbered(count).enumerated().map { index, fake in
            InstanceMetadata(
                instanceArn: fake.instanceArn, identityStoreId: fake.identityStoreId,
                ownerAccountId: fake.ownerAccountId, name: fake.name, createdDate: fake.createdDate,
                status: statuses[index % 4], statusReason: index % 4 == 1 ? "KMS key not accessible" : nil)
        }
        return CollectionSnapshot(
            target: CollectionTarget(region: "us-east-1"),
            outcome: .success(instances: instances, pages: (count + 9) / 10),
            collectedAt: Date(), duration: .milliseconds(5), finishedAt: MonotonicInstant(offset: .zero))
    }

    static func rendering(instances count: Int) {
        let snapshot = snapshot(instances: count)
        let renderer = SnapshotRenderer()
        var size = 0
        measure("render /metrics snapshot, \(count) instances", iterations: count >= 10_000 ? 10 : 50) {
            var writer = PrometheusTextWriter(reservingCapacity: 16_384 + count * 1_200)
            renderer.render(snapshot, into: &writer)
            size = writer.bytes.count
        }
        print("    (\(size / 1024) KiB of exposition)")
    }

    /// CPU and bytes per scrape for the gzip levels worth choosing between; the exporter uses
    /// `ResponseCompression.level`.
    static func compression(instances count: Int) {
        var writer = PrometheusTextWriter(reservingCapacity: 16_384 + count * 1_200)
        SnapshotRenderer().render(snapshot(instances: count), into: &writer)
        let exposition = ByteBuffer(bytes: writer.bytes)
        for level: Int32 in [1, 6, 9] {
            var size = 0
            measure("gzip /metrics, \(count) instances, level \(level)", iterations: 20) {
                size = ResponseCompression.gzip(exposition, level: level)?.readableBytes ?? 0
            }
            print("    (\(exposition.readableBytes / 1024) KiB in, \(size / 1024) KiB out)")
        }
    }

    static func endToEnd(instances count: Int, scrapes: Int) async throws {
        let service = FakeSSOAdminService(instances: FakeInstance.numbered(count))
        let server = try await FakeHTTPServer.start(ssoAdmin: service, sts: FakeSTSService())
        let http = AsyncHTTPClientTransport.makeHTTPClient(connectTimeout: .seconds(2))
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let options = try ExporterOptions.parse(["--aws.region", "us-east-1"])
        let configuration = try ExporterConfiguration.resolve(
            options, environment: ["AWS_ENDPOINT_URL": server.endpoint])
        let page = try Exporter(
            configuration: configuration,
            credentialProvider: StaticCredentialProvider(AWSCredentials(accessKeyID: "AKID", secretAccessKey: "s")),
            // AsyncHTTPClient, as the figures before 2026-12 were measured: the production transport's own
            // figures are the organization benchmark's.
            client: AWSClient(
                configuration: configuration.awsClient(logger: logger),
                transport: AsyncHTTPClientTransport(client: http)),
            logger: logger
        )
        let clock = AWSClock.continuous
        async let scheduler: Void = page.scheduler.run()

        // The fake's own time: the same pages fetched with bare HTTP, no signing, decoding or rendering.
        func bareFetch() async throws {
            var token: String?
            repeat {
                var request = HTTPClientRequest(url: server.endpoint + "/")
                request.method = .POST
                request.headers.add(name: "X-Amz-Target", value: "SWBExternalService.ListInstances")
                request.headers.add(name: "Content-Type", value: "application/x-amz-json-1.1")
                request.headers.add(
                    name: "Authorization", value: "AWS4-HMAC-SHA256 Credential=A/20240101/us-east-1/sso/aws4_request")
                request.headers.add(name: "X-Amz-Date", value: "20240101T000000Z")
                let body = token.map { #"{"MaxResults":100,"NextToken":"\#($0)"}"# } ?? #"{"MaxResults":100}"#
                request.body = .bytes(ByteBuffer(string: body))
                let response = try await http.execute(request, timeout: .seconds(10))
                let bytes = try await response.body.collect(upTo: 1 << 20)
                let object = try JSONSerialization.jsonObject(with: Data(bytes.readableBytesView)) as? [String: Any]
                token = object?["NextToken"] as? String
            } while token != nil
        }

        for _ in 0..<5 {
            _ = await page.exposition(deadline: clock.now().advanced(by: .seconds(30)))
            try await bareFetch()
        }
        var exporterTimes: [Duration] = []
        var bareTimes: [Duration] = []
        for _ in 0..<scrapes {
            let started = ContinuousClock.now
            let bytes = await page.exposition(deadline: clock.now().advanced(by: .seconds(30)))
            exporterTimes.append(ContinuousClock.now - started)
            precondition(
                String(decoding: bytes.prefix(400), as: UTF8.self).contains(
                    "collect_success{region=\"us-east-1\",account_id=\"123456789012\"} 1"))
            let bareStarted = ContinuousClock.now
            try await bareFetch()
            bareTimes.append(ContinuousClock.now - bareStarted)
        }
        let exporter = exporterTimes.sorted()[scrapes / 2]
        let bare = bareTimes.sorted()[scrapes / 2]
        print(
            String(
                format: "%-52@ %12.1f ms", "end-to-end scrape, \(count) instances (median)" as NSString,
                exporter.milliseconds))
        print(
            String(
                format: "%-52@ %12.1f ms", "  the fake's own time for the same pages (median)" as NSString,
                bare.milliseconds))
        print(String(format: "%-52@ %12.1f ms", "  exporter overhead" as NSString, (exporter - bare).milliseconds))
        (page.scheduler as? OnScrapeScheduler)?.shutDown()
        try await scheduler
        await server.stop()
        try await http.shutdown()
    }
}

extension Benchmarks {
    /// Runs the real exporter binary (built next to this one) against a loopback fake and reads its own
    /// `process_resident_memory_bytes` as scrapes go by.
    static func exporterMemory(instances count: Int, scrapes: Int) async throws {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("sso-admin-exporter")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            print("memory: build the exporter too (swift build -c release) to measure its resident memory")
            return
        }
        let service = FakeSSOAdminService(instances: FakeInstance.numbered(count))
        let server = try await FakeHTTPServer.start(ssoAdmin: service, sts: FakeSTSService())
        let port = try ExternalTools.freeLoopbackPort()
        let process = Process()
        process.executableURL = binary
        // One of the instances is the caller's own (FakeInstance.numbered): DescribeInstance and one ListRegions page
        // per scrape, unless `--no-instance-details`.
        process.arguments =
            ["--web.listen-address", "127.0.0.1:\(port)", "--log.level", "error"]
            + (CommandLine.arguments.contains("--no-instance-details") ? ["--no-collect.instance-details"] : [])
        process.environment = [
            "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": server.endpoint, "AWS_ACCESS_KEY_ID": "AKID",
            "AWS_SECRET_ACCESS_KEY": "secret",
        ].merging(ProcessInfo.processInfo.environment.filter { $0.key == "GLIBC_TUNABLES" }) { $1 }
        try process.run()
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        func scrape() async throws -> ParsedExposition? {
            let response = try await http.execute(
                HTTPClientRequest(url: "http://127.0.0.1:\(port)/metrics"), timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 64 << 20)
            return try ExpositionParser.parse(String(buffer: body))
        }
        var idle: Double?
        for _ in 0..<100 where idle == nil {
            if let metrics = try? await scrape() {
                idle = metrics.value("process_resident_memory_bytes")
            } else {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        // The exporter's own CPU (user and system, from /proc) over the scrapes: what one scrape of `count` instances
        // costs it, requests, signing, decoding, rendering and gzip included, the fake's share not.
        func exporterCPU() -> Double? {
            guard let stat = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8),
                let afterName = stat.lastIndex(of: ")")
            else { return nil }
            let fields = stat[stat.index(after: afterName)...].split(separator: " ")
            guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
            return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
        }
        let cpuBefore = exporterCPU()
        var samples: [(Int, Double)] = []
        for index in 1...scrapes {
            let metrics = try await scrape()
            precondition(metrics?.value("aws_sso_admin_collect_success") == 1, "scrape \(index): the collection failed")
            if index == 1 || index % 50 == 0 {
                samples.append((index, metrics?.value("process_resident_memory_bytes") ?? 0))
            }
        }
        let cpuAfter = exporterCPU()
        let anonymous = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("RssAnon:") }.map {
                $0.split(separator: " ").dropFirst().first ?? ""
            }
        let mappings = residentByMapping(pid: process.processIdentifier)
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        try await http.shutdown()
        await server.stop()
        // Both units, since targets are often stated in MB (10^6 bytes) and tools report MiB.
        let both = { (bytes: Double) in String(format: "%.1f MiB = %.1f MB", bytes / 1_048_576, bytes / 1e6) }
        print("exporter resident memory, \(count) instances per scrape: first scrape \(both(idle ?? 0))")
        print("    " + samples.map { "after \($0.0): \(both($0.1))" }.joined(separator: ", "))
        if let cpuBefore, let cpuAfter {
            print(
                String(
                    format: "exporter CPU per scrape of %d instances: %.2f ms (%d scrapes)", count,
                    (cpuAfter - cpuBefore) / Double(scrapes) * 1e3, scrapes))
        }
        if let anonymous { print("    of which anonymous (not shared library pages) at the end: \(anonymous) kB") }
        print(
            "    largest resident mappings at the end (kB): "
                + mappings.prefix(8).map { "\($0.0) \($0.1)" }.joined(separator: ", "))
    }

    /// Resident kB per mapped file (anonymous memory under `[anon]`), largest first, from `/proc/PID/smaps`.
    static func residentByMapping(pid: Int32) -> [(String, Int)] {
        // Read to the end: proc files report size 0, and a size-based read stops after the first page.
        guard let handle = FileHandle(forReadingAtPath: "/proc/\(pid)/smaps") else { return [] }
        let smaps = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        var totals: [String: Int] = [:]
        var current = "[anon]"
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let first = fields.first, first.contains("-"), fields.count >= 5 {
                current = fields.count >= 6 ? String(fields[5].split(separator: "/").last ?? fields[5]) : "[anon]"
            } else if fields.first == "Rss:", fields.count >= 2, let kilobytes = Int(fields[1]) {
                totals[current, default: 0] += kilobytes
            }
        }
        return totals.sorted { $0.value > $1.value }.map { ($0.key, $0.value) }
    }
}

extension Duration {
    var microseconds: Double { Double(components.seconds) * 1e6 + Double(components.attoseconds) / 1e12 }
    var milliseconds: Double { microseconds / 1000 }
}

extension Exporter {
    /// What `/metrics` writes, gathered whole, without the HTTP server around it: what the benchmarks time.
    func exposition(deadline: MonotonicInstant) async -> [UInt8] {
        let snapshots = await routes.metrics.snapshots(deadline: deadline)
        var writer = PrometheusTextWriter(
            reservingCapacity: 16_384 + snapshots.reduce(0) { $0 + ($1.reportedInstances?.count ?? 0) } * 1_200)
        await routes.metrics.write(snapshots, into: &writer) { _ in }
        return writer.bytes
    }
}
