import AWSClient
import AsyncHTTPClient
import Foundation
import SSOAdminExporter
import TestSupport
import Testing

/// The credential chain against moto's STS, through the exporter's own wiring: the credentials STS hands out must
/// then pass moto's signature check and its authorization of `sso:ListInstances` for the role.
extension ExternalProgramTests {
    @Suite(
        "credential chain against moto_server's STS", .enabled(if: ExternalTools.shouldRun("moto_server")), .serialized)
    struct MotoCredentialsTests {
        /// Runs `body` with a metrics page whose credentials come from the default chain over `environment`.
        func withChain(
            unauthenticatedActions: Int = 0,
            arguments: (MotoServer) -> [String] = { _ in [] },
            environment: (MotoServer, URL) throws -> [String: String],
            body: (MotoServer, Exporter) async throws -> Void
        ) async throws {
            let moto = try await MotoServer.start(unauthenticatedActions: unauthenticatedActions)
            defer { moto.stop() }
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let configuration = try ExporterHarness.configuration(
                endpoint: moto.endpoint, arguments: arguments(moto),
                environment: ["AWS_ENDPOINT_URL_STS": moto.endpoint])
            let client = try ExporterHarness.client(for: configuration)
            try await withAsyncCleanup {
                let metrics = ExporterSelfMetrics()
                let chain = ExporterApplication.makeChainProvider(
                    configuration: configuration,
                    environment: try environment(moto, directory).merging([
                        "AWS_ENDPOINT_URL_STS": moto.endpoint, "HOME": directory.path,
                        "AWS_EC2_METADATA_DISABLED": "true",
                    ]) { given, _ in given },
                    client: client, metrics: metrics, logger: ExporterHarness.logger)
                let page = try Exporter(
                    configuration: configuration, credentialProvider: chain, client: client, selfMetrics: metrics,
                    logger: ExporterHarness.logger)
                try await page.running { try await body(moto, page) }
            } cleanup: {
                try await client.shutdown()
            }
        }

        func scrape(_ page: Exporter) async throws -> ParsedExposition {
            try await page.scrape(budget: .seconds(20))
        }

        func expectServed(_ metrics: ParsedExposition, provider: String, stsOperation: String) {
            #expect(metrics.success == 1)
            #expect(metrics.value("aws_sso_admin_instances", ["status": "ACTIVE"]) == 1)
            #expect(metrics.value("aws_sso_admin_api_requests_total", ["operation": stsOperation]) == 1)
            #expect(metrics.value("aws_sso_admin_credentials_refreshes_total", ["provider": provider]) == 1)
            #expect(metrics.value("aws_sso_admin_credentials_errors_total", ["provider": provider]) == 0)
            let expiry = metrics.value("aws_sso_admin_credentials_expiry_timestamp_seconds") ?? 0
            #expect(expiry > Date().timeIntervalSince1970)
        }

        @Test("--aws.role-arn: the role is assumed with the environment's keys, and its session lists instances")
        func roleFlag() async throws {
            try await withChain(
                arguments: { ["--aws.role-arn", $0.roleARN, "--aws.role-session-name", "moto-test"] },
                environment: { moto, _ in
                    [
                        "AWS_ACCESS_KEY_ID": moto.credentials.accessKeyID,
                        "AWS_SECRET_ACCESS_KEY": moto.credentials.secretAccessKey,
                    ]
                },
                body: { _, page in
                    let metrics = try await scrape(page)
                    expectServed(metrics, provider: "assume-role", stsOperation: "AssumeRole")
                    // Cached: a second scrape does not call STS again.
                    let again = try await scrape(page)
                    #expect(again.value("aws_sso_admin_api_requests_total", ["operation": "AssumeRole"]) == 1)
                }
            )
        }

