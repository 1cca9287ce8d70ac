import AWSClient
import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import TestSupport
import Testing

@testable import SSOAdminExporter

@Suite("flags and environment")
struct ConfigurationTests {
    func resolve(_ arguments: [String], _ environment: [String: String] = ["AWS_REGION": "eu-west-1"]) throws
        -> ExporterConfiguration
    {
        try ExporterConfiguration.resolve(ExporterOptions.parse(arguments), environment: environment)
    }

    @Test("defaults")
    func defaults() throws {
        let configuration = try resolve([])
        #expect(configuration.web.listenAddress == ListenAddress(host: "0.0.0.0", port: 10711))
        #expect(configuration.web.telemetryPath == "/metrics")
        #expect(configuration.aws.endpoint.url.absoluteString == "https://sso.eu-west-1.amazonaws.com")
        #expect(configuration.aws.endpoint.signingName == "sso")
        #expect(configuration.aws.pageSize == 100)
        #expect(configuration.aws.maxAttempts == 3)
        #expect(configuration.collection.timeout == .seconds(10))
        #expect(configuration.collection.minInterval == .zero)
        #expect(configuration.log.format == .logfmt)
    }

    @Test("every flag is taken")
    func flags() throws {
        let configuration = try resolve(
            [
                "--web.listen-address", "[::1]:9999", "--web.telemetry-path", "/m", "--aws.region", "us-west-2",
                "--aws.endpoint-url", "http://127.0.0.1:5000", "--aws.page-size", "7", "--aws.connect-timeout", "1s",
                "--aws.request-timeout", "1500ms", "--collect.timeout", "1m30s", "--collect.min-interval", "2m",
                "--log.level", "debug", "--log.format", "json",
            ], ["AWS_MAX_ATTEMPTS": "5"])
        #expect(configuration.web.listenAddress == ListenAddress(host: "::1", port: 9999))
        #expect(configuration.web.telemetryPath == "/m")
        #expect(configuration.aws.endpoint.region == "us-west-2")
        #expect(configuration.aws.endpoint.url.absoluteString == "http://127.0.0.1:5000")
        #expect(configuration.aws.pageSize == 7)
        #expect(configuration.aws.connectTimeout == .seconds(1))
        #expect(configuration.aws.requestTimeout == .milliseconds(1500))
        #expect(configuration.collection.timeout == .seconds(90))
        #expect(configuration.collection.minInterval == .seconds(120))
        #expect(configuration.log.level == .debug)
        #expect(configuration.log.format == .json)
        #expect(configuration.aws.maxAttempts == 5)
    }

