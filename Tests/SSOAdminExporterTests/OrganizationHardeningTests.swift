import AWSClient
import Foundation
import Logging
import Synchronization
import TestSupport
import Testing

@testable import SSOAdminExporter

/// Organization data as a broken or hostile AWS answer writes it: accounts and Regions listed twice or a thousand
/// times, tokens that never end, pages too long, calls that hang; and targets that leave.
extension DeadlineTests {
    @Suite("organization data from AWS, read as an attacker would write it")
    struct OrganizationHardeningTests {
        static let role = SimulatedOrganization.role

        static func discoveryYAML(regions: String, timeout: String = "5s", extra: String = "") -> String {
            """
            discovery:
              organizations:
                role_name: \(role)
                regions: \(regions)
            collection:
              timeout: \(timeout)
            \(extra)
            """
        }

        static func account(_ id: String) -> [String: Any] { ["Id": id, "State": "ACTIVE", "Status": "ACTIVE"] }

        static func id(_ index: Int) -> String { String(100_000_000_000 + index) }

        @Test(
            "an account listed twice, or a thousand times, in overlapping pages is one account: no trap, no duplicate",
            arguments: ["[us-east-1, eu-west-1]", "enabled"])
        func duplicateAccounts(regions: String) async throws {
            let simulator = OrganizationSimulator.generated(accounts: 6, regions: ["us-east-1", "eu-west-1"])
            // Page 1 lists accounts 0-3, page 2 (as a retried page can) 2-5, page 3 account 1 a thousand times.
            simulator.override("ListAccounts") { request, _ in
                let token = OrganizationSimulator.jsonObject(request.body)["NextToken"] as? String
                switch token {
                case nil:
                    return OrganizationSimulator.json([
                        "Accounts": (0...3).map { Self.account(Self.id($0)) }, "NextToken": "page-2",
                    ])
                case "page-2":
                    return OrganizationSimulator.json([
                        "Accounts": (2...5).map { Self.account(Self.id($0)) }, "NextToken": "page-3",
                    ])
                default:
                    return OrganizationSimulator.json([
                        "Accounts": Array(repeating: Self.account(Self.id(1)), count: 1_000)
                    ])
                }
            }
            try await SimulatedOrganization.with(simulator, yaml: Self.discoveryYAML(regions: regions)) {
                organization in
                let scheduler = try #require(organization.page.scheduler as? PeriodicScheduler)
                let discovery = try #require(organization.page.discovery)
                await discovery.discover()
                let names = scheduler.sources.map(\.target.name)
                #expect(names.count == 12, "\(names)")
                #expect(Set(names).count == names.count)
                await scheduler.collectRound()
                // The parser refuses a duplicate series: the exposition Prometheus would reject.
                let parsed = try await organization.scrape()
                #expect(parsed.value("aws_sso_admin_discovery_accounts") == 6)
                #expect(parsed.value("aws_sso_admin_targets", ["state": "discovered"]) == 12)
                #expect(parsed.value("aws_sso_admin_discovery_errors_total") == 0)
            }
        }

        @Test("the same target twice in the target set is watched once, configured first")
        func targetSetDeduplicates() {
            func source(_ name: String, _ account: String) -> TargetSource {
                TargetSource(
                    target: CollectionTarget(name: name, region: "us-east-1", accountID: account),
                    listInstances: { _ in ([], 1) })
            }
            let set = TargetSet(
                configured: [source("a", "111111111111"), source("a", "222222222222")],
                discovered: Array(repeating: source("b", "333333333333"), count: 1_000) + [source("a", "444444444444")])
            #expect(set.sources.map(\.target.name) == ["a", "b"])
            #expect(set.source(named: "a")?.target.accountID == "111111111111")
        }

        @Test("a change made while the scheduler collects is not missed: changed(after:) returns at once")
        func changeBetweenWaits() async {
            let set = TargetSet(configured: [])
            let seen = set.generation
            set.replaceDiscovered([])
            // Would wait forever if the change above were lost.
            await set.changed(after: seen)
            #expect(set.generation == seen + 1)
        }

