import AWSClient
import ArgumentParser
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import TestSupport
import Testing

@testable import SSOAdminExporter

@Suite("the shape of an organization: shards, pacing per account and Region, empty Regions")
struct OrganizationShapeTests {
    static let role = SimulatedOrganization.role
    static let instance = InstanceMetadata(
        instanceArn: "arn:aws:sso:::instance/ssoins-0000000000000001", ownerAccountId: "111122223333")

    // MARK: Shards

    @Test("an account's shard is FNV-1a of its ID modulo the count, the same in every process")
    func stableHash() {
        // Computed independently (Python: the FNV-1a 64-bit loop over the ASCII digits) so that a change of hash,
        // which would move accounts between running replicas, fails here.
        #expect(ShardAssignment.shard(of: "123456789012", count: 1_000_003) == 583_937)
        #expect(ShardAssignment.shard(of: "000000000000", count: 1_000_003) == 868_126)
        #expect(ShardAssignment.shard(of: "123456789012", count: 1) == 0)
        #expect(ShardAssignment.whole.owns(accountID: "123456789012"))
        // An account not known yet is every replica's until it is learned.
        #expect(ShardAssignment(index: 2, count: 3)?.owns(accountID: "") == true)
    }

    @Test("every account falls on exactly one of the replicas, and they share a real organization evenly")
    func partition() {
        let accounts = (0..<3_000).map { String(100_000_000_000 + $0 * 7_919) }
        for count in [1, 2, 3, 5, 7, 16] {
            let shards = (0..<count).compactMap { ShardAssignment(index: $0, count: count) }
            var sizes = [Int](repeating: 0, count: count)
            for account in accounts {
                let owners = shards.filter { $0.owns(accountID: account) }
                #expect(owners.count == 1, "\(account) with \(count) replicas: \(owners)")
                sizes[owners.first?.index ?? 0] += 1
            }
            let mean = Double(accounts.count) / Double(count)
            #expect(sizes.allSatisfy { Double($0) > mean * 0.8 && Double($0) < mean * 1.2 }, "\(count): \(sizes)")
        }
    }

    @Test(
        "an index or count outside its range is no shard",
        arguments: [(0, 0), (-1, 3), (3, 3), (0, 1_025), (Int.max, 2), (0, Int.min)])
    func outOfRange(index: Int, count: Int) {
        #expect(ShardAssignment(index: index, count: count) == nil)
    }

    func resolve(_ arguments: [String]) throws -> ExporterConfiguration {
        try ExporterConfiguration.resolve(
            try ExporterOptions.parse(arguments), environment: ["AWS_REGION": "us-east-1"], readFile: { _ in nil })
    }

