import AWSClient
import Foundation
import Synchronization
import TestSupport
import Testing

/// A transport that answers from a list, recording how many requests it saw.
final class ScriptedTransport: AWSHTTPTransport {
    private let answers: Mutex<[AWSHTTPResponse]>
    private let count = Mutex(0)

    init(_ answers: [AWSHTTPResponse]) {
        self.answers = Mutex(answers)
    }

    var requests: Int { count.withLock { $0 } }

    func send(_ request: AWSHTTPRequest, timeout: Duration) async throws -> AWSHTTPResponse {
        count.withLock { $0 += 1 }
        return answers.withLock { $0.isEmpty ? AWSHTTPResponse(status: 500, headers: [], body: []) : $0.removeFirst() }
    }
}

@Suite("one client configuration for every AWS call")
struct ClientConfigurationTests {
    static let throttled = AWSHTTPResponse(
        status: 400, headers: [],
        body: Array(
            "<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>"
                .utf8))
    static let assumed = AWSHTTPResponse(
        status: 200, headers: [],
        body: Array(
            """
            <AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIAASSUMED</AccessKeyId>\
            <SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken>\
            <Expiration>2099-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>
            """.utf8))

    func assumeRole(retry: AWSClientConfiguration.Retry, transport: ScriptedTransport) async throws -> AWSCredentials {
        let context = AWSCredentialChainContext(
            environment: ["AWS_EC2_METADATA_DISABLED": "true"], region: "us-east-1",
            client: AWSClient(
                configuration: AWSClientConfiguration(userAgent: "test", retry: retry, clock: AWSClock(ManualClock())),
                transport: transport),
            sessionNamePrefix: "test")
        let resolved = try AWSCredentialChain.assumingRole(
            AssumeRoleRequest(roleARN: "arn:aws:iam::111122223333:role/r", roleSessionName: "s"),
            from: ResolvedCredentialProvider(
                provider: StaticCredentialProvider(AWSCredentials(accessKeyID: "AKID", secretAccessKey: "x")),
                source: "test"),
            context: context)
        return try await resolved.provider.credentials()
    }

    @Test("STS calls for credentials retry as AWS_MAX_ATTEMPTS says, like every other call")
    func stsHonoursRetries() async throws {
        let three = ScriptedTransport([Self.throttled, Self.throttled, Self.assumed])
        let credentials = try await assumeRole(retry: .init(maxAttempts: 3), transport: three)
        #expect(credentials.accessKeyID == "ASIAASSUMED")
        #expect(three.requests == 3)

        let one = ScriptedTransport([Self.throttled, Self.assumed])
        await #expect(throws: (any Error).self) {
            _ = try await assumeRole(retry: .init(maxAttempts: 1), transport: one)
        }
        #expect(one.requests == 1)
    }
}
