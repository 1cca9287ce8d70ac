import AWSClient
import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import SSOAdminExporter
import ServiceLifecycle
import TestSupport
import Testing

/// The exporter's real pipeline (client, paginator, collector, renderer) against a fake sso-admin on loopback.
struct ExporterHarness {
    let service: FakeSSOAdminService
    let server: FakeHTTPServer
    let sts: FakeSTSService
    let page: Exporter
    let clock: AWSClock
    let configuration: ExporterConfiguration

    static let logger: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel = .error
        return logger
    }()

    static func configuration(
        endpoint: String,
        arguments: [String] = [],
        environment: [String: String] = [:]
    ) throws -> ExporterConfiguration {
        let options = try ExporterOptions.parse(
            ["--aws.region", "us-east-1", "--aws.endpoint-url", endpoint] + arguments)
        return try ExporterConfiguration.resolve(options, environment: environment)
    }

    /// Runs `body` with a fresh fake holding `instances`; `clock` decides whether backoff really waits.
    static func with(
        instances: [FakeInstance],
        arguments: [String] = [],
        environment: [String: String] = [:],
        clock: AWSClock = AWSClock(ManualClock()),
        credentials: AWSCredentials = AWSCredentials(accessKeyID: "AKIDTEST", secretAccessKey: "do-not-log-me"),
        logger: Logger = ExporterHarness.logger,
        _ body: (ExporterHarness) async throws -> Void
    ) async throws {
        let service = FakeSSOAdminService(instances: instances)
        let server = try await FakeHTTPServer.start { await service.handle($0) }
        let sts = FakeSTSService()
        let stsServer = try await FakeHTTPServer.start { await sts.handle($0) }
        let configuration = try Self.configuration(
            endpoint: server.endpoint, arguments: arguments,
            environment: environment.merging(["AWS_ENDPOINT_URL_STS": stsServer.endpoint]) { given, _ in given })
        let client = try Self.client(for: configuration, clock: clock, logger: logger)
        try await withAsyncCleanup {
            let page = try Exporter(
                configuration: configuration,
                credentialProvider: StaticCredentialProvider(credentials),
                client: client,
                logger: logger
            )
            try await page.running {
                try await body(
                    ExporterHarness(
                        service: service, server: server, sts: sts, page: page, clock: clock,
                        configuration: configuration))
            }
        } cleanup: {
            await server.stop()
            await stsServer.stop()
            try await client.shutdown()
        }
    }

    /// The AWS client `run()` makes for `configuration`, with its own connections (the production transport), on
    /// `clock`; the caller shuts it down.
    static func client(
        for configuration: ExporterConfiguration, clock: AWSClock = .continuous, logger: Logger = ExporterHarness.logger
    ) throws -> AWSClient {
        try AWSClient(configuration: configuration.awsClient(clock: clock, logger: logger))
    }

    /// One scrape through the router, parsed.
    func scrape(budget: Duration = .seconds(10)) async throws -> ParsedExposition {
        try await page.scrape(clock: clock, budget: budget)
    }
}

extension Exporter {
    /// Runs `body` while the page's scheduler runs, as the exporter's service group would run it.
    func running<T>(_ body: () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.scheduler.run() }
            defer { group.cancelAll() }
            return try await body()
        }
    }
}

extension ParsedExposition {
    func errors(_ exception: String) -> Double? {
        value("aws_sso_admin_api_errors_total", ["operation": "ListInstances", "exception": exception])
    }

    var requests: Double? { value("aws_sso_admin_api_requests_total", ["operation": "ListInstances"]) }
    var success: Double? { value("aws_sso_admin_collect_success", ["region": "us-east-1"]) }
}
