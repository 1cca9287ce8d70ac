import AWSClient
import Foundation
import Logging
import NIOCore
import NIOPosix
import SSOAdminExporter
import Synchronization
import TestSupport
import Testing

extension DeadlineTests {
    @Suite("collection against a fake sso-admin")
    struct CollectionTests {
        @Test("pagination: every instance, the right page count", arguments: [0, 1, 10, 25, 1000])
        func pagination(count: Int) async throws {
            try await ExporterHarness.with(instances: FakeInstance.numbered(count)) { harness in
                let metrics = try await harness.scrape()
                let pages = max(1, (count + 9) / 10)
                #expect(metrics.success == 1)
                #expect(metrics.value("aws_sso_admin_list_instances_pages") == Double(pages))
                #expect(metrics.requests == Double(pages))
                #expect(metrics.value("aws_sso_admin_instances", ["status": "ACTIVE"]) == Double(count))
                #expect(metrics.samples("aws_sso_admin_instance_info").count == count)
                #expect(metrics.samples("aws_sso_admin_instance_status").count == 4 * count)
                #expect(metrics.samples("aws_sso_admin_instance_status").filter { $0.value == 1 }.count == count)
                #expect(harness.service.requests.allSatisfy { $0.maxResults == 100 })
            }
        }

        @Test("--aws.page-size is sent as MaxResults")
        func pageSize() async throws {
            try await ExporterHarness.with(instances: FakeInstance.numbered(12), arguments: ["--aws.page-size", "5"]) {
                harness in
                let metrics = try await harness.scrape()
                #expect(metrics.value("aws_sso_admin_list_instances_pages") == 3)
                #expect(harness.service.requests.map(\.maxResults) == [5, 5, 5])
                #expect(harness.service.requests.map(\.nextToken) == [nil, "tok-5", "tok-10"])
            }
        }

        static let mixed: [FakeInstance] = [
            FakeInstance(instanceArn: "arn:aws:sso:::instance/ssoins-aaaaaaaaaaaaaaaa", name: "prod", status: "ACTIVE"),
            FakeInstance(
                instanceArn: "arn:aws:sso:::instance/ssoins-bbbbbbbbbbbbbbbb", name: nil, status: "CREATE_FAILED",
                statusReason: "KMS key\u{0007} not accessible\nby the service"),
            FakeInstance(instanceArn: "arn:aws:sso:::instance/ssoins-cccccccccccccccc", status: "CREATE_IN_PROGRESS"),
            FakeInstance(instanceArn: "arn:aws:sso:::instance/ssoins-dddddddddddddddd", status: "DELETE_IN_PROGRESS"),
            FakeInstance(
                instanceArn: "arn:aws:sso:::instance/ssoins-eeeeeeeeeeeeeeee", createdDate: nil, status: "SUSPENDED"),
        ]

