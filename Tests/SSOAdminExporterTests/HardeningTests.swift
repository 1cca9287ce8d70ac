import AWSClient
import AsyncHTTPClient
import CompressNIO
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import SSOAdminExporter
import TestSupport
import Testing

extension DeadlineTests {
    @Suite("collection under hostile AWS responses")
    struct CollectionHardeningTests {
        @Test("a body that stalls is a Timeout: counted, timed, and the scrape answers by its deadline")
        func stalledBody() async throws {
            try await ExporterHarness.with(
                instances: FakeInstance.numbered(3), arguments: ["--aws.request-timeout", "1s"], clock: .continuous
            ) { harness in
                harness.service.inject(Array(repeating: .stalledBody, count: 5))
                let (parsed, elapsed, lateness) = try await withSchedulerLateness(over: .milliseconds(1500)) {
                    try await harness.scrape(budget: .milliseconds(1500))
                }
                // The collection's deadline is 1.25 s (1.5 s less at most 250 ms); alone it ends there, the timeout is
                // counted, and the answer follows. Beside the suite's process-starting tests on two cores timers have fired
                // up to 0.4 s late, so the bound allows that lateness and catches only gross overruns (an unbounded stall
                // holds the collection to the 10 s timeout).
                #expect(
                    elapsed < .seconds(2) + lateness,
                    "the scrape overran its deadline: \(elapsed), timers ran \(lateness) late")
                #expect(parsed.success == 0)
                // On a loaded machine the cancelled request may finish unwinding just after the scrape was answered; it is
                // counted then, as a Timeout of an attempt that was sent.
                let counted = try await eventually(timeout: .seconds(5)) { () -> ParsedExposition? in
                    var writer = PrometheusTextWriter()
                    await harness.page.selfMetrics.write(Scrape(snapshots: []), into: &writer) { _ in }
                    let registry = try ExpositionParser.parse(String(decoding: writer.bytes, as: UTF8.self))
                    return (registry.errors("Timeout") ?? 0) >= 1 ? registry : nil
                }
                let registry = try #require(counted, "the stalled body was never counted as a Timeout")
                #expect((registry.requests ?? 0) >= 1)
                let count = registry.value(
                    "aws_sso_admin_api_request_duration_seconds_count", ["operation": "ListInstances"])
                #expect((count ?? 0) >= 1)
            }
        }

        @Test("a NextToken longer than the model allows stops the collection after one page")
        func hugeToken() async throws {
            try await ExporterHarness.with(instances: FakeInstance.numbered(3)) { harness in
                harness.service.inject(Array(repeating: .hugeToken(bytes: 100_000), count: 50))
                let parsed = try await harness.scrape()
                #expect(parsed.success == 0)
                #expect(parsed.errors("InvalidResponse") == 1)
                #expect(harness.service.requests.count == 1)
            }
        }

        @Test("tokens at the model's limit, all different, are followed; loop detection keeps digests, not tokens")
        func changingTokensWithinLimit() async throws {
            try await ExporterHarness.with(instances: FakeInstance.numbered(3)) { harness in
                harness.service.inject(
                    Array(repeating: .hugeToken(bytes: ListInstancesPaginator.maxTokenLength), count: 30))
                let parsed = try await harness.scrape()
                #expect(parsed.success == 1)
                #expect(parsed.value("aws_sso_admin_list_instances_pages", ["region": "us-east-1"]) == 31)
            }
        }