    @Test("the flags win over the file, key by key; without either the whole organization is this replica's")
    func flagsOverFile() throws {
        let path = try SimulatedOrganization.write(
            "discovery:\n  organizations:\n    role_name: \(Self.role)\n    regions: enabled\n"
                + "    shard: {index: 1, count: 4}\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try resolve(["--config.file", path]).targets.shard == ShardAssignment(index: 1, count: 4))
        #expect(
            try resolve(["--config.file", path, "--discovery.shard.index", "3"]).targets.shard
                == ShardAssignment(index: 3, count: 4))
        #expect(
            try resolve(["--config.file", path, "--discovery.shard.count", "2"]).targets.shard
                == ShardAssignment(index: 1, count: 2))
        #expect(try resolve([]).targets.shard == .whole)
    }

    @Test(
        "a shard that cannot be is refused at startup, naming the flag or key and the range",
        arguments: [
            (["--discovery.shard.count", "0"], "--discovery.shard.count: 0 is outside 1..1024"),
            (["--discovery.shard.count", "5000"], "--discovery.shard.count: 5000 is outside 1..1024"),
            (
                ["--discovery.shard.index", "3", "--discovery.shard.count", "3"],
                "--discovery.shard.index: 3 is outside 0..2"
            ),
            (["--discovery.shard.index=-1", "--discovery.shard.count", "3"], "--discovery.shard.index: -1 is outside"),
            (["--discovery.shard.index", "1"], "--discovery.shard.count not given"),
        ])
    func badShardFlags(arguments: [String], message: String) throws {
        do {
            _ = try resolve(arguments)
            Issue.record("\(arguments) was accepted")
        } catch let error as ExporterConfigurationError {
            #expect(error.message.contains(message), "\(error.message)")
        } catch {
            // A value that is not a number at all is ArgumentParser's to refuse.
            Issue.record("\(error)")
        }
        #expect(throws: (any Error).self) { try ExporterOptions.parse(["--discovery.shard.index", "one"]) }
        #expect(throws: (any Error).self) {
            try ExporterOptions.parse(["--discovery.shard.count", String(repeating: "9", count: 10_000)])
        }
    }

    @Test("a file index beyond the flags' count is refused, naming where the index came from")
    func fileIndexBeyondFlagCount() throws {
        let path = try SimulatedOrganization.write(
            "discovery:\n  organizations:\n    role_name: \(Self.role)\n    regions: enabled\n    shard: {index: 2}\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect {
            try resolve(["--config.file", path, "--discovery.shard.count", "2"])
        } throws: { error in
            "\(error)".contains("discovery.organizations.shard.index in --config.file: 2 is outside 0..1")
        }
    }

    @Test("check-config warns of a file index without a count, which only a --discovery.shard.count above it allows")
    func fileIndexWithoutCount() throws {
        let yaml =
            "discovery:\n  organizations:\n    role_name: \(Self.role)\n    regions: enabled\n    shard: {index: 2}\n"
        let parsed = try TargetsConfiguration.parse(yaml, path: "t.yml")
        #expect(
            parsed.warnings.contains { $0.contains("t.yml:5:") && $0.contains("without shard.count") },
            "\(parsed.warnings)")
        let counted = try TargetsConfiguration.parse(
            yaml.replacingOccurrences(of: "{index: 2}", with: "{index: 2, count: 3}"), path: "t.yml")
        #expect(counted.warnings.isEmpty, "\(counted.warnings)")
    }

    /// Configured targets (one by the exporter's own identity, the others by role) and discovery, as replica
    /// `index` of `count`.
    static func replica(
        _ simulator: OrganizationSimulator, index: Int, count: Int, yaml: String,
        _ body: (SimulatedOrganization, ShardAssignment) async throws -> Void
    ) async throws {
        try await SimulatedOrganization.with(
            simulator, yaml: yaml,
            arguments: ["--discovery.shard.index", "\(index)", "--discovery.shard.count", "\(count)"]
        ) { organization in
            try await body(organization, try #require(ShardAssignment(index: index, count: count)))
        }
    }

    /// As replicas restarted with another count: each account falls on its new replica at the first round.
    @Test(
        "each replica discovers, assumes, lists and reports only its own accounts; together they cover all",
        arguments: [3, 2, 5])
    func discoveredAccountsSplit(replicas: Int) async throws {
        let simulator = OrganizationSimulator.generated(accounts: 30, regions: ["us-east-1", "eu-west-1"])
        let yaml = """
            discovery:
              organizations:
                role_name: \(Self.role)
                regions: enabled
            collection:
              mode: background

            """
        var seen: [String] = []
        for index in 0..<replicas {
            try await Self.replica(simulator, index: index, count: replicas, yaml: yaml) { organization, shard in
                let before = (0..<30).map { simulator.assumeRoles(into: String(100_000_000_000 + $0)) }
                try await #require(organization.page.discovery).discover()
                let scheduler = try #require(organization.page.scheduler as? PeriodicScheduler)
                await scheduler.collectRound()
                let metrics = try await organization.scrape()
                let accounts = Set(
                    metrics.samples("aws_sso_admin_collect_success").compactMap { $0.labels["account_id"] })
                #expect(!accounts.isEmpty)
                #expect(accounts.allSatisfy { shard.owns(accountID: $0) }, "\(shard): \(accounts.sorted())")
                #expect(metrics.value("aws_sso_admin_discovery_accounts") == Double(accounts.count))
                #expect(
                    metrics.value("aws_sso_admin_exporter_shard_info", ["index": "\(index)", "count": "\(replicas)"])
                        == 1)
                // No role of another replica's account was assumed, nor any of its Regions listed.
                for offset in 0..<30 {
                    let account = String(100_000_000_000 + offset)
                    let assumed = simulator.assumeRoles(into: account) - before[offset]
                    #expect(assumed == (shard.owns(accountID: account) ? 1 : 0), "\(account) by \(shard)")
                }
                seen += accounts
            }
        }
        #expect(seen.count == 30 && Set(seen).count == 30, "\(seen.sorted())")
    }

    @Test("configured targets are split by their account, the exporter's own once STS has named it")
    func configuredTargetsSplit() async throws {
        let simulator = OrganizationSimulator.generated(accounts: 12, regions: ["us-east-1"])
        let yaml =
            SimulatedOrganization.targetsYAML(simulator, accounts: 12, regions: ["us-east-1"])
            + "collection:\n  mode: on_scrape\n"
        var seen: [String] = []
        for index in 0..<2 {
            try await Self.replica(simulator, index: index, count: 2, yaml: yaml) { organization, shard in
                try await organization.page.running {
                    // The first scrape learns the exporter's own account; the second no longer has it unless it
                    // is this replica's.
                    _ = try await organization.scrape()
                    let metrics = try await organization.scrape()
                    let accounts = metrics.samples("aws_sso_admin_collect_success").compactMap {
                        $0.labels["account_id"]
                    }
                    #expect(accounts.allSatisfy { shard.owns(accountID: $0) }, "\(shard): \(accounts.sorted())")
                    #expect(!accounts.contains(""), "a target of no account was reported")
                    #expect(organization.page.scheduler.sources.count == accounts.count)
                    #expect(metrics.value("aws_sso_admin_targets", ["state": "configured"]) == Double(accounts.count))
                    #expect(metrics.value("aws_sso_admin_targets", ["state": "discovered"]) == 0)
                    seen += accounts
                }
            }
        }
        #expect(Set(seen) == Set((0..<12).map { String(100_000_000_000 + $0) }), "\(seen.sorted())")
        #expect(seen.count == 12, "an account was reported by both replicas: \(seen.sorted())")
        // Members another replica owns were never listed here: one ListInstances per member and scrape that
        // reached it, from its own replica alone.
        for member in 1..<12 {
            #expect(simulator.calls("ListInstances/\(100_000_000_000 + member)") == 2, "member \(member)")
        }
    }

    /// The replica of two that does not own the management account, whose identity the exporter has here.
    static func replicaWithoutTheManagementAccount(
        _ simulator: OrganizationSimulator, yaml: String, _ body: (SimulatedOrganization) async throws -> Void
    ) async throws {
        let management = String(100_000_000_000)
        let foreign = (ShardAssignment.shard(of: management, count: 2) + 1) % 2
        try await replica(simulator, index: foreign, count: 2, yaml: yaml) { organization, shard in
            #expect(!shard.owns(accountID: management))
            try await body(organization)
        }
    }

    @Test("a lone target of another replica's account, collected in the background, leaves nothing behind")
    func loneForeignTarget() async throws {
        let simulator = OrganizationSimulator.generated(accounts: 1, regions: ["us-east-1"])
        let yaml = "targets:\n  - name: self\n    regions: [us-east-1]\ncollection:\n  mode: background\n"
        try await Self.replicaWithoutTheManagementAccount(simulator, yaml: yaml) { organization in
            let scheduler = try #require(organization.page.scheduler as? PeriodicScheduler)
            await scheduler.collectRound()
            await scheduler.collectRound()
            let metrics = try await organization.scrape()
            #expect(metrics.samples("aws_sso_admin_collect_success").isEmpty, "\(metrics.samples)")
            #expect(metrics.value("aws_sso_admin_targets", ["state": "configured"]) == 0)
            #expect(metrics.value("aws_sso_admin_targets", ["state": "failing"]) == 0)
            #expect(scheduler.sources.isEmpty)
            // Its account was learned once; nothing was listed.
            #expect(simulator.calls("GetCallerIdentity") == 1)
            #expect(simulator.calls("ListInstances") == 0)
        }
    }

    @Test("on scrape, a probe of a target that learns another replica's account is 404, the first time too")
    func foreignProbeOnScrape() async throws {
        let simulator = OrganizationSimulator.generated(accounts: 2, regions: ["us-east-1"])
        let yaml = "targets:\n  - name: self\n    regions: [us-east-1, eu-west-1]\ncollection:\n  mode: on_scrape\n"
        try await Self.replicaWithoutTheManagementAccount(simulator, yaml: yaml) { organization in
            try await organization.page.running {
                let router = ExporterRouter.make(organization.page.routes)
                try await Application(router: router).test(.router) { client in
                    for path in ["/probe?target=self/us-east-1", "/probe?target=self/us-east-1", "/probe?target=self"] {
                        try await client.execute(uri: path, method: .get) { response in
                            #expect(response.status == .notFound, "\(path): \(String(buffer: response.body))")
                        }
                    }
                    try await client.execute(uri: "/sd", method: .get) { response in
                        #expect(String(buffer: response.body).trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
                    }
                }
                #expect(simulator.calls("ListInstances") == 0)
            }
        }
    }

    // MARK: Pacing

    @Test("the token bucket is one account in one Region: an account's Regions do not wait for each other")
    func pacingPerAccountAndRegion() async throws {
        let regions = ["us-east-1", "eu-west-1", "ap-southeast-2", "eu-central-1", "us-west-2"]
        let simulator = OrganizationSimulator.generated(accounts: 2, regions: regions)
        // One token per bucket and practically no refill: a second call through the same bucket within the
        // timeout is refused as paced, without being sent.
        let yaml = """
            targets:
              - name: member
                role_arn: arn:aws:iam::100000000001:role/\(Self.role)
                regions: [\(regions.joined(separator: ", "))]
              - name: member-again
                role_arn: arn:aws:iam::100000000001:role/\(Self.role)
                regions: [us-east-1]
                labels: {copy: "yes"}
            collection:
              mode: background
              account_requests_per_second: 0.001
              account_burst: 1
              instance_details: false

            """
        try await SimulatedOrganization.with(simulator, yaml: yaml) { organization in
            let scheduler = try #require(organization.page.scheduler as? PeriodicScheduler)
            await scheduler.collectRound()
            let metrics = try await organization.scrape()
            let member = metrics.samples("aws_sso_admin_collect_success", ["account_id": "100000000001"])
            // Five Regions, five buckets: each Region's one call goes through. The second target in us-east-1
            // shares that Region's bucket, and is the one refused.
            #expect(member.count == 6)
            #expect(member.filter { $0.value == 1 }.count == 5, "\(member)")
            // An account's Regions are collected one after another in file order: the copy comes last.
            #expect(metrics.value("aws_sso_admin_collect_success", ["region": "us-east-1", "copy": "yes"]) == 0)
            #expect(simulator.calls("ListInstances/100000000001") == 5)
        }
    }

    // MARK: Empty Regions

    @Test("collection.empty_region_interval: a Region without instances rests; one with instances keeps interval")
    func emptyRegionsRest() async throws {
        let clock = ManualClock()
        let calls = Mutex<[String: Int]>([:])
        let found = Mutex<[String: Int]>(["busy": 1, "empty": 0, "failing": 0])
        // Three Regions of one account: three targets, three series.
        let sources = zip(["busy", "empty", "failing"], ["us-east-1", "eu-west-1", "eu-central-1"]).map {
            name, region in
            TargetSource(target: CollectionTarget(name: name, region: region, accountID: "111122223333")) { _ in
                calls.withLock { $0[name, default: 0] += 1 }
                if name == "failing" { throw AWSClientError.invalidResponse("broken") }
                let count = found.withLock { $0[name, default: 0] }
                return (instances: (0..<count).map { _ in Self.instance }, pages: 1)
            }
        }
        let scheduler = PeriodicScheduler(
            targets: TargetSet(configured: sources),
            collector: TargetCollector(
                metrics: ExporterSelfMetrics(), clock: AWSClock(clock), logger: Logger(label: "t")),
            interval: .seconds(60), timeout: .seconds(5), maxStale: .zero, maxConcurrency: 4,
            emptyRegionInterval: .seconds(300), logger: Logger(label: "t"))
        // Eleven rounds a minute apart, as `run` starts them: 0 s to 600 s.
        for round in 0...10 {
            if round == 3 { found.withLock { $0["busy"] = 0 } }
            await scheduler.collectRound()
            clock.advance(by: .seconds(60))
        }
        let counted = calls.withLock { $0 }
        // Rounds 0-3 (round 3 found it empty), then 8: the first to start 300 s after round 3.
        #expect(counted["busy"] == 4 + 1, "\(counted)")
        // Rounds 0, 5 and 10: the fifth round after is the first that starts 300 s later.
        #expect(counted["empty"] == 3, "\(counted)")
        // A failure is no evidence of an empty Region: collected every round.
        #expect(counted["failing"] == 11, "\(counted)")
        // Resting keeps the last snapshot, reported as it was.
        let snapshots = await scheduler.snapshots(deadline: AWSClock(clock).now().advanced(by: .seconds(1)))
        #expect(snapshots.map(\.target.name) == ["busy", "empty", "failing"])
        #expect(snapshots.first { $0.target.name == "empty" }?.succeeded == true)
    }

    @Test("on scrape, an empty Region's result is reused for empty_region_interval; a busy one's is not")
    func emptyRegionsOnScrape() async throws {
        let clock = ManualClock()
        let calls = Mutex<[String: Int]>([:])
        let sources = zip(["busy", "empty"], ["us-east-1", "eu-west-1"]).map { name, region in
            TargetSource(target: CollectionTarget(name: name, region: region, accountID: "111122223333")) { _ in
                calls.withLock { $0[name, default: 0] += 1 }
                return (instances: name == "busy" ? [Self.instance] : [], pages: 1)
            }
        }
        let scheduler = OnScrapeScheduler(
            targets: TargetSet(configured: sources),
            collector: TargetCollector(
                metrics: ExporterSelfMetrics(), clock: AWSClock(clock), logger: Logger(label: "t")),
            emptyRegionInterval: .seconds(300))
        async let running: Void = scheduler.run()
        for _ in 0..<4 {
            _ = await scheduler.snapshots(deadline: AWSClock(clock).now().advanced(by: .seconds(5)))
            clock.advance(by: .seconds(100))
        }
        scheduler.shutDown()
        await running
        #expect(calls.withLock { $0 } == ["busy": 4, "empty": 2])
    }
}
