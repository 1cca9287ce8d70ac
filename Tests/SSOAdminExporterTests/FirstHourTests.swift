import AWSClient
import ArgumentParser
import Foundation
import Logging
import NIOHTTP1
import TestSupport
import Testing

@testable import SSOAdminExporter

/// What a new user meets in the first hour: the README's example configuration, mistakes in flags and files, a
/// machine without credentials or without STS. Each test is one surprise seen by a user, fixed.
@Suite("the first hour: examples that work, and mistakes explained at startup")
struct FirstHourTests {
    static let role = SimulatedOrganization.role

    // MARK: include_accounts and the management account

    /// Discovery of every account in us-east-1, with `include_accounts:` as given.
    static func discoveryYAML(includeAccounts: String) -> String {
        """
        discovery:
          organizations:
            role_name: \(role)
            regions: [us-east-1]
            include_accounts: \(includeAccounts)

        """
    }

    /// The accounts discovery of the simulator's five keeps with `include_accounts:` as given.
    static func keptAccounts(includeAccounts: String) async throws -> Set<String> {
        let simulator = OrganizationSimulator.generated(accounts: 5, regions: ["us-east-1"])
        var kept: Set<String> = []
        try await SimulatedOrganization.with(simulator, yaml: discoveryYAML(includeAccounts: includeAccounts)) {
            organization in
            try await #require(organization.page.discovery).discover()
            kept = Set(organization.page.scheduler.sources.map(\.target.accountID))
        }
        return kept
    }

    @Test("include_accounts: [] filters nothing, as omitting it does", arguments: ["[]", ""])
    func emptyIncludeAccounts(value: String) async throws {
        let parsed = try TargetsConfiguration.parse(Self.discoveryYAML(includeAccounts: value), path: "targets.yml")
        #expect(try #require(parsed.discovery).includeAccounts == nil)
        #expect(try await Self.keptAccounts(includeAccounts: value).count == 5)
    }

