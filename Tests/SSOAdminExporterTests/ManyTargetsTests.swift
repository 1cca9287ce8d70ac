import AWSClient
import ArgumentParser
import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import SSOAdminExporter
import ServiceLifecycle
import TestSupport
import Testing

/// A configuration file's targets collected against the organization simulator.
struct SimulatedOrganization {
    let simulator: OrganizationSimulator
    let page: Exporter
    let configuration: ExporterConfiguration

    static let role = "SSOAdminExporterRead"

    /// A `targets:` entry per member account (by role, in `regions`) and one for the management account by the
    /// exporter's own identity.
    static func targetsYAML(_ simulator: OrganizationSimulator, accounts: Int, regions: [String]) -> String {
        var yaml = "targets:\n  - name: management\n    regions: [\(regions[0])]\n    labels: {tier: management}\n"
        for index in 1..<accounts {
            let id = String(100_000_000_000 + index)
            yaml += """
                  - name: member-\(index)
                    role_arn: arn:aws:iam::\(id):role/\(role)
                    regions: [\(regions.joined(separator: ", "))]

                """
        }
        return yaml
    }

    static func write(_ yaml: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("targets-\(UUID().uuidString).yml")
        try yaml.write(to: path, atomically: true, encoding: .utf8)
        return path.path
    }

    static func with(
        _ simulator: OrganizationSimulator, yaml: String, clock: AWSClock = .continuous,
        logger: Logger = ExporterHarness.logger, arguments: [String] = [],
        _ body: (SimulatedOrganization) async throws -> Void
    ) async throws {
        let server = try await FakeHTTPServer.start { await simulator.handle($0) }
        let file = try write(yaml)
        let options = try ExporterOptions.parse(["--config.file", file] + arguments)
        let configuration = try ExporterConfiguration.resolve(
            options, environment: ["AWS_ENDPOINT_URL": server.endpoint, "AWS_REGION": "us-east-1"])
        let client = try ExporterHarness.client(for: configuration, clock: clock, logger: logger)
        try await withAsyncCleanup {
            let page = try Exporter(
                configuration: configuration,
                credentialProvider: StaticCredentialProvider(simulator.managementCredentials),
                client: client, environment: ["AWS_ENDPOINT_URL": server.endpoint], logger: logger)
            try await body(SimulatedOrganization(simulator: simulator, page: page, configuration: configuration))
        } cleanup: {
            try? FileManager.default.removeItem(atPath: file)
            await server.stop()
            try await client.shutdown()
        }
    }

    func scrape() async throws -> ParsedExposition {
        try await page.scrape()
    }
}

extension DeadlineTests {
    @Suite("many targets from --config.file")
    struct ManyTargetsTests {
        static let regions = ["us-east-1", "eu-west-1"]

        @Test("background rounds: a denied, a throttled and a hanging account fail alone; one AssumeRole per account")
        func backgroundRounds() async throws {
            let simulator = OrganizationSimulator.generated(
                accounts: 8, regions: Self.regions,
                faults: [
                    2: .init(denyAssumeRole: true), 3: .init(throttle: true), 4: .init(hang: true),
                ])
            let yaml =
                SimulatedOrganization.targetsYAML(simulator, accounts: 8, regions: Self.regions)
                + "collection:\n  mode: background\n  interval: 1m\n  timeout: 1s\n  max_concurrency: 4\n"
            try await SimulatedOrganization.with(simulator, yaml: yaml) { organization in
                let scheduler = try #require(organization.page.scheduler as? PeriodicScheduler)
                #expect(scheduler.sources.count == 1 + 7 * 2)
                let started = ContinuousClock.now
                await scheduler.collectRound()
                await scheduler.collectRound()
                // The hanging account holds a slot for its 1 s timeout, twice; without a per-target timeout it would
                // hold the round for the 10 s request timeout and more.
                #expect(ContinuousClock.now - started < .seconds(8))

                let parsed = try await organization.scrape()
                func success(_ index: Int, _ region: String) -> Double? {
                    parsed.value(
                        "aws_sso_admin_collect_success",
                        ["account_id": String(100_000_000_000 + index), "region": region])
                }
                #expect(success(0, "us-east-1") == 1)
                #expect(
                    parsed.value("aws_sso_admin_collect_success", ["account_id": "100000000000", "tier": "management"])
                        == 1)
                for index in [1, 5, 6, 7] {
                    for region in Self.regions { #expect(success(index, region) == 1, "member-\(index) \(region)") }
                }
                for index in [2, 3, 4] {
                    for region in Self.regions { #expect(success(index, region) == 0, "member-\(index) \(region)") }
                }
                let throttled = parsed.value(
                    "aws_sso_admin_api_errors_total",
                    ["account_id": "100000000003", "region": "us-east-1", "exception": "ThrottlingException"])
                #expect((throttled ?? 0) >= 2)
                let timedOut = parsed.value(
                    "aws_sso_admin_api_errors_total",
                    ["account_id": "100000000004", "region": "eu-west-1", "exception": "Timeout"])
                #expect((timedOut ?? 0) >= 1)
                let denied = parsed.value(
                    "aws_sso_admin_credentials_errors_total", ["account_id": "100000000002", "provider": "assume-role"])
                #expect((denied ?? 0) >= 1)
                // Instances are reported where they were listed: the organization instance in the management account,
                // member-5's account instance in eu-west-1 (5 % 2), member-20 would be CREATE_FAILED.
                let info = parsed.samples("aws_sso_admin_instance_info")
                #expect(info.count == 2)
                #expect(
                    info.contains { $0.labels["account_id"] == "100000000005" && $0.labels["region"] == "eu-west-1" })
                // Two rounds, one credentials lifetime: one AssumeRole per account whose role could be assumed, for both
                // of its regions.
                for index in [1, 3, 4, 5, 6, 7] {
                    #expect(simulator.assumeRoles(into: String(100_000_000_000 + index)) == 1)
                }
                #expect(simulator.calls("GetCallerIdentity") == 1)
                // Every family once, whatever the number of targets: the parser rejects a second TYPE for a family.
                #expect(parsed.types["aws_sso_admin_collect_success"] == "gauge")
            }
        }

