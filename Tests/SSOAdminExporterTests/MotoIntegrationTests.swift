import AWSClient
import AsyncHTTPClient
import Foundation
import SSOAdminExporter
import TestSupport
import Testing

/// Against moto_server, which checks every signature with its own SigV4 implementation once setup is done.
/// Needs `moto_server` on PATH (pip install 'moto[server]'); skipped without it, except under CI=true.
extension ExternalProgramTests {
    @Suite("moto_server end to end", .enabled(if: ExternalTools.shouldRun("moto_server")), .serialized)
    struct MotoIntegrationTests {
        func withMoto(
            credentials: (AWSCredentials) -> AWSCredentials = { $0 },
            _ body: (MotoServer, Exporter, AWSClock) async throws -> Void
        ) async throws {
            let moto = try await MotoServer.start()
            defer { moto.stop() }
            let configuration = try ExporterHarness.configuration(
                endpoint: moto.endpoint, environment: ["AWS_ENDPOINT_URL_STS": moto.endpoint])
            let client = try ExporterHarness.client(for: configuration)
            try await withAsyncCleanup {
                let page = try Exporter(
                    configuration: configuration,
                    credentialProvider: StaticCredentialProvider(credentials(moto.credentials)),
                    client: client,
                    logger: ExporterHarness.logger
                )
                try await page.running { try await body(moto, page, .continuous) }
            } cleanup: {
                try await client.shutdown()
            }
        }

        @Test("moto's instance is served, signed well enough for moto's own verifier")
        func servesMotoInstance() async throws {
            try await withMoto { _, page, clock in
                let text = try await page.scrapeText(clock: clock)
                let metrics = try ExpositionParser.parse(text)
                #expect(metrics.success == 1, "\(text.prefix(2000))")
                #expect(metrics.value("aws_sso_admin_instances", ["status": "ACTIVE"]) == 1)
                let info = try #require(metrics.samples("aws_sso_admin_instance_info").first)
                #expect(info.labels["instance_arn"]?.hasPrefix("arn:aws:sso:::instance/ssoins-") == true)
                #expect(info.labels["owner_account_id"]?.count == 12)
                #expect(info.labels["identity_store_id"]?.hasPrefix("d-") == true)
                #expect(metrics.samples("aws_sso_admin_instance_creation_timestamp_seconds").count == 1)
                #expect(metrics.requests == 1)

                if ExternalTools.shouldRun("promtool") {
                    let promtool = try #require(ExternalTools.path("promtool"), "promtool is required under CI")
                    let (status, output) = try await ExternalTools.runDetached(
                        promtool, ["check", "metrics"], input: Data(text.utf8))
                    #expect(status == 0, "promtool check metrics: \(output)")
                    #expect(output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "promtool found: \(output)")
                }
            }
        }

        @Test("a wrong secret shows up as a counted error, and the exporter keeps serving")
        func wrongSecret() async throws {
            let wrongSecret: (AWSCredentials) -> AWSCredentials = {
                AWSCredentials(accessKeyID: $0.accessKeyID, secretAccessKey: "not-the-secret")
            }
            try await withMoto(credentials: wrongSecret) { _, page, clock in
                for scrape in 1...2 {
                    let metrics = try await page.scrape(clock: clock)
                    #expect(metrics.success == 0)
                    // The account is learned first, so the wrong signature is refused there, before ListInstances.
                    let refused = metrics.value(
                        "aws_sso_admin_api_errors_total",
                        ["operation": "GetCallerIdentity", "exception": "SignatureDoesNotMatch"])
                    #expect(refused == Double(scrape))
                    #expect(metrics.samples("aws_sso_admin_instance_info").isEmpty)
                }
            }
        }
    }
}

/// `promtool check metrics` on the exporter's real output, with every kind of series present.
extension ExternalProgramTests {
    @Suite("promtool", .enabled(if: ExternalTools.shouldRun("promtool")))
    struct PromtoolTests {
        @Test("promtool finds nothing to complain about")
        func checkMetrics() async throws {
            let promtool = try #require(ExternalTools.path("promtool"), "promtool is required under CI")
            try await ExporterHarness.with(instances: DeadlineTests.CollectionTests.mixed + FakeInstance.numbered(20)) {
                harness in
                harness.service.inject([.serviceError(code: "ThrottlingException", status: 400)])
                let text = try await harness.page.scrapeText(clock: harness.clock)
                #expect(try ExpositionParser.parse(text).success == 1)
                let (status, output) = try await ExternalTools.runDetached(
                    promtool, ["check", "metrics"], input: Data(text.utf8))
                #expect(status == 0, "promtool check metrics: \(output)")
                #expect(output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "promtool found: \(output)")
            }
        }
    }
}