        @Test(
            "ListRegions: a Region repeated 500 times is one target; names that are not Regions and a thousand Regions are bounded"
        )
        func hostileRegions() async throws {
            let simulator = OrganizationSimulator.generated(accounts: 3, regions: ["us-east-1"])
            let thousand = (0..<1_000).map { "xx-test\(String(UnicodeScalar(UInt8(97 + $0 % 26))))-\($0 % 100)" }
            simulator.override("ListRegions") { _, caller in
                let names: [String] =
                    switch caller {
                    case Self.id(0): Array(repeating: "us-east-1", count: 500)
                    case Self.id(1):
                        ["us-east-1", "US-EAST-1", "eu-west-1\n", "../../etc", String(repeating: "a", count: 5_000)]
                    default: thousand
                    }
                return OrganizationSimulator.json([
                    "Regions": names.map { ["RegionName": $0, "RegionOptStatus": "ENABLED"] }
                ])
            }
            try await SimulatedOrganization.with(simulator, yaml: Self.discoveryYAML(regions: "enabled")) {
                organization in
                let scheduler = try #require(organization.page.scheduler as? PeriodicScheduler)
                let discovery = try #require(organization.page.discovery)
                await discovery.discover()
                let byAccount = Dictionary(grouping: scheduler.sources, by: \.target.accountID)
                #expect(byAccount[Self.id(0)]?.map(\.target.region) == ["us-east-1"])
                #expect(byAccount[Self.id(1)]?.map(\.target.region) == ["us-east-1"])
                #expect(byAccount[Self.id(2)]?.count == AccountClient.maxRegions)
                #expect(Set(scheduler.sources.map(\.target.name)).count == scheduler.sources.count)
                let parsed = try await organization.scrape()
                let errors = "aws_sso_admin_discovery_account_errors_total"
                #expect(parsed.value(errors, ["reason": "invalid_regions"]) == 1)
                #expect(parsed.value(errors, ["reason": "too_many_regions"]) == 1)
                #expect(parsed.value(errors, ["reason": "regions_unreadable"]) == 0)
            }
        }