    /// The file's key wins over the flag, and either turns the detail calls off.
    @Test("instance details: on by default; --no-collect.instance-details or collection.instance_details: false")
    func instanceDetailsSwitch() throws {
        #expect(try resolve([]).collection.instanceDetails)
        #expect(try !resolve(["--no-collect.instance-details"]).collection.instanceDetails)
        #expect(try resolve(["--collect.instance-details"]).collection.instanceDetails)
        func file(_ line: String) throws -> String {
            try SimulatedOrganization.write(
                "targets:\n  - name: a\n    regions: [us-east-1]\n" + (line.isEmpty ? "" : "collection:\n  \(line)\n"))
        }
        #expect(try !resolve(["--config.file", file("instance_details: false")]).collection.instanceDetails)
        #expect(
            try resolve(["--config.file", file("instance_details: true"), "--no-collect.instance-details"])
                .collection.instanceDetails)
        #expect(try !resolve(["--config.file", file(""), "--no-collect.instance-details"]).collection.instanceDetails)
        #expect(try resolve(["--config.file", file("")]).collection.instanceDetails)
    }

    /// The router ignores empty segments, so `/sd/` would be `/sd`: compared, and served, in the router's form.
    @Test(
        "--web.telemetry-path is served in the form the router matches",
        arguments: [
            ("/custom//metrics/", "/custom/metrics"), ("//m", "/m"), ("/a.b_c~d-e", "/a.b_c~d-e"),
        ])
    func telemetryPathNormalized(given: String, served: String) throws {
        #expect(try resolve(["--web.telemetry-path", given]).web.telemetryPath == served)
    }

    @Test("FIPS and dual-stack from flags or variables, for sso-admin's rules; with a custom endpoint an error")
    func endpointVariants() throws {
        let fips = try resolve(["--aws.use-fips-endpoint"], ["AWS_REGION": "us-west-2"])
        #expect(fips.aws.endpoint.url.absoluteString == "https://sso-fips.us-west-2.amazonaws.com")
        let govFIPS = try resolve([], ["AWS_REGION": "us-gov-west-1", "AWS_USE_FIPS_ENDPOINT": "true"])
        #expect(govFIPS.aws.endpoint.url.absoluteString == "https://sso.us-gov-west-1.amazonaws.com")
        let dualStack = try resolve(["--aws.use-dualstack-endpoint"], ["AWS_REGION": "cn-north-1"])
        #expect(dualStack.aws.endpoint.url.absoluteString == "https://sso.cn-north-1.api.amazonwebservices.com.cn")
        let both = try resolve(
            [],
            [
                "AWS_REGION": "eu-west-1", "AWS_USE_FIPS_ENDPOINT": "TRUE",
                "AWS_USE_DUALSTACK_ENDPOINT": "true",
            ])
        #expect(both.aws.endpoint.url.absoluteString == "https://sso-fips.eu-west-1.api.aws")
        let off = try resolve([], ["AWS_REGION": "eu-west-1", "AWS_USE_FIPS_ENDPOINT": "false"])
        #expect(off.aws.endpoint.url.absoluteString == "https://sso.eu-west-1.amazonaws.com")
        for (arguments, environment, named) in [
            (
                ["--aws.use-fips-endpoint", "--aws.endpoint-url", "http://127.0.0.1:1"], ["AWS_REGION": "eu-west-1"],
                "--aws.endpoint-url and --aws.use-fips-endpoint"
            ),
            (
                [], ["AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL": "http://x", "AWS_USE_DUALSTACK_ENDPOINT": "true"],
                "AWS_ENDPOINT_URL and AWS_USE_DUALSTACK_ENDPOINT"
            ),
            ([], ["AWS_REGION": "eu-west-1", "AWS_USE_FIPS_ENDPOINT": "yes"], "AWS_USE_FIPS_ENDPOINT"),
        ] {
            let error = try #require(throws: ExporterConfigurationError.self) { try resolve(arguments, environment) }
            #expect(error.message.contains(named), "\(error)")
        }
    }

    @Test("the region may come from the active profile, read only when no flag or variable gives one")
    func regionFromProfile() throws {
        let files: (String) throws -> String? = { path in
            path == "/home/u/.aws/config"
                ? "[default]\nregion = ap-southeast-2\n[profile other]\nregion = sa-east-1\n" : nil
        }
        let home = ["HOME": "/home/u"]
        let fromDefault = try ExporterConfiguration.resolve(
            ExporterOptions.parse([]), environment: home, readFile: files)
        #expect(fromDefault.aws.endpoint.region == "ap-southeast-2")
        let fromOther = try ExporterConfiguration.resolve(
            ExporterOptions.parse(["--aws.profile", "other"]), environment: home, readFile: files)
        #expect(fromOther.aws.endpoint.region == "sa-east-1")
        let broken: (String) throws -> String? = { _ in "not an ini file" }
        let given = try ExporterConfiguration.resolve(
            ExporterOptions.parse([]), environment: home.merging(["AWS_REGION": "eu-west-3"]) { $1 }, readFile: broken)
        #expect(given.aws.endpoint.region == "eu-west-3")
        let error = try #require(throws: ExporterConfigurationError.self) {
            try ExporterConfiguration.resolve(ExporterOptions.parse([]), environment: home, readFile: broken)
        }
        #expect(error.message.contains("/home/u/.aws/config line 1"))
    }

    @Test("endpoint_url in the active profile comes after the flag and both variables")
    func endpointFromProfile() throws {
        let files: (String) throws -> String? = { path in
            path == "/home/u/.aws/config" ? "[default]\nendpoint_url = http://127.0.0.1:4566\n" : nil
        }
        let environment = ["HOME": "/home/u", "AWS_REGION": "us-east-1"]
        let fromProfile = try ExporterConfiguration.resolve(
            ExporterOptions.parse([]), environment: environment, readFile: files)
        #expect(fromProfile.aws.endpoint.url.absoluteString == "http://127.0.0.1:4566")
        let fromVariable = try ExporterConfiguration.resolve(
            ExporterOptions.parse([]), environment: environment.merging(["AWS_ENDPOINT_URL": "http://other:1"]) { $1 },
            readFile: files)
        #expect(fromVariable.aws.endpoint.url.absoluteString == "http://other:1")
        let fips = try #require(throws: ExporterConfigurationError.self) {
            try ExporterConfiguration.resolve(
                ExporterOptions.parse(["--aws.use-fips-endpoint"]), environment: environment, readFile: files)
        }
        #expect(fips.message.contains("endpoint_url of profile default"))
    }

    @Test("without --config.file the flags define one target, in the same model a file's targets use")
    func flagsTarget() throws {
        let plain = try resolve(["--collect.timeout", "7s"])
        #expect(plain.configFile == nil)
        #expect(plain.targets.collectionTargets.map(\.target.name) == ["default/eu-west-1"])
        #expect(plain.targets.collectionTargets.map(\.target.accountID) == [""])
        #expect(plain.targets.mode == .onScrape)
        #expect(plain.targets.timeout == plain.collection.timeout)
        #expect(plain.targets.timeout == .seconds(7))
        #expect(plain.targets.maxStale == .zero)
        #expect(plain.targets.discovery == nil)
        // One identity, nothing to isolate it from: its calls are not paced, as before the file existed.
        #expect(plain.targets.accountPacing == nil)
        // --aws.role-arn is assumed by the credential chain, beneath the target: the target assumes nothing more.
        let role = try resolve(["--aws.role-arn", "arn:aws:iam::123456789012:role/exporter"])
        #expect(role.targets.targets.map(\.role) == [nil])
        #expect(role.targets.collectionTargets.map(\.target.accountID) == ["123456789012"])
        let account = try resolve(["--aws.account-id", "210987654321"])
        #expect(account.targets.collectionTargets.map(\.target.accountID) == ["210987654321"])
        let path = try SimulatedOrganization.write("targets:\n  - name: a\n    regions: [eu-west-1]\n")
        let file = try resolve(["--config.file", path])
        #expect(file.targets.accountPacing == .init(requestsPerSecond: 5, burst: 10))
    }

    @Test("--aws.profile and the role flags; the role flags are checked")
    func credentialFlags() throws {
        let configuration = try resolve([
            "--aws.profile", "prod", "--aws.role-arn", "arn:aws:iam::123456789012:role/exporter",
            "--aws.external-id", "ext-1", "--aws.role-session-name", "scrape",
        ])
        #expect(configuration.aws.profile == "prod")
        #expect(
            configuration.aws.assumeRole
                == .init(
                    roleARN: "arn:aws:iam::123456789012:role/exporter", externalID: "ext-1", roleSessionName: "scrape"))
        for (arguments, named) in [
            (["--aws.role-arn", "arn:aws:iam::12345:role/x"], "--aws.role-arn"),
            (["--aws.role-arn", "arn:aws-us-gov:iam::123456789012:user/x"], "--aws.role-arn"),
            (["--aws.external-id", "x1"], "--aws.external-id needs --aws.role-arn"),
            (
                ["--aws.role-arn", "arn:aws:iam::123456789012:role/x", "--aws.role-session-name", "a b"],
                "--aws.role-session-name"
            ),
        ] {
            let error = try #require(throws: ExporterConfigurationError.self) { try resolve(arguments) }
            #expect(error.message.contains(named), "\(error)")
        }
        #expect(try resolve(["--aws.role-arn", "arn:aws-cn:iam::123456789012:role/path/x"]).aws.assumeRole != nil)
    }

    @Test(
        "bad values are errors that name the flag or variable",
        arguments: [
            (["--web.listen-address", "10711"], [String: String](), "--web.listen-address"),
            (["--web.listen-address", ":99999"], [:], "--web.listen-address"),
            (["--web.listen-address", "::1:80"], [:], "--web.listen-address"),
            (["--web.telemetry-path", "metrics"], [:], "--web.telemetry-path"),
            (["--web.telemetry-path", "/-/healthy"], [:], "--web.telemetry-path"),
            (["--web.telemetry-path", "/sd/"], [:], "--web.telemetry-path"),
            (["--web.telemetry-path", "//probe//"], [:], "--web.telemetry-path"),
            (["--web.telemetry-path", "/-/ready/"], [:], "--web.telemetry-path"),
            (["--web.telemetry-path", "//"], [:], "--web.telemetry-path"),
            (["--web.telemetry-path", "/:id"], [:], "--web.telemetry-path"),
            (["--web.telemetry-path", "/{x}"], [:], "--web.telemetry-path"),
            (["--web.telemetry-path", "/**"], [:], "--web.telemetry-path"),
            (["--web.telemetry-path", "/\u{212A}"], [:], "--web.telemetry-path"),
            (["--web.telemetry-path", "/a/../sd"], [:], "--web.telemetry-path"),
            (["--web.telemetry-path", "/" + String(repeating: "m", count: 100_000)], [:], "--web.telemetry-path"),
            (["--aws.page-size", "0"], [:], "--aws.page-size"),
            (["--aws.page-size", "101"], [:], "--aws.page-size"),
            (["--aws.endpoint-url", "ftp://x"], [:], "--aws.endpoint-url"),
            (["--aws.region", "Not A Region"], [:], "--aws.region"),
            ([], ["AWS_MAX_ATTEMPTS": "zero"], "AWS_MAX_ATTEMPTS"),
            ([], ["AWS_MAX_ATTEMPTS": "0"], "AWS_MAX_ATTEMPTS"),
            ([], ["AWS_RETRY_MODE": "adaptive"], "AWS_RETRY_MODE"),
            ([], ["AWS_ENDPOINT_URL_SSO_ADMIN": "nonsense"], "AWS_ENDPOINT_URL_SSO_ADMIN"),
            (["--collect.timeout", "0"], [:], "--collect.timeout"),
        ])
    func badValues(arguments: [String], environment: [String: String], named: String) {
        var merged = environment
        merged["AWS_REGION"] = merged["AWS_REGION"] ?? "eu-west-1"
        do {
            _ = try resolve(arguments, merged)
            Issue.record("accepted \(arguments) \(environment)")
        } catch {
            #expect("\(error)".contains(named), "\(error)")
        }
    }

    @Test("no region anywhere is an error that says how to set one")
    func noRegion() {
        #expect(throws: ExporterConfigurationError.self) { try resolve([], [:]) }
    }

    @Test(
        "Prometheus durations",
        arguments: [
            ("0", Duration.zero), ("500ms", .milliseconds(500)), ("10s", .seconds(10)), ("1m30s", .seconds(90)),
            ("2h", .seconds(7200)), ("1d", .seconds(86_400)),
        ])
    func durations(text: String, expected: Duration) {
        #expect(PrometheusDuration.parse(text) == expected)
    }

    @Test(
        "malformed durations are rejected",
        arguments: ["", "10", "s", "1.5s", "10x", "30s1m", "-1s", "99999999999999h"])
    func badDurations(text: String) {
        #expect(PrometheusDuration.parse(text) == nil)
    }
}