    @Test("a listed include_accounts still keeps only those accounts")
    func listedIncludeAccounts() async throws {
        let kept = try await Self.keptAccounts(includeAccounts: #"["100000000001", "100000000003"]"#)
        #expect(kept == ["100000000001", "100000000003"])
    }

    /// The README's shape: a `self` target beside discovery, whose labels differ from the discovered ones'.
    static func selfBesideDiscovery(mode: String) -> String {
        """
        targets:
          - name: self
            regions: [us-east-1]
            labels: {env: management}
        discovery:
          organizations:
            role_name: \(role)
            regions: [us-east-1, eu-west-1]
            labels: {source: organization}
        collection:
          mode: \(mode)

        """
    }

    @Test(
        "a configured target and a discovered one for the same account and Region are one target: the configured one",
        arguments: ["background", "on_scrape"])
    func configuredWinsOverDiscovered(mode: String) async throws {
        let simulator = OrganizationSimulator.generated(accounts: 3, regions: ["us-east-1", "eu-west-1"])
        let management = simulator.managementAccountID
        try await SimulatedOrganization.with(simulator, yaml: Self.selfBesideDiscovery(mode: mode)) { organization in
            // An on-scrape scheduler answers scrapes only while it runs, as in the service group; background rounds
            // are run here one by one.
            let running: (() async throws -> Void) async throws -> Void =
                mode == "on_scrape" ? { try await organization.page.running($0) } : { try await $0() }
            try await running {
                try await #require(organization.page.discovery).discover()
                // Before its first collection the configured target does not know its account: both are watched.
                #expect(organization.page.scheduler.sources.count == 7)
                if let scheduler = organization.page.scheduler as? PeriodicScheduler { await scheduler.collectRound() }
                // In on-scrape mode this scrape collects both; only the configured one's series are written.
                let first = try await organization.scrape()
                #expect(first.samples("aws_sso_admin_instance_info", ["account_id": management]).count == 1)
                #expect(
                    first.samples("aws_sso_admin_collect_success", ["account_id": management, "region": "us-east-1"])
                        .map(\.labels) == [["region": "us-east-1", "account_id": management, "env": "management"]])

                // From then on the discovered twin is no longer watched, in /sd, in rounds and in scrapes.
                let names = organization.page.scheduler.sources.map(\.target.name)
                #expect(names.count == 6)
                #expect(names.contains("self/us-east-1"))
                #expect(!names.contains("\(management)/us-east-1"))
                #expect(names.contains("\(management)/eu-west-1"))
                let sd = try #require(
                    JSONSerialization.jsonObject(with: Data(organization.page.routes.serviceDiscovery.json()))
                        as? [[String: Any]])
                #expect(sd.count == names.count)
                if let scheduler = organization.page.scheduler as? PeriodicScheduler { await scheduler.collectRound() }
                let parsed = try await organization.scrape()
                let info = parsed.samples("aws_sso_admin_instance_info")
                // sum(aws_sso_admin_instance_info) counts each instance once.
                #expect(Set(info.map { $0.labels["instance_arn"] }).count == info.count)
                #expect(parsed.samples("aws_sso_admin_instance_info", ["account_id": management]).count == 1)
                #expect(parsed.samples("aws_sso_admin_collect_success", ["source": "organization"]).count == 5)
            }
        }
    }

    @Test("a reload keeps what a configured target learned: its discovered twin does not come back")
    func reloadKeepsLearnedAccount() async throws {
        let simulator = OrganizationSimulator.generated(accounts: 3, regions: ["us-east-1", "eu-west-1"])
        let management = simulator.managementAccountID
        try await SimulatedOrganization.with(simulator, yaml: Self.selfBesideDiscovery(mode: "background")) {
            organization in
            let scheduler = try #require(organization.page.scheduler as? PeriodicScheduler)
            let reloader = try #require(organization.page.reloader)
            try await #require(organization.page.discovery).discover()
            await scheduler.collectRound()
            #expect(scheduler.sources.count == 6)
            let calls = simulator.calls("GetCallerIdentity")

            let reloading = Task { await reloader.run() }
            defer { reloading.cancel() }
            let outcome = await reloader.reload()
            #expect((try? outcome.get()) != nil, "\(outcome)")
            // At once, before any collection: the reloaded self target knows its account.
            let names = scheduler.sources.map(\.target.name)
            #expect(names.count == 6)
            #expect(!names.contains("\(management)/us-east-1"))
            #expect(scheduler.sources.first?.target.accountID == management)
            await scheduler.collectRound()
            let parsed = try await organization.scrape()
            #expect(parsed.samples("aws_sso_admin_instance_info", ["account_id": management]).count == 1)
            #expect(simulator.calls("GetCallerIdentity") == calls)
        }
    }

    @Test("two configured targets that turn out to watch the same account, Region and labels write their series once")
    func configuredTwins() async throws {
        let simulator = OrganizationSimulator.generated(accounts: 2, regions: ["us-east-1"])
        let management = simulator.managementAccountID
        let yaml = """
            targets:
              - name: given
                account_id: "\(management)"
                regions: [us-east-1]
              - name: learned
                regions: [us-east-1]
            collection:
              mode: on_scrape

            """
        try await SimulatedOrganization.with(simulator, yaml: yaml) { organization in
            try await organization.page.running {
                // The parser refuses a series written twice: the scrape that learns the account writes one.
                let first = try await organization.scrape()
                #expect(first.samples("aws_sso_admin_collect_success").count == 1)
                #expect(organization.page.scheduler.sources.map(\.target.name) == ["given/us-east-1"])
                let second = try await organization.scrape()
                #expect(second.samples("aws_sso_admin_instance_info").count == 1)
            }
        }
    }

    // MARK: check-config

    @Test("check-config reports every mistake of every section in one run, with the closest known key")
    func everyProblemInOneRun() throws {
        let yaml = """
            targets:
              - name: a
                role-arn: arn:aws:iam::111122223333:role/R
                regions: [eu-west-1]
            discovery:
              organisations:
                role_name: X
            collection:
              intervall: 30s
              timeout: 10

            """
        let error = try #require(throws: ConfigFileError.self) { try TargetsConfiguration.parse(yaml, path: "t.yml") }
        let lines = error.report().split(separator: "\n").map(String.init)
        #expect(
            lines == [
                "t.yml:3: targets[0].role-arn: unknown key (did you mean role_arn?)",
                "t.yml:6: discovery.organisations: unknown key (did you mean organizations?)",
                "t.yml:9: collection.intervall: unknown key (did you mean interval?)",
                "t.yml:10: collection.timeout: \"10\" is not a duration such as 30s or 5m",
            ])
    }

    @Test("values of the wrong type are reported for every target and section; the other sections are still checked")
    func wrongTypeInOneSection() throws {
        let yaml = """
            targets:
              - name: a
                regions: [eu-west-1]
                labels: {region: x}
            discovery:
              organizations:
                role_name: X
                regions: enabled
                refresh_interval: 10
            collection:
              max_concurrency: lots

            """
        let error = try #require(throws: ConfigFileError.self) { try TargetsConfiguration.parse(yaml, path: "t.yml") }
        let report = error.report()
        #expect(report.contains("collection.max_concurrency: must be an integer"), "\(report)")
        #expect(report.contains("targets[0].labels.region: is a label the exporter sets itself"), "\(report)")
        #expect(report.contains("discovery.organizations.refresh_interval"), "\(report)")

        let targets = """
            targets:
              - name: a
                regions: [eu-west-1]
                duration_seconds: long
              - name: b
                regions: eu-west-1
              - name: c
                regions: [eu-west-1]
                labels: {team: [x]}
              - {name: d, regions: [eu-west-1], role_arn: [x]}
            collection:
              interval: 10

            """
        let all = try #require(throws: ConfigFileError.self) { try TargetsConfiguration.parse(targets, path: "t.yml") }
        #expect(
            all.report().split(separator: "\n") == [
                "t.yml:4: targets[0].duration_seconds: must be an integer",
                "t.yml:6: targets[1].regions: must be a list",
                "t.yml:9: targets[2].labels.team: must be a single value, not a list or a mapping",
                "t.yml:10: targets[3].role_arn: must be a single value, not a list or a mapping",
                "t.yml:12: collection.interval: \"10\" is not a duration such as 30s or 5m",
            ])
    }

    @Test("a section given twice, a root that is a list, a key that is not a string: each said, nothing traps")
    func oddShapes() throws {
        for (yaml, expected) in [
            ("- a\n- b\n", "t.yml:1: must be a mapping of keys"),
            ("targets: 3\n", "t.yml:1: targets: must be a list"),
            (
                "collection:\n  interval: 10s\ncollection:\n  timeout: 1s\n",
                "t.yml:1: not valid YAML: a key is given more than once in one mapping (first here): \"collection\""
            ),
            ("targets:\n  - name: a\n    regions: [eu-west-1]\n    [x]: 1\n", "targets[0]: a key must be a string"),
        ] {
            let error = try #require(throws: ConfigFileError.self) {
                try TargetsConfiguration.parse(yaml, path: "t.yml")
            }
            #expect(error.report().contains(expected), "\(error.report())")
        }
    }

    @Test("~ and null are absent values, as an empty one is", arguments: ["~", "null", ""])
    func nullValues(value: String) throws {
        let yaml = """
            targets:
              - name: a
                regions: [us-east-1]
                labels: \(value)
            discovery:
              organizations:
                role_name: X
                regions: [us-east-1]
                include_accounts: \(value)
                exclude_accounts: \(value)
            collection: \(value)

            """
        let loaded = try TargetsConfiguration.parse(yaml, path: "t.yml")
        #expect(loaded.discovery?.includeAccounts == nil)
        #expect(loaded.targets.first?.labels.isEmpty == true)
    }

    @Test("invisible and direction-changing characters in a key are shown escaped, not as the key they mimic")
    func invisibleCharacters() throws {
        for scalar in ["\u{200B}", "\u{202E}", "\u{FEFF}"] {
            let yaml = "targets:\n  - name: a\n    regions\(scalar): [us-east-1]\n"
            let error = try #require(throws: ConfigFileError.self) {
                try TargetsConfiguration.parse(yaml, path: "t.yml")
            }
            let report = error.report()
            #expect(!report.unicodeScalars.contains { $0.properties.generalCategory == .format }, "\(report)")
            #expect(report.contains("targets[0].regions\\u{"), "\(report)")
        }
    }

    @Test("problems are reported in file order, whatever check found them")
    func fileOrder() throws {
        let yaml = """
            targets:
              - name: a
                role_arn: not-an-arn
                regions: [us-east-1]
              - name: b
                duration_seconds: xyz
                regions: [us-east-1]
            colection: {}

            """
        let error = try #require(throws: ConfigFileError.self) { try TargetsConfiguration.parse(yaml, path: "t.yml") }
        let lines = error.report().split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines.map { $0.split(separator: ":")[1] } == ["3", "6", "8"], "\(lines)")
    }

    @Test("unknown keys: the same one twice, a thousand, and one of a megabyte are each reported, bounded")
    func manyUnknownKeys() throws {
        var yaml = "targets:\n  - name: a\n    regions: [eu-west-1]\ncollection:\n"
        for index in 0..<1_000 { yaml += "  intervall\(index): 1s\n" }
        // A key past YAML's 1,024-character limit for simple keys, written as an explicit one.
        yaml += "  ? \(String(repeating: "k", count: 500_000))\n  : 1\n"
        let started = ContinuousClock.now
        let error = try #require(throws: ConfigFileError.self) { try TargetsConfiguration.parse(yaml, path: "t.yml") }
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(error.others.count == 1_000)  // 1,001 problems: the first carries the others
        let report = error.report()
        #expect(report.utf8.count <= ConfigFileError.reportLimit)
        #expect(report.contains("collection.intervall0: unknown key (did you mean interval?)"))
        // A key of a megabyte is no typo: no suggestion is computed for it.
        #expect(ConfigurationText.closest(to: String(repeating: "k", count: 1 << 20), among: ["interval"]) == nil)
    }

    @Test("closest known word: typos, swaps, case and dashes; nothing for words far from every candidate")
    func closestWord() {
        #expect(ConfigurationText.closest(to: "role-arn", among: ["role_arn", "role_name"]) == "role_arn")
        #expect(ConfigurationText.closest(to: "organisations", among: ["organizations"]) == "organizations")
        #expect(ConfigurationText.closest(to: "eu-wset-1", among: AWSPartition.listedRegions) == "eu-west-1")
        #expect(ConfigurationText.closest(to: "Interval", among: ["interval", "timeout"]) == "interval")
        #expect(ConfigurationText.closest(to: "zzzzzz", among: ["interval", "timeout"]) == nil)
        #expect(ConfigurationText.closest(to: "", among: ["interval"]) == nil)
    }

    // MARK: Regions

    @Test("a Region the partition data does not list is a warning naming the closest one, never an error")
    func unlistedRegions() throws {
        let yaml = """
            targets:
              - name: a
                regions: [eu-wset-1, us-east-1]
            discovery:
              organizations:
                role_name: X
                regions: [us-easst-1]

            """
        let loaded = try TargetsConfiguration.parse(yaml, path: "t.yml")
        #expect(loaded.warnings.count == 2)
        #expect(loaded.warnings[0].hasPrefix("t.yml:3: targets[0].regions[0]: \"eu-wset-1\""))
        #expect(loaded.warnings[0].contains("did you mean eu-west-1?"))
        #expect(loaded.warnings[1].contains("discovery.organizations.regions[0]"))
        #expect(loaded.warnings[1].contains("did you mean us-east-1?"))

        let options = try ExporterOptions.parse(["--aws.region", "eu-wset-1"])
        let configuration = try ExporterConfiguration.resolve(options, environment: [:]) { _ in nil }
        #expect(configuration.warnings.count == 1)
        #expect(configuration.warnings[0].hasPrefix("--aws.region: \"eu-wset-1\""))
        #expect(configuration.warnings[0].contains("did you mean eu-west-1?"))
        let fromEnvironment = try ExporterConfiguration.resolve(
            try ExporterOptions.parse([]), environment: ["AWS_REGION": "eu-wset-1"]
        ) { _ in nil }
        #expect(fromEnvironment.warnings.first?.hasPrefix("AWS_REGION:") == true)
        let listed = try ExporterConfiguration.resolve(
            try ExporterOptions.parse(["--aws.region", "eu-west-1"]), environment: [:]
        ) { _ in nil }
        #expect(listed.warnings.isEmpty)
    }

    @Test("a thousand unlisted Regions give a bounded list of warnings and a count")
    func thousandUnlistedRegions() throws {
        var yaml = "targets:\n"
        for index in 0..<1_000 { yaml += "  - name: t\(index)\n    regions: [xx-nowhere-\(index)]\n" }
        let loaded = try TargetsConfiguration.parse(yaml, path: "t.yml")
        #expect(loaded.warnings.count == TargetsConfiguration.maxWarnings + 1)
        #expect(loaded.warnings.last == "t.yml: and 980 more regions the partition data does not list")
    }

    // MARK: flags

    @Test(
        "a duration flag without a unit says it needs one", arguments: ["--collect.timeout", "--aws.request-timeout"])
    func durationWithoutUnit(flag: String) throws {
        let message = try #require(throws: (any Error).self) { try ExporterOptions.parse([flag, "10"]) }
        let text = ExporterOptions.fullMessage(for: message)
        #expect(text.contains("a duration needs a unit, such as 10s"), "\(text)")
        let other = try #require(throws: (any Error).self) { try ExporterOptions.parse([flag, "soon"]) }
        #expect(ExporterOptions.fullMessage(for: other).contains("give a duration such as 500ms, 10s"))
        // Read with a transform, the flags lose ArgumentParser's own "(default: …)": the help gives it.
        let help = ExporterOptions.helpMessage(columns: 1_000)
        for (name, fallback) in [
            ("--web.read-timeout", "65s"), ("--aws.connect-timeout", "3s"), ("--aws.request-timeout", "5s"),
            ("--collect.timeout", "10s"), ("--collect.min-interval", "0s"),
        ] {
            // Each flag's entry runs from its name to the next flag's.
            let entry = help.components(separatedBy: "\n  --").first { $0.hasPrefix(name.dropFirst(2) + " <") }
            #expect(entry?.contains("(default: \(fallback))") == true, "\(entry ?? "no entry for \(name)")")
        }
    }

    @Test("a missing configuration file says no such file, with its path")
    func missingFile() throws {
        let path = "/nonexistent-\(UUID().uuidString)/targets.yml"
        let error = try #require(throws: ConfigFileError.self) { try TargetsConfiguration.load(path: path) }
        #expect(error.report() == "\(path): no such file")
    }

    // MARK: STS

    @Test("--aws.account-id: the flags' target needs no STS; without it a failing GetCallerIdentity says what to set")
    func accountIDWithoutSTS() async throws {
        let unreachableSTS = "http://127.0.0.1:\(try ExternalTools.freeLoopbackPort())"
        let instance = FakeInstance(instanceArn: "arn:aws:sso:::instance/ssoins-1111111111111111")
        try await ExporterHarness.with(
            instances: [instance], arguments: ["--aws.account-id", "123456789012"],
            environment: ["AWS_ENDPOINT_URL_STS": unreachableSTS], clock: .continuous
        ) { harness in
            let parsed = try await harness.scrape()
            #expect(parsed.success == 1)
            #expect(parsed.value("aws_sso_admin_collect_success", ["account_id": "123456789012"]) == 1)
        }
        let (logger, capture) = DeadlineTests.OrganizationHardeningTests.capturingLogger()
        try await ExporterHarness.with(
            instances: [instance], environment: ["AWS_ENDPOINT_URL_STS": unreachableSTS], clock: .continuous,
            logger: logger
        ) { harness in
            let parsed = try await harness.scrape()
            #expect(parsed.success == 0)
        }
        let failures = capture.all.filter { $0.contains("collection failed") }
        #expect(failures.count == 1)
        #expect(failures.allSatisfy { $0.contains("--aws.account-id") && $0.contains("account_id:") }, "\(failures)")

        #expect(throws: (any Error).self) {
            try ExporterConfiguration.resolve(
                try ExporterOptions.parse(["--aws.region", "us-east-1", "--aws.account-id", "1234"]), environment: [:])
        }
        // With a configuration file the flag has no target to apply to: refused, pointing at account_id:.
        let file = try SimulatedOrganization.write("targets:\n  - name: self\n    regions: [us-east-1]\n")
        defer { try? FileManager.default.removeItem(atPath: file) }
        let withFile = try #require(throws: ExporterConfigurationError.self) {
            try ExporterConfiguration.resolve(
                try ExporterOptions.parse([
                    "--aws.region", "us-east-1", "--aws.account-id", "123456789012", "--config.file", file,
                ]), environment: [:])
        }
        #expect(withFile.message.contains("account_id:"), "\(withFile.message)")
        #expect(throws: (any Error).self) {
            try ExporterConfiguration.resolve(
                try ExporterOptions.parse([
                    "--aws.region", "us-east-1", "--aws.account-id", "123456789012", "--aws.role-arn",
                    "arn:aws:iam::210987654321:role/R",
                ]), environment: [:])
        }
    }

    // MARK: discovery's timestamp

    @Test("aws_sso_admin_discovery_last_success_timestamp_seconds is absent until a discovery succeeds")
    func discoveryTimestampAbsentUntilSuccess() async throws {
        let simulator = OrganizationSimulator.generated(accounts: 2, regions: ["us-east-1"])
        simulator.setOrganizationsFailing(true)
        let yaml = "discovery:\n  organizations:\n    role_name: \(Self.role)\n    regions: [us-east-1]\n"
        try await SimulatedOrganization.with(simulator, yaml: yaml) { organization in
            let discovery = try #require(organization.page.discovery)
            await discovery.discover()
            let failed = try await organization.scrape()
            #expect(failed.value("aws_sso_admin_discovery_errors_total") == 1)
            #expect(failed.samples("aws_sso_admin_discovery_last_success_timestamp_seconds").isEmpty)
            simulator.setOrganizationsFailing(false)
            await discovery.discover()
            let succeeded = try await organization.scrape()
            let stamp = try #require(succeeded.value("aws_sso_admin_discovery_last_success_timestamp_seconds"))
            #expect(abs(stamp - Date().timeIntervalSince1970) < 60)
        }
    }
}