        @Test("echoed request headers and megabyte messages reach the logs cut and without credentials")
        func scrubbedLogs() async throws {
            let capture = CapturedLines()
            let logger = Logger(label: "test") { label in
                ExporterLogHandler(label: label, level: .debug, format: .logfmt, write: { capture.append($0) })
            }
            let credentials = AWSCredentials(
                accessKeyID: "AKIDECHOTEST0001", secretAccessKey: "echo-secret-never-logged",
                sessionToken: "echo-session-token-never-logged")
            try await ExporterHarness.with(
                instances: FakeInstance.numbered(1), credentials: credentials, logger: logger
            ) { harness in
                harness.service.inject([.echoHeaders, .hugeMessage(bytes: 1 << 20)])
                _ = try await harness.scrape()
                _ = try await harness.scrape()
            }
            let lines = capture.all
            #expect(lines.contains { $0.contains("ValidationException") })
            for line in lines {
                #expect(line.utf8.count < 4096, "a log line of \(line.utf8.count) bytes")
                for secret in ["AKIDECHOTEST0001", "echo-secret-never-logged", "echo-session-token-never-logged"] {
                    #expect(!line.contains(secret), "\(line)")
                }
                if let signature = line.firstRange(of: "Signature=") {
                    #expect(line[signature.upperBound...].hasPrefix(NetworkText.redacted), "\(line)")
                }
            }
        }

        @Test("a shut-down collector answers a waiting scrape at once and cancels the AWS call")
        func shutdownAnswersWaiters() async throws {
            try await ExporterHarness.with(
                instances: FakeInstance.numbered(1), arguments: ["--aws.request-timeout", "60s"], clock: .continuous
            ) { harness in
                harness.service.inject([.hang])
                let scheduler = try #require(harness.page.scheduler as? OnScrapeScheduler)
                let started = ContinuousClock.now
                async let snapshots = scheduler.snapshots(deadline: harness.clock.now().advanced(by: .seconds(60)))
                try await Task.sleep(for: .milliseconds(300))
                scheduler.shutDown()
                let result = try #require(await snapshots.first)
                #expect(!result.succeeded)
                #expect(ContinuousClock.now - started < .seconds(3))
                let after = try #require(
                    await scheduler.snapshots(deadline: harness.clock.now().advanced(by: .seconds(60))).first)
                #expect(!after.succeeded)
            }
        }
    }
}

extension DeadlineTests {
    @Suite("rendering under hostile instance data")
    struct RenderingHardeningTests {
        func render(_ instances: [InstanceMetadata]) throws -> ParsedExposition {
            let snapshot = CollectionSnapshot(
                target: CollectionTarget(region: "us-east-1"), outcome: .success(instances: instances, pages: 1),
                collectedAt: Date(timeIntervalSince1970: 1_800_000_000), duration: .milliseconds(5),
                finishedAt: MonotonicInstant(offset: .zero))
            var writer = PrometheusTextWriter(reservingCapacity: 1024)
            SnapshotRenderer().render(snapshot, into: &writer)
            return try ExpositionParser.parse(String(decoding: writer.bytes, as: UTF8.self))
        }

        @Test("instances without an ARN are counted apart, not in the status totals")
        func missingARN() throws {
            let parsed = try render([
                InstanceMetadata(instanceArn: nil, status: .active),
                InstanceMetadata(instanceArn: "", status: .createFailed),
                InstanceMetadata(instanceArn: "arn:aws:sso:::instance/ssoins-1", status: .active),
            ])
            #expect(parsed.value("aws_sso_admin_instances_unidentified") == 2)
            #expect(parsed.value("aws_sso_admin_instances", ["status": "ACTIVE"]) == 1)
            #expect(parsed.value("aws_sso_admin_instances", ["status": "CREATE_FAILED"]) == 0)
            #expect(parsed.samples("aws_sso_admin_instance_info").count == 1)
        }

        @Test("thousands of distinct unknown statuses make a bounded number of series")
        func manyStatuses() throws {
            let instances = (0..<2000).map {
                InstanceMetadata(
                    instanceArn: "arn:aws:sso:::instance/ssoins-\($0)", status: InstanceStatus(rawValue: "S\($0)"))
            }
            let parsed = try render(instances)
            let statuses = Set(parsed.samples("aws_sso_admin_instances").compactMap { $0.labels["status"] })
            #expect(statuses.count <= InstanceStatus.modeled.count + 9)
            let other = try #require(parsed.value("aws_sso_admin_instances", ["status": "OTHER"]))
            #expect(other == 1992)
        }
    }
}