extension ExternalProgramTests {
    @Suite("the sso-admin-exporter binary")
    struct BinaryTests {
        static var binary: String? {
            ExternalTools.builtProduct("sso-admin-exporter")
        }

        func run(_ arguments: [String], environment: [String: String] = ["AWS_REGION": "us-east-1"]) async throws -> (
            Int32, String
        ) {
            let binary = try #require(Self.binary, "swift test builds the sso-admin-exporter product next to the tests")
            return try await ExternalTools.runDetached(binary, arguments, environment: environment)
        }

        @Test(
            "a bad flag or value exits 2 with a message that names it",
            arguments: [
                (["--no-such-flag"], "--no-such-flag"),
                (["--aws.page-size", "abc"], "--aws.page-size"),
                (["--aws.page-size", "500"], "--aws.page-size"),
                (["--collect.timeout", "soon"], "--collect.timeout"),
                (["--log.level", "loud"], "--log.level"),
                (["--web.listen-address", "nowhere"], "--web.listen-address"),
            ])
        func badFlag(arguments: [String], named: String) async throws {
            let (status, output) = try await run(arguments)
            #expect(status == 2, "\(output)")
            #expect(output.contains(named), "\(output)")
        }

        @Test("no region exits 2 and says how to set one")
        func noRegion() async throws {
            let (status, output) = try await run([], environment: [:])
            #expect(status == 2)
            #expect(output.contains("AWS_REGION"))
        }

