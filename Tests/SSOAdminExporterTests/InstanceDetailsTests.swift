import AWSClient
import Foundation
import TestSupport
import Testing

@testable import SSOAdminExporter

extension DeadlineTests {
    /// `DescribeInstance` and sso-admin `ListRegions` after `ListInstances`, through the production transport and the
    /// router's streamed route, against the fake that follows botocore's model.
    @Suite("instance details: encryption and replicated Regions")
    struct InstanceDetailsTests {
        static let arn = "arn:aws:sso:::instance/ssoins-00000000000000aa"
        static let key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

        static func owned(
            encryption: FakeEncryption? = FakeEncryption(), regions: [FakeRegion]? = nil, arn: String = arn
        ) -> FakeInstance {
            FakeInstance(instanceArn: arn, ownerAccountId: "123456789012", encryption: encryption, regions: regions)
        }

        static func value(_ metrics: ParsedExposition, _ name: String, _ labels: [String: String] = [:]) -> Double? {
            metrics.value(name, labels.merging(["region": "us-east-1"]) { given, _ in given })
        }

        static func detailErrors(_ metrics: ParsedExposition, _ operation: String, _ exception: String) -> Double? {
            metrics.value("aws_sso_admin_api_errors_total", ["operation": operation, "exception": exception])
        }