        @Test(
            "ListAccounts: a repeated token is a loop, counted; tokens that change forever end by the deadline; a page too long is refused"
        )
        func endlessAndOversizedListings() async throws {
            let simulator = OrganizationSimulator.generated(accounts: 3, regions: ["us-east-1"])
            let served = Mutex(0)
            try await SimulatedOrganization.with(
                simulator, yaml: Self.discoveryYAML(regions: "[us-east-1]", timeout: "3s")
            ) { organization in
                let discovery = try #require(organization.page.discovery)
                let scheduler = try #require(organization.page.scheduler as? PeriodicScheduler)
                await discovery.discover()
                #expect(scheduler.sources.count == 3)

                simulator.override("ListAccounts") { _, _ in
                    OrganizationSimulator.json(["Accounts": [Self.account(Self.id(0))], "NextToken": "same"])
                }
                await discovery.discover()
                var parsed = try await organization.scrape()
                #expect(
                    parsed.value(
                        "aws_sso_admin_api_errors_total", ["operation": "ListAccounts", "exception": "PaginationLoop"])
                        == 1)
                #expect(parsed.value("aws_sso_admin_discovery_errors_total") == 1)
                // The last good list stays.
                #expect(scheduler.sources.count == 3)

                // A new 99 KB token on every page: the deadline (or the page bound) ends it; only digests are kept.
                simulator.override("ListAccounts") { _, _ in
                    let page = served.withLock { count in
                        count += 1
                        return count
                    }
                    return OrganizationSimulator.json([
                        "Accounts": [Self.account(Self.id(0))],
                        "NextToken": "\(page)" + String(repeating: "t", count: 99_000),
                    ])
                }
                let started = ContinuousClock.now
                await discovery.discover()
                #expect(started.duration(to: .now) < .seconds(10))
                #expect(served.withLock { $0 } > 10)
                parsed = try await organization.scrape()
                #expect(parsed.value("aws_sso_admin_discovery_errors_total") == 2)
                #expect(scheduler.sources.count == 3)

                // One page listing more accounts than a discovery reads.
                simulator.override("ListAccounts") { _, _ in
                    OrganizationSimulator.json([
                        "Accounts": (0...OrganizationsClient.maxAccounts).map { Self.account(Self.id($0)) }
                    ])
                }
                await discovery.discover()
                parsed = try await organization.scrape()
                #expect(
                    parsed.value(
                        "aws_sso_admin_api_errors_total", ["operation": "ListAccounts", "exception": "TooManyItems"])
                        == 1)
                #expect(parsed.value("aws_sso_admin_discovery_errors_total") == 3)
                #expect(scheduler.sources.count == 3)
            }
        }

        @Test("ListRegions listing 140,000 Regions in a page is refused as it arrives, counted, and leaves no target")
        func oversizedRegionsPage() async throws {
            let simulator = OrganizationSimulator.generated(accounts: 2, regions: ["us-east-1"])
            let body = Array(
                ("{\"Regions\":["
                    + Array(repeating: #"{"RegionName":"us-east-1","RegionOptStatus":"ENABLED"}"#, count: 140_000)
                    .joined(separator: ",") + "]}").utf8)
            simulator.override("ListRegions") { _, caller in
                caller == Self.id(1)
                    ? .respond(status: 200, headers: [("Content-Type", "application/json")], body: body) : nil
            }
            try await SimulatedOrganization.with(simulator, yaml: Self.discoveryYAML(regions: "enabled")) {
                organization in
                let scheduler = try #require(organization.page.scheduler as? PeriodicScheduler)
                let discovery = try #require(organization.page.discovery)
                await discovery.discover()
                #expect(scheduler.sources.map(\.target.accountID) == [Self.id(0)])
                let parsed = try await organization.scrape()
                #expect(
                    parsed.value(
                        "aws_sso_admin_api_errors_total",
                        ["account_id": Self.id(1), "operation": "ListRegions", "exception": "TooManyItems"]) == 1)
                #expect(
                    parsed.value("aws_sso_admin_discovery_account_errors_total", ["reason": "regions_unreadable"]) == 1)
            }
        }

        @Test("a configured role into an account discovery also finds writes its series once")
        func configuredAndDiscoveredTwins() async throws {
            let simulator = OrganizationSimulator.generated(accounts: 3, regions: ["us-east-1", "eu-west-1"])
            let yaml =
                """
                targets:
                  - name: twin
                    role_arn: arn:aws:iam::\(Self.id(1)):role/\(Self.role)
                    regions: [us-east-1]

                """ + Self.discoveryYAML(regions: "[us-east-1, eu-west-1]")
            try await SimulatedOrganization.with(simulator, yaml: yaml) { organization in
                let scheduler = try #require(organization.page.scheduler as? PeriodicScheduler)
                let discovery = try #require(organization.page.discovery)
                await discovery.discover()
                let names = scheduler.sources.map(\.target.name)
                #expect(names.contains("twin/us-east-1"))
                #expect(!names.contains("\(Self.id(1))/us-east-1"))
                #expect(names.contains("\(Self.id(1))/eu-west-1"))
                await scheduler.collectRound()
                // The parser refuses a series written twice.
                let parsed = try await organization.scrape()
                #expect(parsed.samples("aws_sso_admin_collect_success", ["account_id": Self.id(1)]).count == 2)
            }
        }

        @Test("a configured target that learns it is an account discovery also watches writes its series once")
        func learnedTwin() async throws {
            let simulator = OrganizationSimulator.generated(accounts: 3, regions: ["us-east-1"])
            // No role: the exporter's own identity, the management account, learned from GetCallerIdentity.
            let yaml =
                "targets:\n  - name: self\n    regions: [us-east-1]\n" + Self.discoveryYAML(regions: "[us-east-1]")
            try await SimulatedOrganization.with(simulator, yaml: yaml) { organization in
                let scheduler = try #require(organization.page.scheduler as? PeriodicScheduler)
                let discovery = try #require(organization.page.discovery)
                await discovery.discover()
                await scheduler.collectRound()
                // Once the configured target knows its account, the discovered twin is no longer watched.
                #expect(scheduler.sources.count == 3)
                // The parser refuses a series written twice.
                let parsed = try await organization.scrape()
                #expect(parsed.samples("aws_sso_admin_collect_success", ["account_id": Self.id(0)]).count == 1)
            }
        }

        @Test("a DescribeOrganization cancelled because ListAccounts failed is no Timeout")
        func cancelledDescribeOrganization() async throws {
            let simulator = OrganizationSimulator.generated(accounts: 2, regions: ["us-east-1"])
            simulator.override("DescribeOrganization") { _, _ in .hang }
            simulator.override("ListAccounts") { _, _ in
                // After DescribeOrganization was sent, so that it is in flight when this fails.
                while simulator.calls("DescribeOrganization") == 0 { try? await Task.sleep(for: .milliseconds(5)) }
                return OrganizationSimulator.jsonError("AccessDeniedException", 400, "no")
            }
            try await SimulatedOrganization.with(simulator, yaml: Self.discoveryYAML(regions: "[us-east-1]")) {
                organization in
                let discovery = try #require(organization.page.discovery)
                await discovery.discover()
                let parsed = try await organization.scrape()
                #expect(parsed.value("aws_sso_admin_discovery_errors_total") == 1)
                let describe = parsed.samples("aws_sso_admin_api_errors_total", ["operation": "DescribeOrganization"])
                #expect(!describe.isEmpty)
                #expect(describe.allSatisfy { $0.value == 0 }, "\(describe)")
            }
        }

        @Test("accounts whose ListRegions hangs delay only themselves, are counted, and keep their last Regions")
        func hangingRegions() async throws {
            let simulator = OrganizationSimulator.generated(accounts: 12, regions: ["us-east-1", "eu-west-1"])
            let hanging = Set((8..<12).map(Self.id))
            let hang = Mutex(true)
            simulator.override("ListRegions") { _, caller in
                hanging.contains(caller) && hang.withLock({ $0 }) ? .hang : nil
            }
            let yaml = Self.discoveryYAML(regions: "enabled", timeout: "3s", extra: "  max_concurrency: 2\n")
            try await SimulatedOrganization.with(simulator, yaml: yaml) { organization in
                let scheduler = try #require(organization.page.scheduler as? PeriodicScheduler)
                let discovery = try #require(organization.page.discovery)
                // The four hanging accounts come last: with two at a time, they hold both slots for two timeouts.
                let started = ContinuousClock.now
                let discovering = Task { await discovery.discover() }
                let published = try await eventually(within: .seconds(20)) {
                    Set(scheduler.sources.map(\.target.accountID)).count == 8
                }
                let publishedAfter = started.duration(to: .now)
                #expect(published)
                await discovering.value
                let finishedAfter = started.duration(to: .now)
                // Published within the publishing interval of their arrival, not after the hanging accounts' timeouts
                // (3 s each, two at a time: 6 s).
                #expect(publishedAfter < .milliseconds(2500), "\(publishedAfter)")
                #expect(finishedAfter >= .seconds(6), "\(finishedAfter)")
                #expect(scheduler.sources.count == 16)
                var parsed = try await organization.scrape()
                let unreadable = ["reason": "regions_unreadable"]
                #expect(parsed.value("aws_sso_admin_discovery_account_errors_total", unreadable) == 4)

                // Read once; when they hang again, the account keeps the Regions it had.
                hang.withLock { $0 = false }
                await discovery.discover()
                #expect(scheduler.sources.count == 24)
                hang.withLock { $0 = true }
                await discovery.discover()
                #expect(scheduler.sources.count == 24)
                parsed = try await organization.scrape()
                #expect(parsed.value("aws_sso_admin_discovery_account_errors_total", unreadable) == 8)
            }
        }

        @Test("an account that leaves the organization takes every series with it; one that comes back starts at 0")
        func removedAccountsLeaveNoSeries() async throws {
            let simulator = OrganizationSimulator.generated(accounts: 4, regions: ["us-east-1", "eu-west-1"])
            let listed = Mutex(Array(0..<4))
            simulator.override("ListAccounts") { _, _ in
                OrganizationSimulator.json(["Accounts": listed.withLock { $0 }.map { Self.account(Self.id($0)) }])
            }
            try await SimulatedOrganization.with(simulator, yaml: Self.discoveryYAML(regions: "enabled")) {
                organization in
                let scheduler = try #require(organization.page.scheduler as? PeriodicScheduler)
                let discovery = try #require(organization.page.discovery)
                await discovery.discover()
                await scheduler.collectRound()
                let leaving = ["account_id": Self.id(3)]
                var parsed = try await organization.scrape()
                #expect(
                    parsed.samples(
                        "aws_sso_admin_api_requests_total", leaving.merging(["operation": "ListInstances"]) { $1 }
                    )
                    .count == 2)
                #expect(!parsed.samples("aws_sso_admin_api_errors_total", leaving).isEmpty)

                listed.withLock { $0 = [0, 1, 2] }
                await discovery.discover()
                await scheduler.collectRound()
                parsed = try await organization.scrape()
                let left = parsed.samples.filter { $0.labels["account_id"] == Self.id(3) }
                #expect(left.isEmpty, "\(left.map(\.name))")
                #expect(
                    parsed.value(
                        "aws_sso_admin_api_requests_total",
                        ["account_id": Self.id(2), "operation": "ListInstances", "region": "eu-west-1"]) != nil)

                listed.withLock { $0 = [0, 1, 2, 3] }
                await discovery.discover()
                parsed = try await organization.scrape()
                #expect(
                    parsed.value(
                        "aws_sso_admin_api_requests_total",
                        ["account_id": Self.id(3), "operation": "ListInstances", "region": "us-east-1"]) == 0)
            }
        }

        @Test("an account whose ListRegions is refused has no target, but keeps its error series for the alerts")
        func refusedRegionsKeepTheirErrors() async throws {
            let simulator = OrganizationSimulator.generated(accounts: 3, regions: ["us-east-1"])
            simulator.override("ListRegions") { _, caller in
                caller == Self.id(2) ? OrganizationSimulator.jsonError("AccessDeniedException", 403, "no") : nil
            }
            try await SimulatedOrganization.with(simulator, yaml: Self.discoveryYAML(regions: "enabled")) {
                organization in
                let scheduler = try #require(organization.page.scheduler as? PeriodicScheduler)
                let discovery = try #require(organization.page.discovery)
                await discovery.discover()
                #expect(!scheduler.sources.contains { $0.target.accountID == Self.id(2) })
                let parsed = try await organization.scrape()
                #expect(
                    parsed.value(
                        "aws_sso_admin_api_errors_total",
                        [
                            "account_id": Self.id(2), "operation": "ListRegions", "exception": "AccessDeniedException",
                        ]) == 1)
                #expect(
                    parsed.value("aws_sso_admin_discovery_account_errors_total", ["reason": "regions_unreadable"]) == 1)
            }
        }

        @Test("a reload that removes targets removes their series")
        func reloadRemovesSeries() async throws {
            let simulator = OrganizationSimulator.generated(
                accounts: 4, regions: DeadlineTests.ManyTargetsTests.regions)
            let yaml = SimulatedOrganization.targetsYAML(
                simulator, accounts: 4, regions: DeadlineTests.ManyTargetsTests.regions)
            try await SimulatedOrganization.with(simulator, yaml: yaml) { organization in
                let scheduler = try #require(organization.page.scheduler as? PeriodicScheduler)
                let reloader = try #require(organization.page.reloader)
                await scheduler.collectRound()
                var parsed = try await organization.scrape()
                #expect(!parsed.samples("aws_sso_admin_api_requests_total", ["account_id": Self.id(3)]).isEmpty)
                #expect(
                    !parsed.samples("aws_sso_admin_credentials_refreshes_total", ["account_id": Self.id(3)]).isEmpty)

                try SimulatedOrganization.targetsYAML(
                    simulator, accounts: 3, regions: DeadlineTests.ManyTargetsTests.regions
                )
                .write(toFile: reloader.path, atomically: true, encoding: .utf8)
                let reloading = Task { await reloader.run() }
                defer { reloading.cancel() }
                let outcome = await reloader.reload()
                #expect((try? outcome.get()) != nil, "\(outcome)")
                await scheduler.collectRound()
                parsed = try await organization.scrape()
                let left = parsed.samples.filter { $0.labels["account_id"] == Self.id(3) }
                #expect(left.isEmpty, "\(left.map(\.name))")
                #expect(!parsed.samples("aws_sso_admin_api_requests_total", ["account_id": Self.id(2)]).isEmpty)
            }
        }

        /// A logger writing logfmt lines, every level, into the returned capture.
        static func capturingLogger() -> (Logger, CapturedLines) {
            let capture = CapturedLines()
            let logger = Logger(label: "test") { label in
                ExporterLogHandler(label: label, level: .debug, format: .logfmt, write: { capture.append($0) })
            }
            return (logger, capture)
        }

        /// One info line for a shutdown, and no failure logged per target.
        static func expectShutdownLoggedOnce(_ lines: [String]) {
            #expect(lines.filter { $0.contains("collection failed") }.isEmpty, "\(lines)")
            #expect(lines.filter { $0.contains("level=info") && $0.contains("cancelled by shutdown") }.count == 1)
        }

        @Test("shutdown cancelling a round is logged once, at info, not as a failure per target")
        func shutdownLoggedOnce() async throws {
            let simulator = OrganizationSimulator.generated(accounts: 6, regions: ["us-east-1"])
            for index in 0..<6 { simulator.setFaults(.init(hang: true), for: Self.id(index)) }
            let (logger, capture) = Self.capturingLogger()
            let yaml = SimulatedOrganization.targetsYAML(simulator, accounts: 6, regions: ["us-east-1"])
            try await SimulatedOrganization.with(simulator, yaml: yaml, logger: logger) { organization in
                let scheduler = try #require(organization.page.scheduler as? PeriodicScheduler)
                let running = Task { await scheduler.run() }
                #expect(try await eventually(within: .seconds(20)) { simulator.calls("ListInstances") >= 4 })
                running.cancel()
                await running.value
            }
            Self.expectShutdownLoggedOnce(capture.all)
        }

        @Test("shutdown while the targets a discovery just added are first collected is logged once too")
        func shutdownDuringFirstDiscoveredRound() async throws {
            let simulator = OrganizationSimulator.generated(accounts: 4, regions: ["us-east-1"])
            for index in 0..<4 { simulator.setFaults(.init(hang: true), for: Self.id(index)) }
            let (logger, capture) = Self.capturingLogger()
            try await SimulatedOrganization.with(
                simulator, yaml: Self.discoveryYAML(regions: "[us-east-1]"), logger: logger
            ) { organization in
                let scheduler = try #require(organization.page.scheduler as? PeriodicScheduler)
                let discovery = try #require(organization.page.discovery)
                // The first round has no target; the discovered ones are collected as they appear.
                let running = Task { await scheduler.run() }
                await discovery.discover()
                #expect(try await eventually(within: .seconds(20)) { simulator.calls("ListInstances") >= 4 })
                running.cancel()
                await running.value
            }
            Self.expectShutdownLoggedOnce(capture.all)
        }
    }
}