extension ExternalProgramTests {
    @Suite("the binary in the first hour")
    struct FirstHourBinaryTests {
        @Test(
            "no credentials anywhere and no instance metadata: one warning at startup says so, and it keeps serving",
            .timeLimit(.minutes(1)))
        func noCredentialsAtStartup() async throws {
            let home = FileManager.default.temporaryDirectory.appendingPathComponent("no-credentials-\(UUID())")
            try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: home) }
            // Instance metadata on a loopback port nobody listens on: refused at once, as on a laptop after its
            // timeout.
            let closed = try ExternalTools.freeLoopbackPort()
            let exporter = try RunningExporter(
                arguments: ["--aws.region", "us-east-1"],
                environment: [
                    "HOME": home.path, "PATH": "/usr/bin:/bin",
                    "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:\(closed)",
                ])
            try await exporter.waitUntilReady()
            let warned = try await eventually(timeout: .seconds(20)) {
                exporter.log.contains("no AWS credentials found") ? true : nil
            }
            #expect(warned == true, "\(exporter.log)")
            let lines = exporter.log.split(separator: "\n").filter { $0.contains("no AWS credentials found") }
            #expect(lines.count == 1)
            let line = String(lines.first ?? "")
            #expect(line.contains("level=warn"))
            #expect(line.contains("\\\"Credentials\\\" in the README"), "\(line)")
            for tried in [
                "AWS_ACCESS_KEY_ID", "\(home.path)/.aws/credentials", "AWS_WEB_IDENTITY_TOKEN_FILE",
                "AWS_CONTAINER_CREDENTIALS", "EC2 instance metadata at http://127.0.0.1:\(closed)",
            ] {
                #expect(line.contains(tried), "\(tried) in \(line)")
            }
            // Still serving: health and the metrics page answer.
            #expect(await exporter.get("/-/healthy")?.status == .ok)
            #expect(try await exporter.metrics().value("aws_sso_admin_collect_success") == 0)
            // The collection failed for want of credentials, not because of STS: its log line does not send the
            // reader to --aws.account-id.
            let failed = try await eventually(timeout: .seconds(20)) {
                exporter.log.split(separator: "\n").first { $0.contains("collection failed") }
            }
            #expect(failed?.contains("credentials") == true, "\(failed ?? "")")
            #expect(failed?.contains("--aws.account-id") == false, "\(failed ?? "")")
        }
    }
}