        @Test("a customer-managed key that failed to update and a Region stuck adding, as series")
        func encryptionAndRegions() async throws {
            let instance = Self.owned(
                encryption: .customerManaged("UPDATE_FAILED", reason: "KMS key is disabled\n(since Monday)"),
                regions: [
                    FakeRegion("us-east-1", addedDate: 1_600_000_000, isPrimary: true),
                    FakeRegion("eu-west-1", status: "ADDING", addedDate: 1_700_000_500.5),
                ])
            try await ExporterHarness.with(instances: [instance]) { harness in
                let metrics = try await harness.scrape()
                #expect(metrics.success == 1)
                #expect(Self.value(metrics, "aws_sso_admin_collect_details_success") == 1)
                let info = try #require(metrics.samples("aws_sso_admin_instance_encryption_info").first)
                #expect(info.labels["instance_arn"] == Self.arn)
                #expect(info.labels["key_type"] == "CUSTOMER_MANAGED_KEY")
                #expect(info.labels["kms_key_arn"] == Self.key)
                #expect(info.labels["account_id"] == "123456789012")
                let statuses = metrics.samples("aws_sso_admin_instance_encryption_status")
                #expect(Set(statuses.map { $0.labels["status"] ?? "" }) == ["UPDATING", "ENABLED", "UPDATE_FAILED"])
                #expect(statuses.filter { $0.value == 1 }.map { $0.labels["status"] } == ["UPDATE_FAILED"])
                let reason = try #require(metrics.samples("aws_sso_admin_instance_encryption_status_reason_info").first)
                #expect(reason.labels["reason"] == "KMS key is disabled(since Monday)")
                #expect(reason.labels["status"] == "UPDATE_FAILED")
                #expect(
                    Self.value(
                        metrics, "aws_sso_admin_instance_region_status",
                        ["replica_region": "eu-west-1", "status": "ADDING"]) == 1)
                #expect(metrics.samples("aws_sso_admin_instance_region_status").count == 6)
                #expect(metrics.samples("aws_sso_admin_instance_region_status").filter { $0.value == 1 }.count == 2)
                #expect(
                    Self.value(
                        metrics, "aws_sso_admin_instance_region_info",
                        ["replica_region": "us-east-1", "primary": "true"])
                        == 1)
                #expect(
                    Self.value(
                        metrics, "aws_sso_admin_instance_region_info",
                        ["replica_region": "eu-west-1", "primary": "false"]) == 1)
                #expect(
                    Self.value(
                        metrics, "aws_sso_admin_instance_region_added_timestamp_seconds",
                        ["replica_region": "eu-west-1"]) == 1_700_000_500.5)
                #expect(Self.value(metrics, "aws_sso_admin_instance_regions", ["instance_arn": Self.arn]) == 2)
                #expect(
                    harness.service.detailRequests.map(\.target) == [
                        "SWBExternalService.DescribeInstance", "SWBExternalService.ListRegions",
                    ])
                #expect(harness.service.detailRequests.last?.maxResults == 100)
                for operation in ["DescribeInstance", "ListRegions"] {
                    #expect(
                        metrics.value("aws_sso_admin_api_requests_total", ["operation": operation]) == 1, "\(operation)"
                    )
                    #expect(Self.detailErrors(metrics, operation, "AccessDeniedException") == 0, "\(operation)")
                }
            }
        }

        @Test("only the instances the account owns are described, each once however often it is listed")
        func ownedOnly() async throws {
            let instances = FakeInstance.numbered(3) + [Self.owned(), Self.owned()]
            try await ExporterHarness.with(instances: instances) { harness in
                let metrics = try await harness.scrape()
                #expect(Self.value(metrics, "aws_sso_admin_collect_details_success") == 1)
                // numbered(3)'s first instance and the one listed twice; the other two belong to other accounts.
                #expect(harness.service.detailRequests.count == 4)
                #expect(metrics.samples("aws_sso_admin_instance_encryption_info").count == 2)
                #expect(metrics.samples("aws_sso_admin_instance_info").count == 4)
            }
        }

        @Test("a role without the new permissions: ListInstances series and collect_success 1, details_success 0")
        func accessDenied() async throws {
            try await ExporterHarness.with(instances: [Self.owned()]) { harness in
                harness.service.injectDetails([.serviceError(code: "AccessDeniedException", status: 400)])
                let metrics = try await harness.scrape()
                #expect(metrics.success == 1)
                #expect(Self.value(metrics, "aws_sso_admin_collect_details_success") == 0)
                #expect(Self.detailErrors(metrics, "DescribeInstance", "AccessDeniedException") == 1)
                #expect(metrics.samples("aws_sso_admin_instance_status").count == 4)
                #expect(metrics.samples("aws_sso_admin_instance_encryption_info").isEmpty)
                #expect(metrics.samples("aws_sso_admin_instance_region_status").isEmpty)
                // The next collection reads them again.
                let next = try await harness.scrape()
                #expect(Self.value(next, "aws_sso_admin_collect_details_success") == 1)
                #expect(next.samples("aws_sso_admin_instance_encryption_info").count == 1)
            }
        }

        @Test("--no-collect.instance-details makes ListInstances calls only, and the page has no detail families")
        func switchedOff() async throws {
            try await ExporterHarness.with(instances: [Self.owned()], arguments: ["--no-collect.instance-details"]) {
                harness in
                let metrics = try await harness.scrape()
                #expect(metrics.success == 1)
                #expect(harness.service.detailRequests.isEmpty)
                #expect(metrics.samples("aws_sso_admin_collect_details_success").isEmpty)
                #expect(metrics.samples("aws_sso_admin_api_requests_total", ["operation": "DescribeInstance"]).isEmpty)
                #expect(metrics.types["aws_sso_admin_instance_encryption_status"] == nil)
            }
        }

        @Test("a ListRegions that repeats its NextToken is a PaginationLoop; the instance keeps its other series")
        func repeatedRegionToken() async throws {
            let regions = (1...3).map { FakeRegion("eu-west-\($0)") }
            try await ExporterHarness.with(instances: [Self.owned(regions: regions)]) { harness in
                harness.service.setRepeatRegionTokens(true)
                let metrics = try await harness.scrape(budget: .seconds(5))
                #expect(metrics.success == 1)
                #expect(Self.value(metrics, "aws_sso_admin_collect_details_success") == 0)
                #expect(Self.detailErrors(metrics, "ListRegions", "PaginationLoop") == 1)
                #expect(metrics.samples("aws_sso_admin_instance_encryption_info").isEmpty)
                #expect(harness.service.detailRequests.count == 3, "describe, two pages, then the repeat is seen")
            }
        }

        @Test("1,000 Regions are refused as TooManyItems without being held")
        func thousandRegions() async throws {
            let regions = (0..<1000).map { FakeRegion("eu-test-\($0 % 100 + 1)") }
            try await ExporterHarness.with(instances: [Self.owned(regions: regions)]) { harness in
                let metrics = try await harness.scrape()
                #expect(metrics.success == 1)
                #expect(Self.value(metrics, "aws_sso_admin_collect_details_success") == 0)
                #expect(Self.detailErrors(metrics, "ListRegions", "TooManyItems") == 1)
                #expect(metrics.samples("aws_sso_admin_instance_region_status").isEmpty)
            }
        }

        @Test("names that are not Regions are left out and counted; a Region listed twice is one series set")
        func badRegionNames() async throws {
            let regions = [
                FakeRegion("us-east-1", isPrimary: true), FakeRegion("us-east-1", status: "REMOVING"),
                FakeRegion("Mars\nbase"), FakeRegion(String(repeating: "a", count: 100_000)), FakeRegion("eu-west-1"),
            ]
            try await ExporterHarness.with(instances: [Self.owned(regions: regions)]) { harness in
                let metrics = try await harness.scrape()
                #expect(metrics.success == 1)
                #expect(Self.value(metrics, "aws_sso_admin_collect_details_success") == 0)
                #expect(Self.detailErrors(metrics, "ListRegions", "InvalidResponse") == 1)
                #expect(
                    Set(metrics.samples("aws_sso_admin_instance_region_info").map { $0.labels["replica_region"] })
                        == ["us-east-1", "eu-west-1"])
                #expect(Self.value(metrics, "aws_sso_admin_instance_regions") == 2)
                #expect(
                    Self.value(
                        metrics, "aws_sso_admin_instance_region_status",
                        ["replica_region": "us-east-1", "status": "ACTIVE"])
                        == 1, "the first listing of a Region wins")
            }
        }

        @Test("no EncryptionConfigurationDetails, unknown and missing values: reported as they are, never trapping")
        func oddAnswers() async throws {
            let instances = [
                Self.owned(encryption: nil, arn: "arn:aws:sso:::instance/ssoins-00000000000000b1"),
                Self.owned(
                    encryption: FakeEncryption(keyType: "NEW_KEY_KIND", status: "ROTATING"),
                    regions: [FakeRegion("us-east-1", status: nil, addedDate: nil, isPrimary: nil)],
                    arn: "arn:aws:sso:::instance/ssoins-00000000000000b2"),
                Self.owned(
                    encryption: FakeEncryption(keyType: nil, status: nil, statusReason: "   "),
                    arn: "arn:aws:sso:::instance/ssoins-00000000000000b3"),
            ]
            try await ExporterHarness.with(instances: instances) { harness in
                let metrics = try await harness.scrape()
                #expect(Self.value(metrics, "aws_sso_admin_collect_details_success") == 1)
                let info = metrics.samples("aws_sso_admin_instance_encryption_info")
                #expect(info.count == 2, "the instance without details has no encryption series")
                #expect(
                    Self.value(
                        metrics, "aws_sso_admin_instance_encryption_status",
                        ["instance_arn": "arn:aws:sso:::instance/ssoins-00000000000000b2", "status": "ROTATING"]) == 1)
                #expect(
                    metrics.samples(
                        "aws_sso_admin_instance_encryption_status",
                        ["instance_arn": "arn:aws:sso:::instance/ssoins-00000000000000b2"]
                    ).count == 4)
                #expect(
                    Self.value(
                        metrics, "aws_sso_admin_instance_encryption_status",
                        ["instance_arn": "arn:aws:sso:::instance/ssoins-00000000000000b3", "status": "UNKNOWN"]) == 1)
                #expect(metrics.samples("aws_sso_admin_instance_encryption_status_reason_info").isEmpty)
                #expect(
                    Self.value(
                        metrics, "aws_sso_admin_instance_region_status",
                        ["replica_region": "us-east-1", "status": "UNKNOWN"]) == 1)
                #expect(
                    Self.value(
                        metrics, "aws_sso_admin_instance_region_info",
                        ["replica_region": "us-east-1", "primary": "false"])
                        == 1)
                #expect(metrics.samples("aws_sso_admin_instance_region_added_timestamp_seconds").count == 2)
            }
        }

        @Test("a DescribeInstance that hangs ends at the scrape's deadline; the collection still succeeds")
        func hangingDescribe() async throws {
            try await ExporterHarness.with(
                instances: [Self.owned()], arguments: ["--aws.request-timeout", "300ms"], clock: .continuous
            ) { harness in
                harness.service.injectDetails(Array(repeating: .hang, count: 3))
                let started = ContinuousClock.now
                let metrics = try await harness.scrape(budget: .seconds(3))
                // By the scrape's deadline, give or take a busy machine's timers.
                #expect(ContinuousClock.now - started < .seconds(4))
                #expect(metrics.success == 1)
                #expect(Self.value(metrics, "aws_sso_admin_collect_details_success") == 0)
                #expect((Self.detailErrors(metrics, "DescribeInstance", "Timeout") ?? 0) >= 1)
                #expect(metrics.samples("aws_sso_admin_instance_status").count == 4)
            }
        }

        /// Organizations come and go: a description is kept for its reuse, never for an ARN no longer listed.
        @Test("the description cache keeps only descriptions younger than their reuse, whatever the ARNs")
        func cacheForgets() async throws {
            let clock = ManualClock()
            let cache = InstanceDetailsCache(reuse: .seconds(30), clock: AWSClock(clock))
            let details = InstanceDetails(encryption: nil, regions: [])
            let deadline = AWSClock(clock).now().advanced(by: .seconds(5))
            for index in 0..<1000 {
                _ = await cache.details(of: "arn-\(index)", patience: deadline) { .described(details) }
            }
            #expect(cache.kept == 1000)
            var fetches = 0
            let reused = await cache.details(of: "arn-1", patience: deadline) {
                fetches += 1
                return .described(details)
            }
            #expect(fetches == 0, "a description within its reuse is not fetched again")
            #expect(reused.outcome == .described(details) && !reused.led)
            clock.advance(by: .seconds(31))
            _ = await cache.details(of: "arn-new", patience: AWSClock(clock).now().advanced(by: .seconds(5))) {
                .described(details)
            }
            #expect(cache.kept == 1)
        }

        /// Only the caller that made the calls had them counted by its request observer; one that waited for them
        /// learns the failure, to count it under its own target's labels.
        @Test("a target that waited for another's failed description learns what failed, and that it did not lead")
        func followerLearnsFailure() async throws {
            let cache = InstanceDetailsCache(reuse: .seconds(30), clock: .continuous)
            let deadline = AWSClock.continuous.now().advanced(by: .seconds(30))
            let (gate, open) = AsyncStream<Void>.makeStream()
            let failure = InstanceDetailsOutcome.failed(
                operation: "DescribeInstance", exception: "AccessDeniedException")
            let leader = Task {
                await cache.details(of: Self.arn, patience: deadline) {
                    for await _ in gate { break }
                    return failure
                }
            }
            #expect(try await eventually(within: .seconds(10)) { cache.waiting == 1 })
            let follower = Task {
                await cache.details(of: Self.arn, patience: deadline) {
                    .described(InstanceDetails(encryption: nil, regions: []))
                }
            }
            #expect(try await eventually(within: .seconds(10)) { cache.waiting == 2 }, "the follower joined")
            open.yield()
            open.finish()
            let led = await leader.value
            let followed = await follower.value
            #expect(led.led && led.outcome == failure)
            #expect(!followed.led && followed.outcome == failure)
            #expect(cache.kept == 0, "a failure is not kept")
        }

        @Test("a Region repeated as it was is one Region; repeated with other values, the listing is inconsistent")
        func repeatedRegions() {
            let first = InstanceRegion(
                name: "eu-west-1", status: ModeledStatus("ACTIVE"), addedDate: 1, isPrimary: false)
            var other = first
            other.status = ModeledStatus("REMOVING")
            let thousand = InstanceRegions(keeping: Array(repeating: first, count: 1000))
            #expect(thousand.regions == [first] && thousand.conflicting == 0 && thousand.refused == 0)
            let conflicting = InstanceRegions(keeping: [first, other, first, other])
            #expect(conflicting.regions == [first] && conflicting.conflicting == 2)
        }

        @Test("owned ARNs that cannot be sent as listed are counted, not described")
        func unsendableOwnedARNs() async throws {
            let instances = [
                Self.owned(arn: "arn:aws:sso:::instance/ssoins-with space"),
                Self.owned(arn: "arn:aws:sso:::instance/ssoins-" + String(repeating: "a", count: 2000)),
                Self.owned(),
            ]
            try await ExporterHarness.with(instances: instances) { harness in
                let metrics = try await harness.scrape()
                #expect(metrics.success == 1)
                #expect(Self.value(metrics, "aws_sso_admin_collect_details_success") == 0)
                #expect(Self.detailErrors(metrics, "DescribeInstance", "InvalidResponse") == 1)
                #expect(harness.service.detailRequests.count == 2, "the sendable one is described")
                #expect(metrics.samples("aws_sso_admin_instance_encryption_info").count == 1)
            }
        }

        @Test("an account listed as owning a thousand instances has ten described, the rest counted")
        func thousandOwned() async throws {
            let instances = (0..<1000).map {
                Self.owned(arn: "arn:aws:sso:::instance/ssoins-\(String(format: "%016x", $0))")
            }
            try await ExporterHarness.with(instances: instances) { harness in
                let metrics = try await harness.scrape()
                #expect(metrics.success == 1)
                #expect(Self.value(metrics, "aws_sso_admin_collect_details_success") == 0)
                #expect(Self.detailErrors(metrics, "DescribeInstance", "TooManyItems") == 1)
                #expect(harness.service.detailRequests.count == 20)
                #expect(metrics.samples("aws_sso_admin_instance_encryption_info").count == 10)
            }
        }
    }
}