        @Test("a profile with role_arn and source_profile, keys in the credentials file")
        func profileRoleChain() async throws {
            try await withChain(
                environment: { moto, directory in
                    let config = directory.appendingPathComponent("config")
                    let credentials = directory.appendingPathComponent("credentials")
                    try "[profile exporter]\nrole_arn = \(moto.roleARN)\nsource_profile = base\nrole_session_name = p\n"
                        .write(to: config, atomically: true, encoding: .utf8)
                    try "[base]\naws_access_key_id = \(moto.credentials.accessKeyID)\n"
                        .appending("aws_secret_access_key = \(moto.credentials.secretAccessKey)\n")
                        .write(to: credentials, atomically: true, encoding: .utf8)
                    return [
                        "AWS_PROFILE": "exporter", "AWS_CONFIG_FILE": config.path,
                        "AWS_SHARED_CREDENTIALS_FILE": credentials.path,
                    ]
                },
                body: { _, page in
                    expectServed(try await scrape(page), provider: "assume-role", stsOperation: "AssumeRole")
                }
            )
        }

        @Test("web identity from AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN, sent unsigned")
        func webIdentity() async throws {
            // moto cannot route an unsigned STS call once it checks signatures, so that one call goes unchecked;
            // ListInstances with the session's keys is checked.
            try await withChain(
                unauthenticatedActions: 1,
                environment: { moto, directory in
                    let token = directory.appendingPathComponent("token")
                    try "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2ln\n".write(
                        to: token, atomically: true, encoding: .utf8)
                    return ["AWS_WEB_IDENTITY_TOKEN_FILE": token.path, "AWS_ROLE_ARN": moto.roleARN]
                },
                body: { _, page in
                    expectServed(
                        try await scrape(page), provider: "web-identity", stsOperation: "AssumeRoleWithWebIdentity")
                }
            )
        }

        @Test("GetCallerIdentity, signed with the user's keys, names the user")
        func callerIdentity() async throws {
            let moto = try await MotoServer.start()
            defer { moto.stop() }
            let http = AsyncHTTPClientTransport.makeHTTPClient(connectTimeout: .seconds(2))
            try await withAsyncCleanup {
                let sts = STSClient(
                    sender: AWSClient(
                        configuration: AWSClientConfiguration(userAgent: "test"),
                        transport: AsyncHTTPClientTransport(client: http)
                    ).sender(
                        for: try STSClient.endpoint(
                            region: MotoServer.region, environment: ["AWS_ENDPOINT_URL_STS": moto.endpoint]),
                        credentials: StaticCredentialProvider(moto.credentials)))
                let identity = try await sts.getCallerIdentity(
                    deadline: AWSClock.continuous.now().advanced(by: .seconds(10)))
                #expect(identity.account == "123456789012")
                #expect(identity.arn.hasSuffix(":user/sso-admin-exporter"))
            } cleanup: {
                try await http.shutdown()
            }
        }

        @Test("AssumeRole refused (a role the keys may not assume): counted, logged, collect_success 0, still serving")
        func assumeRoleRefused() async throws {
            try await withChain(
                arguments: { _ in ["--aws.role-arn", "arn:aws:iam::123456789012:role/does-not-exist"] },
                environment: { moto, _ in
                    ["AWS_ACCESS_KEY_ID": moto.credentials.accessKeyID, "AWS_SECRET_ACCESS_KEY": "wrong-secret"]
                },
                body: { _, page in
                    for _ in 1...2 {
                        let metrics = try await scrape(page)
                        #expect(metrics.success == 0)
                        #expect(metrics.samples("aws_sso_admin_instance_info").isEmpty)
                    }
                    let metrics = try await scrape(page)
                    #expect(metrics.value("aws_sso_admin_credentials_errors_total", ["provider": "assume-role"]) == 3)
                    #expect(metrics.errors("CredentialsError") == 3)
                    #expect(
                        metrics.value(
                            "aws_sso_admin_api_errors_total",
                            ["operation": "AssumeRole", "exception": "SignatureDoesNotMatch"])
                            == 3, "\(metrics.samples("aws_sso_admin_api_errors_total").map(\.labels))")
                }
            )
        }
    }
}