        @Test("every status, an unknown one, null Name and a status reason")
        func statuses() async throws {
            try await ExporterHarness.with(instances: Self.mixed) { harness in
                let metrics = try await harness.scrape()
                for status in ["ACTIVE", "CREATE_FAILED", "CREATE_IN_PROGRESS", "DELETE_IN_PROGRESS", "SUSPENDED"] {
                    #expect(metrics.value("aws_sso_admin_instances", ["status": status]) == 1, "status \(status)")
                }
                // The state set: exactly one series at 1 per instance, and it is the reported status.
                for instance in Self.mixed {
                    let series = metrics.samples(
                        "aws_sso_admin_instance_status", ["instance_arn": instance.instanceArn])
                    let current = series.filter { $0.value == 1 }
                    #expect(current.count == 1)
                    #expect(current.first?.labels["status"] == instance.status)
                    #expect(series.count == (instance.status == "SUSPENDED" ? 5 : 4))
                }
                let failed = "arn:aws:sso:::instance/ssoins-bbbbbbbbbbbbbbbb"
                #expect(
                    metrics.value("aws_sso_admin_instance_status", ["instance_arn": failed, "status": "CREATE_FAILED"])
                        == 1
                )
                #expect(
                    metrics.samples("aws_sso_admin_instance_info", ["instance_arn": failed]).first?.labels["name"] == ""
                )
                #expect(
                    metrics.samples("aws_sso_admin_instance_info", ["instance_arn": Self.mixed[0].instanceArn]).first?
                        .labels["instance_id"] == "ssoins-aaaaaaaaaaaaaaaa")
                let reasons = metrics.samples("aws_sso_admin_instance_status_reason_info")
                #expect(reasons.count == 1)
                #expect(reasons.first?.labels["reason"] == "KMS key not accessibleby the service")
                #expect(reasons.first?.labels["status"] == "CREATE_FAILED")
                // No creation time was reported for the SUSPENDED one, so neither timestamp nor age is invented.
                #expect(metrics.samples("aws_sso_admin_instance_creation_timestamp_seconds").count == 4)
                #expect(metrics.samples("aws_sso_admin_instance_age_seconds").count == 4)
                #expect(
                    metrics.value("aws_sso_admin_instance_creation_timestamp_seconds", ["instance_arn": failed])
                        == 1_700_000_000.25)
            }
        }

        @Test(
            "each modeled exception is counted and fails the collection without inventing series",
            arguments: [
                ("ThrottlingException", 400, 3.0), ("InternalServerException", 500, 3),
                ("AccessDeniedException", 400, 1),
                ("ValidationException", 400, 1),
            ])
        func modeledErrors(code: String, status: Int, attempts: Double) async throws {
            try await ExporterHarness.with(instances: FakeInstance.numbered(3)) { harness in
                harness.service.inject(Array(repeating: .serviceError(code: code, status: status), count: 3))
                let metrics = try await harness.scrape()
                #expect(metrics.success == 0)
                #expect(metrics.errors(code) == attempts)
                #expect(metrics.requests == attempts)
                #expect(metrics.samples("aws_sso_admin_instance_info").isEmpty)
                #expect(metrics.samples("aws_sso_admin_instances").isEmpty)
                for other in SSOAdminClient.modeledErrors where other != code {
                    #expect(metrics.errors(other) == 0, "\(other) is present at 0")
                }
            }
        }

        @Test("error code in the X-Amzn-ErrorType header")
        func headerErrorCode() async throws {
            try await ExporterHarness.with(instances: []) { harness in
                harness.service.inject([.serviceError(code: "AccessDeniedException", status: 400, inHeader: true)])
                let metrics = try await harness.scrape()
                #expect(metrics.errors("AccessDeniedException") == 1)
            }
        }

        @Test("throttling then success")
        func throttlingThenSuccess() async throws {
            try await ExporterHarness.with(instances: FakeInstance.numbered(2)) { harness in
                harness.service.inject([.serviceError(code: "ThrottlingException", status: 400)])
                let metrics = try await harness.scrape()
                #expect(metrics.success == 1)
                #expect(metrics.errors("ThrottlingException") == 1)
                #expect(metrics.requests == 2)
                #expect(metrics.value("aws_sso_admin_instances", ["status": "ACTIVE"]) == 2)
            }
        }

        @Test(
            "faults below the protocol",
            arguments: [
                (FakeFault.malformedJSON, "InvalidResponse", 1.0),
                (.nonJSON503, "ServiceUnavailable", 3),
                (.connectionReset, "ConnectionError", 3),
            ])
        func transportFaults(fault: FakeFault, exception: String, count: Double) async throws {
            try await ExporterHarness.with(instances: FakeInstance.numbered(1)) { harness in
                harness.service.inject(Array(repeating: fault, count: Int(count)))
                let metrics = try await harness.scrape()
                #expect(metrics.success == 0)
                #expect(metrics.errors(exception) == count)
                // And the exporter recovers on the next scrape once the fault is gone.
                let recovered = try await harness.scrape()
                #expect(recovered.success == 1)
                #expect(recovered.samples("aws_sso_admin_instance_info").count == 1)
            }
        }

        @Test("unknown error names get their own series; garbage is counted as Unknown")
        func unknownErrorNames() async throws {
            try await ExporterHarness.with(instances: []) { harness in
                harness.service.inject([
                    .serviceError(code: "ResourceNotFoundException", status: 400),
                    .serviceError(code: "bad name with spaces{}", status: 400),
                ])
                _ = try await harness.scrape()
                let metrics = try await harness.scrape()
                #expect(metrics.errors("ResourceNotFoundException") == 1)
                #expect(metrics.errors("Unknown") == 1)
            }
        }

        @Test("a service that repeats NextToken is stopped and counted")
        func repeatedToken() async throws {
            try await ExporterHarness.with(instances: FakeInstance.numbered(30)) { harness in
                harness.service.setRepeatTokens(true)
                let metrics = try await harness.scrape()
                #expect(metrics.success == 0)
                #expect(metrics.errors("PaginationLoop") == 1)
                #expect(metrics.requests == 2)
            }
        }

        @Test("a failed collection keeps its cause as a value: the service's error, or pages that would never end")
        func structuredFailure() async throws {
            func failure(_ harness: ExporterHarness) async throws -> CollectionFailure {
                let snapshots = await harness.page.scheduler.snapshots(
                    deadline: harness.clock.now().advanced(by: .seconds(30)))
                guard case .failure(let failure) = try #require(snapshots.first).outcome else {
                    Issue.record("the collection succeeded")
                    throw CancellationError()
                }
                return failure
            }
            try await ExporterHarness.with(instances: FakeInstance.numbered(30)) { harness in
                harness.service.inject([.serviceError(code: "AccessDeniedException", status: 400)])
                guard case .aws(let awsError) = try await failure(harness), let error = awsError.serviceError else {
                    Issue.record("not a service error")
                    return
                }
                #expect(error.code == "AccessDeniedException")
                #expect(error.statusCode == 400)
            }
            try await ExporterHarness.with(instances: FakeInstance.numbered(30)) { harness in
                harness.service.setRepeatTokens(true)
                guard case .aws(let awsError) = try await failure(harness), let error = awsError.paginationError else {
                    Issue.record("not a pagination error")
                    return
                }
                #expect(error.operation == "ListInstances")
                #expect(error.kind == .repeatedToken(afterPages: 2))
            }
        }

        @Test("a server that never answers: the scrape still answers in time")
        func neverAnswers() async throws {
            try await ExporterHarness.with(instances: FakeInstance.numbered(1), clock: .continuous) { harness in
                harness.service.inject([.hang])
                let started = ContinuousClock.now
                // A 1 s budget leaves the collection the full 250 ms grace to unwind its cancelled request and count the
                // timeout before the answer, also on a loaded machine.
                let metrics = try await harness.scrape(budget: .seconds(1))
                let elapsed = ContinuousClock.now - started
                #expect(elapsed < .seconds(3), "answered after \(elapsed)")
                #expect(metrics.success == 0)
                #expect(metrics.errors("Timeout") == 1)
            }
        }

        @Test("a failed collection after a good one drops the per-instance series")
        func failureAfterSuccess() async throws {
            try await ExporterHarness.with(instances: FakeInstance.numbered(2)) { harness in
                let before = try await harness.scrape()
                #expect(before.samples("aws_sso_admin_instance_info").count == 2)
                harness.service.inject([.serviceError(code: "AccessDeniedException", status: 400)])
                let metrics = try await harness.scrape()
                #expect(metrics.success == 0)
                #expect(metrics.samples("aws_sso_admin_instance_info").isEmpty)
                #expect(metrics.samples("aws_sso_admin_instance_status").isEmpty)
            }
        }

        @Test("concurrent scrapes share one collection")
        func sharedCollection() async throws {
            try await ExporterHarness.with(instances: FakeInstance.numbered(5), clock: .continuous) { harness in
                harness.service.setResponseDelay(.milliseconds(300))
                let results = try await withThrowingTaskGroup(of: ParsedExposition.self) { group in
                    for _ in 0..<8 { group.addTask { try await harness.scrape() } }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(results.count == 8)
                #expect(results.allSatisfy { $0.success == 1 })
                #expect(harness.service.requests.count == 1)
            }
        }

        @Test("--collect.min-interval reuses a recent result and says so in HELP")
        func minInterval() async throws {
            let manual = ManualClock()
            try await ExporterHarness.with(
                instances: FakeInstance.numbered(1), arguments: ["--collect.min-interval", "30s"],
                clock: AWSClock(manual)
            ) { harness in
                let first = try await harness.scrape()
                _ = try await harness.scrape()
                #expect(harness.service.requests.count == 1)
                #expect(first.help["aws_sso_admin_instances"]?.contains("--collect.min-interval") == true)
                manual.advance(by: .seconds(31))
                _ = try await harness.scrape()
                #expect(harness.service.requests.count == 2)
            }
        }

        @Test("without a minimum interval every scrape collects, and HELP says nothing of reuse")
        func everyScrape() async throws {
            try await ExporterHarness.with(instances: FakeInstance.numbered(1)) { harness in
                let metrics = try await harness.scrape()
                _ = try await harness.scrape()
                #expect(harness.service.requests.count == 2)
                #expect(metrics.help["aws_sso_admin_instances"]?.contains("min-interval") == false)
            }
        }

        @Test("both schedulers start each collection on the collector's task executor, not on the global one")
        func collectionsRunOnTheTaskExecutor() async throws {
            let loops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            let executor = EventLoopGroupTaskExecutor(group: loops)
            // Per target, whether each of its collections ran on the executor's loop.
            let onLoop = Mutex<[String: [Bool]]>([:])
            let sources = (1...3).map { index in
                TargetSource(
                    target: CollectionTarget(name: "t\(index)", region: "us-east-1", accountID: "11112222333\(index)")
                ) { _ in
                    onLoop.withLock { $0["t\(index)", default: []].append(executor.currentLoop != nil) }
                    return (instances: [], pages: 1)
                }
            }
            let collector = TargetCollector(
                metrics: ExporterSelfMetrics(), taskExecutor: executor, logger: Logger(label: "test"))

            let periodic = PeriodicScheduler(
                targets: TargetSet(configured: sources), collector: collector, interval: .seconds(60),
                timeout: .seconds(5), maxStale: .seconds(60), maxConcurrency: 2, logger: Logger(label: "test"))
            await periodic.collectRound()
            #expect(onLoop.withLock { $0 } == ["t1": [true], "t2": [true], "t3": [true]])

            onLoop.withLock { $0 = [:] }
            let onScrape = OnScrapeScheduler(targets: TargetSet(configured: sources), collector: collector)
            async let running: Void = onScrape.run()
            let snapshots = await onScrape.snapshots(deadline: AWSClock.continuous.now().advanced(by: .seconds(5)))
            onScrape.shutDown()
            await running
            #expect(snapshots.map(\.target.name) == ["t1", "t2", "t3"])
            #expect(onLoop.withLock { $0 } == ["t1": [true], "t2": [true], "t3": [true]])
            try await loops.shutdownGracefully()
        }
    }
}