extension DeadlineTests {
    /// The owner's targets in two Regions list the same instance (a replicated one): what each target counts, and
    /// what goes when one of them is removed, through the simulator, the production transport and a reload.
    @Suite("instance details of an instance two targets list")
    struct SharedInstanceDetailsTests {
        static let management = "100000000000"
        static let arn = "arn:aws:sso:::instance/ssoins-0000000000000000"

        static func yaml(_ regions: [String]) -> String {
            "targets:\n  - name: management\n    regions: [\(regions.joined(separator: ", "))]\n"
                + "collection:\n  mode: background\n  interval: 1m\n"
        }

        static let regions = ["us-east-1", "eu-west-1"]

        /// The management account's `instance` listed in both Regions, both watched in the background, after one
        /// round; `prepare` shapes the simulator's answers first.
        static func afterOneRound(
            _ instance: FakeInstance, prepare: (OrganizationSimulator) -> Void = { _ in },
            _ body: (SimulatedOrganization, PeriodicScheduler, ParsedExposition) async throws -> Void
        ) async throws {
            let simulator = OrganizationSimulator(
                managementAccountID: management,
                accounts: [
                    .init(
                        id: management, name: "management", enabledRegions: regions,
                        instances: Dictionary(regions.map { ($0, [instance]) }, uniquingKeysWith: { first, _ in first })
                    )
                ])
            prepare(simulator)
            try await SimulatedOrganization.with(simulator, yaml: yaml(regions)) { organization in
                let scheduler = try #require(organization.page.scheduler as? PeriodicScheduler)
                await scheduler.collectRound()
                try await body(organization, scheduler, try await organization.scrape())
            }
        }