extension DeadlineTests {
    @Suite("HTTP semantics")
    struct HTTPSemanticsTests {
        func withRouterApp(
            instances: Int = 20, testing: TestingSetup = .router,
            _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void
        ) async throws {
            try await ExporterHarness.with(instances: FakeInstance.numbered(instances)) { harness in
                let app = Application(
                    router: ExporterRouter.make(harness.page.routes, clock: harness.clock),
                    configuration: .init(address: .hostname("127.0.0.1", port: 0)))
                try await app.test(testing) { client in try await body(client) }
            }
        }

        @Test(
            "an exposition many times the piece size arrives whole, plain and gzipped, in process and over a socket",
            arguments: [TestingSetup.router, .live])
        func streamedPieces(testing: TestingSetup) async throws {
            // 1,500 instances make about 1.8 MB of exposition: fourteen pieces of 128 KiB.
            try await withRouterApp(instances: 1_500, testing: testing) { client in
                var text = ""
                try await client.execute(uri: "/metrics", method: .get) { response in
                    #expect(response.headers[.contentEncoding] == nil)
                    #expect(response.body.readableBytes > 10 * ExporterRouter.streamedPieceBytes)
                    text = String(buffer: response.body)
                }
                let plain = try ExpositionParser.parse(text)
                #expect(plain.samples("aws_sso_admin_instance_info").count == 1_500)
                #expect(plain.samples("aws_sso_admin_instance_status").count == 6_000)
                #expect(plain.value("process_resident_memory_bytes") != nil)
                try await client.execute(uri: "/metrics", method: .get, headers: [.acceptEncoding: "gzip"]) {
                    response in
                    #expect(response.headers[.contentEncoding] == "gzip")
                    var body = response.body
                    let inflated = try ExpositionParser.parse(String(buffer: try body.decompress(with: .gzip())))
                    for family in ["aws_sso_admin_instance_info", "aws_sso_admin_instance_age_seconds"] {
                        #expect(inflated.samples(family).count == plain.samples(family).count, "\(family)")
                    }
                    #expect(inflated.value("process_resident_memory_bytes") != nil)
                }
            }
        }

        @Test("HEAD wherever GET is served; 405 with Allow for other methods there; 404 with a text body")
        func methods() async throws {
            try await withRouterApp { client in
                // With a trailing slash too: the router ignores empty segments, and the 405 agrees with it.
                for path in ["/metrics", "/", "/-/healthy", "/-/ready", "/metrics/", "/-/ready/"] {
                    try await client.execute(uri: path, method: .head) { response in
                        #expect(response.status == .ok, "HEAD \(path)")
                        #expect(response.body.readableBytes == 0)
                    }
                    for method in [HTTPRequest.Method.post, .put, .delete] {
                        try await client.execute(uri: path, method: method) { response in
                            #expect(response.status == .methodNotAllowed, "\(method) \(path)")
                            #expect(response.headers[.allow] == "GET, HEAD")
                            #expect(String(buffer: response.body).contains("405"))
                        }
                    }
                }
                try await client.execute(uri: "/nope", method: .get) { response in
                    #expect(response.status == .notFound)
                    #expect(String(buffer: response.body) == "404 page not found\n")
                }
            }
        }

        @Test("gzip when the scrape asks for it, the same exposition once inflated; plain otherwise")
        func gzip() async throws {
            try await withRouterApp { client in
                var plain = ""
                try await client.execute(uri: "/metrics", method: .get) { response in
                    #expect(response.headers[.contentEncoding] == nil)
                    plain = String(buffer: response.body)
                }
                try await client.execute(
                    uri: "/metrics", method: .get, headers: [.acceptEncoding: "gzip, deflate;q=0.5"]
                ) { response in
                    #expect(response.headers[.contentEncoding] == "gzip")
                    var body = response.body
                    #expect(body.readableBytes < plain.utf8.count / 3)
                    let inflated = try body.decompress(with: .gzip())
                    let parsed = try ExpositionParser.parse(String(buffer: inflated))
                    #expect(parsed.samples("aws_sso_admin_instance_info").count == 20)
                }
                try await client.execute(uri: "/metrics", method: .get, headers: [.acceptEncoding: "gzip;q=0"]) {
                    response in
                    #expect(response.headers[.contentEncoding] == nil)
                }
            }
        }
    }
}