        @Test("discovery: accounts by state and lists, enabled regions, kind; a failed discovery keeps the last list")
        func discovery() async throws {
            let regions = ["us-east-1", "eu-west-1", "ap-southeast-2"]
            let simulator = OrganizationSimulator.generated(
                accounts: 10, regions: regions, enabledRegions: [3: ["us-east-1", "eu-west-1"]],
                states: [7: "SUSPENDED"])
            let yaml = """
                discovery:
                  organizations:
                    role_name: \(SimulatedOrganization.role)
                    regions: enabled
                    exclude_accounts: ["100000000009"]
                    labels: {source: organization}
                collection:
                  timeout: 5s

                """
            try await SimulatedOrganization.with(simulator, yaml: yaml) { organization in
                let scheduler = try #require(organization.page.scheduler as? PeriodicScheduler)
                let discovery = try #require(organization.page.discovery)
                await discovery.discover()
                // Ten accounts, less the suspended one and the excluded one: eight, in three regions but account 3 in two.
                let kept = 8
                #expect(scheduler.sources.count == kept * 3 - 1)
                #expect(!scheduler.sources.contains { $0.target.accountID == "100000000007" })
                #expect(!scheduler.sources.contains { $0.target.accountID == "100000000009" })
                #expect(
                    scheduler.sources.filter { $0.target.accountID == "100000000003" }.map(\.target.region).sorted()
                        == ["eu-west-1", "us-east-1"])
                await scheduler.collectRound()
                var parsed = try await organization.scrape()
                #expect(parsed.value("aws_sso_admin_targets", ["state": "discovered"]) == Double(kept * 3 - 1))
                #expect(parsed.value("aws_sso_admin_targets", ["state": "configured"]) == 0)
                #expect(parsed.value("aws_sso_admin_targets", ["state": "failing"]) == 0)
                #expect(parsed.value("aws_sso_admin_discovery_accounts") == Double(kept))
                #expect(
                    parsed.samples("aws_sso_admin_collect_success", ["source": "organization"]).count == kept * 3 - 1)
                let info = parsed.samples("aws_sso_admin_instance_info")
                #expect(
                    info.first { $0.labels["account_id"] == "100000000000" }?.labels["kind"] == "organization",
                    "\(info)")
                #expect(
                    info.first { $0.labels["account_id"] == "100000000005" }?.labels["kind"] == "account", "\(info)")
                // One AssumeRole per account for ListRegions and all its regions' collections together.
                #expect(simulator.assumeRoles(into: "100000000001") == 1)
                #expect(simulator.calls("ListRegions") == kept)

                simulator.setOrganizationsFailing(true)
                await discovery.discover()
                await scheduler.collectRound()
                parsed = try await organization.scrape()
                #expect(parsed.value("aws_sso_admin_discovery_errors_total") == 1)
                #expect(parsed.value("aws_sso_admin_targets", ["state": "discovered"]) == Double(kept * 3 - 1))
                #expect(parsed.samples("aws_sso_admin_collect_success").count == kept * 3 - 1)
            }
        }

        @Test("a failing target keeps its last good instances for max_stale, marked, then drops them")
        func maxStale() async throws {
            let simulator = OrganizationSimulator.generated(accounts: 6, regions: ["us-east-1"])
            let manual = ManualClock()
            let yaml =
                SimulatedOrganization.targetsYAML(simulator, accounts: 6, regions: ["us-east-1"])
                + "collection:\n  mode: background\n  max_stale: 10m\n"
            try await SimulatedOrganization.with(simulator, yaml: yaml, clock: AWSClock(manual)) { organization in
                let scheduler = try #require(organization.page.scheduler as? PeriodicScheduler)
                let member = ["account_id": "100000000005"]
                await scheduler.collectRound()
                var parsed = try await organization.scrape()
                #expect(parsed.value("aws_sso_admin_collect_success", member) == 1)
                let lastSuccess = try #require(
                    parsed.value("aws_sso_admin_collect_last_success_timestamp_seconds", member))
                #expect(parsed.samples("aws_sso_admin_instance_info", member).count == 1)

                simulator.setFaults(.init(throttle: true), for: "100000000005")
                manual.advance(by: .seconds(300))
                await scheduler.collectRound()
                parsed = try await organization.scrape()
                #expect(parsed.value("aws_sso_admin_collect_success", member) == 0)
                #expect(parsed.value("aws_sso_admin_collect_last_success_timestamp_seconds", member) == lastSuccess)
                #expect(parsed.samples("aws_sso_admin_instance_info", member).count == 1)
                #expect(parsed.value("aws_sso_admin_instances", member.merging(["status": "ACTIVE"]) { $1 }) == 1)
                #expect(parsed.value("aws_sso_admin_list_instances_pages", member) == nil)

                manual.advance(by: .seconds(301))
                await scheduler.collectRound()
                parsed = try await organization.scrape()
                #expect(parsed.value("aws_sso_admin_collect_success", member) == 0)
                #expect(parsed.value("aws_sso_admin_collect_last_success_timestamp_seconds", member) == nil)
                #expect(parsed.samples("aws_sso_admin_instance_info", member).isEmpty)
                #expect(parsed.samples("aws_sso_admin_instances", member).isEmpty)
            }
        }

        @Test("/sd lists every target for relabelling; /probe answers only the selected ones")
        func probeAndServiceDiscovery() async throws {
            let simulator = OrganizationSimulator.generated(accounts: 4, regions: Self.regions)
            let yaml =
                SimulatedOrganization.targetsYAML(simulator, accounts: 4, regions: Self.regions)
                + "collection:\n  mode: on_scrape\n"
            try await SimulatedOrganization.with(simulator, yaml: yaml) { organization in
                try await organization.page.running {
                    let app = Application(
                        router: ExporterRouter.make(organization.page.routes))
                    try await app.test(.router) { client in
                        try await client.execute(uri: "/sd", method: .get) { response in
                            #expect(response.status == .ok)
                            #expect(response.headers[.contentType] == "application/json")
                            let groups = try #require(
                                try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8))
                                    as? [[String: Any]])
                            #expect(groups.count == 1 + 3 * 2)
                            let names = groups.compactMap { ($0["targets"] as? [String])?.first }
                            #expect(Set(names).count == groups.count)
                            #expect(names.contains("member-2/eu-west-1"))
                            let labels = try #require(
                                groups.first { ($0["targets"] as? [String]) == ["member-2/eu-west-1"] }?["labels"]
                                    as? [String: String])
                            #expect(labels["__meta_sso_admin_account_id"] == "100000000002")
                            #expect(labels["__meta_sso_admin_region"] == "eu-west-1")
                        }
                        try await client.execute(uri: "/probe?target=member-2/eu-west-1", method: .get) { response in
                            #expect(response.status == .ok)
                            let parsed = try ExpositionParser.parse(String(buffer: response.body))
                            let targets = Set(
                                parsed.samples("aws_sso_admin_collect_success").map {
                                    "\($0.labels["account_id"] ?? "")/\($0.labels["region"] ?? "")"
                                })
                            #expect(targets == ["100000000002/eu-west-1"])
                            #expect(parsed.samples("aws_sso_admin_api_requests_total").isEmpty)
                        }
                        try await client.execute(uri: "/probe?target=member-3", method: .get) { response in
                            let parsed = try ExpositionParser.parse(String(buffer: response.body))
                            #expect(parsed.samples("aws_sso_admin_collect_success").count == 2)
                        }
                        try await client.execute(
                            uri: "/probe?account_id=100000000001&region=us-east-1", method: .get
                        ) { response in
                            let parsed = try ExpositionParser.parse(String(buffer: response.body))
                            #expect(parsed.samples("aws_sso_admin_collect_success").count == 1)
                            #expect(parsed.value("aws_sso_admin_collect_success") == 1)
                        }
                        // account_id= alone selects every target of the account, as the 400's text says.
                        try await client.execute(uri: "/probe?account_id=100000000001", method: .get) { response in
                            #expect(response.status == .ok)
                            let parsed = try ExpositionParser.parse(String(buffer: response.body))
                            #expect(parsed.samples("aws_sso_admin_collect_success").count == 2)
                        }
                        for uri in ["/probe", "/probe?region=us-east-1"] {
                            try await client.execute(uri: uri, method: .get) { response in
                                #expect(response.status == .badRequest)
                                let text = String(buffer: response.body)
                                #expect(text.contains("target=") && text.contains("or account_id="), "\(text)")
                                #expect(text.contains("region= narrows either, but is not enough alone"), "\(text)")
                            }
                        }
                        try await client.execute(uri: "/probe?target=nobody", method: .get) { response in
                            #expect(response.status == .notFound)
                        }
                    }
                }
            }
        }

        @Test("POST /-/reload replaces the configured targets; a broken file keeps them and is counted")
        func reload() async throws {
            let simulator = OrganizationSimulator.generated(accounts: 4, regions: Self.regions)
            let two = SimulatedOrganization.targetsYAML(simulator, accounts: 2, regions: Self.regions)
            try await SimulatedOrganization.with(
                simulator, yaml: two + "collection:\n  mode: on_scrape\n", arguments: ["--web.enable-lifecycle"]
            ) {
                organization in
                let file = try #require(organization.configuration.configFile)
                try await organization.page.running {
                    let reloader = try #require(organization.page.reloader)
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask { await reloader.run() }
                        defer { group.cancelAll() }
                        let app = Application(
                            router: ExporterRouter.make(organization.page.routes))
                        try await app.test(.router) { client in
                            func targets() async throws -> Int {
                                try await client.execute(uri: "/sd", method: .get) { response in
                                    let groups = try JSONSerialization.jsonObject(
                                        with: Data(String(buffer: response.body).utf8))
                                    return (groups as? [Any])?.count ?? -1
                                }
                            }
                            #expect(try await targets() == 1 + 1 * 2)
                            try
                                (SimulatedOrganization.targetsYAML(simulator, accounts: 4, regions: Self.regions)
                                + "collection:\n  mode: on_scrape\n").write(
                                    toFile: file, atomically: true, encoding: .utf8)
                            try await client.execute(uri: "/-/reload", method: .post) { response in
                                #expect(response.status == .ok, "\(String(buffer: response.body))")
                            }
                            #expect(try await targets() == 1 + 3 * 2)

                            try "targets:\n  - name: x\n    regions: [Mars]\n".write(
                                toFile: file, atomically: true, encoding: .utf8)
                            try await client.execute(uri: "/-/reload", method: .post) { response in
                                #expect(response.status == .internalServerError)
                                #expect(
                                    String(buffer: response.body).contains("\"Mars\" is not a valid AWS region name"))
                            }
                            #expect(try await targets() == 1 + 3 * 2)
                            try await client.execute(uri: "/-/reload", method: .get) { response in
                                #expect(response.status == .methodNotAllowed)
                                #expect(response.headers[.allow] == "POST")
                            }
                            let parsed = try await organization.scrape()
                            #expect(
                                parsed.value("aws_sso_admin_exporter_config_reloads_total", ["result": "success"]) == 1)
                            #expect(
                                parsed.value("aws_sso_admin_exporter_config_reloads_total", ["result": "failure"]) == 1)
                            #expect(parsed.value("aws_sso_admin_exporter_config_last_reload_successful") == 0)
                            #expect(parsed.samples("aws_sso_admin_collect_success").count == 1 + 3 * 2)
                        }
                    }
                }
            }
        }

        @Test("defaults: one target on scrape, more in the background; NAME/REGION names in file order")
        func defaults() throws {
            let one = try TargetsConfiguration.parse("targets:\n  - name: a\n    regions: [us-east-1]\n", path: "t.yml")
            #expect(one.mode == .onScrape)
            let two = try TargetsConfiguration.parse(
                "targets:\n  - name: a\n    regions: [us-east-1, eu-west-1]\n    labels: {zone: b, env: prod}\n",
                path: "t.yml")
            #expect(two.mode == .background)
            #expect(two.collectionTargets.map(\.target.name) == ["a/us-east-1", "a/eu-west-1"])
            #expect(two.collectionTargets[0].target.labels.map(\.0) == ["region", "account_id", "env", "zone"])
            #expect(two.maxStale == .seconds(600))
        }
    }
}