        @Test("--version and --help exit 0")
        func versionAndHelp() async throws {
            let (versionStatus, version) = try await run(["--version"])
            #expect(versionStatus == 0)
            #expect(version.trimmingCharacters(in: .whitespacesAndNewlines) == BuildInfo.version)
            let (helpStatus, help) = try await run(["--help"])
            #expect(helpStatus == 0)
            for flag in ["--web.listen-address", "--web.telemetry-path", "--aws.region", "--collect.min-interval"] {
                #expect(help.contains(flag))
            }
        }

        @Test("serves /-/ready, then SIGTERM shuts it down cleanly with status 0")
        func gracefulShutdown() async throws {
            let binary = try #require(Self.binary)
            let port = try ExternalTools.freeLoopbackPort()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["--web.listen-address", "127.0.0.1:\(port)", "--log.level", "error"]
            process.environment = ["AWS_REGION": "us-east-1"]
            try process.run()
            defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            var ready = false
            for _ in 0..<100 where !ready {
                let request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/-/ready")
                ready = (try? await http.execute(request, timeout: .seconds(1)))?.status == .ok
                if !ready { try await Task.sleep(for: .milliseconds(100)) }
            }
            try await http.shutdown()
            #expect(ready, "the exporter did not become ready")
            kill(process.processIdentifier, SIGTERM)
            for _ in 0..<100 where process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
            #expect(!process.isRunning, "still running 5 s after SIGTERM")
            #expect(process.terminationReason == .exit)
            #expect(process.terminationStatus == 0)
        }
    }
}