        static func errors(_ metrics: ParsedExposition, _ region: String, _ operation: String, _ exception: String)
            -> Double?
        {
            metrics.value(
                "aws_sso_admin_api_errors_total",
                ["region": region, "account_id": management, "operation": operation, "exception": exception])
        }

        @Test("a listing with a name that is not a Region: each target reporting it counts it, also when reused")
        func leftOutCountedByEachTarget() async throws {
            let instance = FakeInstance(
                instanceArn: Self.arn, ownerAccountId: Self.management, name: "organization",
                regions: [FakeRegion("us-east-1", isPrimary: true), FakeRegion("Mars")])
            try await Self.afterOneRound(instance) { organization, _, metrics in
                #expect(
                    organization.simulator.calls("DescribeInstance") == 1, "the second target reuses the description")
                for region in Self.regions {
                    let labels = ["region": region, "account_id": Self.management]
                    #expect(metrics.value("aws_sso_admin_collect_details_success", labels) == 0, "\(region)")
                    #expect(metrics.value("aws_sso_admin_instance_regions", labels) == 1, "\(region)")
                    #expect(Self.errors(metrics, region, "ListRegions", "InvalidResponse") == 1, "\(region)")
                }
            }
        }

        @Test("a denied description counts under each target's own labels; a removed Region's detail series go")
        func deniedThenRemoved() async throws {
            let instance = FakeInstance(instanceArn: Self.arn, ownerAccountId: Self.management, name: "organization")
            let deny: (OrganizationSimulator) -> Void = {
                $0.override("DescribeInstance") { _, _ in
                    OrganizationSimulator.jsonError("AccessDeniedException", 400, "not authorized")
                }
            }
            try await Self.afterOneRound(instance, prepare: deny) { organization, scheduler, denied in
                for region in Self.regions {
                    let labels = ["region": region, "account_id": Self.management]
                    #expect(denied.value("aws_sso_admin_collect_success", labels) == 1, "\(region)")
                    #expect(denied.value("aws_sso_admin_collect_details_success", labels) == 0, "\(region)")
                    #expect(
                        Self.errors(denied, region, "DescribeInstance", "AccessDeniedException") == 1,
                        "each target counts the failure it reports, \(region)")
                }
                #expect(organization.simulator.calls("DescribeInstance") <= 2)

                let file = try #require(organization.configuration.configFile)
                try Self.yaml(["us-east-1"]).write(toFile: file, atomically: true, encoding: .utf8)
                let reloader = try #require(organization.page.reloader)
                let reloading = Task { await reloader.run() }
                defer { reloading.cancel() }
                let outcome = await reloader.reload()
                #expect((try? outcome.get()) != nil, "\(outcome)")
                await scheduler.collectRound()
                let after = try await organization.scrape()
                for operation in ["ListInstances", "DescribeInstance", "ListRegions"] {
                    #expect(
                        after.samples(
                            "aws_sso_admin_api_requests_total", ["region": "eu-west-1", "operation": operation]
                        ).isEmpty, "\(operation) in the removed Region")
                    #expect(
                        after.samples(
                            "aws_sso_admin_api_requests_total", ["region": "us-east-1", "operation": operation]
                        ).count == 1, "\(operation) in the kept Region")
                }
                #expect(
                    after.samples("aws_sso_admin_api_request_duration_seconds_count", ["region": "eu-west-1"])
                        .isEmpty)
            }
        }
    }
}
