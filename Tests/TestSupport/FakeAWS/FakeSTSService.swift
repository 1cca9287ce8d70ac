/// A loopback STS answering `GetCallerIdentity` (query protocol, XML) for one account, as botocore's `sts` model
/// shapes it; for tests of the default target, which learns its account that way.
public final class FakeSTSService: Sendable {
    public let account: String

    public init(account: String = "123456789012") {
        self.account = account
    }

    /// Whether a request is in the query protocol (a form body naming its `Action`), as STS requests are and
    /// JSON 1.1 ones are not.
    public static func isQueryProtocol(_ request: FakeHTTPRequest) -> Bool {
        request.body.starts(with: Array("Action=".utf8))
    }

    public func handle(_ request: FakeHTTPRequest) async -> FakeHTTPAction {
        let body = String(decoding: request.body, as: UTF8.self)
        guard request.method == "POST", body.hasPrefix("Action=GetCallerIdentity"),
            request.header("Authorization")?.contains("/sts/aws4_request") == true
        else {
            return .respond(
                status: 400, headers: [("Content-Type", "text/xml")],
                body: Array(
                    """
                    <ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code>\
                    <Message>only GetCallerIdentity is served here</Message></Error>\
                    <RequestId>fake</RequestId></ErrorResponse>
                    """.utf8))
        }
        return .respond(
            status: 200, headers: [("Content-Type", "text/xml")],
            body: Array(
                """
                <GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
                <GetCallerIdentityResult><Arn>arn:aws:iam::\(account):user/exporter</Arn>\
                <UserId>AIDAFAKE</UserId><Account>\(account)</Account></GetCallerIdentityResult>
                <ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata></GetCallerIdentityResponse>
                """.utf8))
    }
}

extension FakeHTTPServer {
    /// One loopback endpoint for both fakes, as `AWS_ENDPOINT_URL` gives one endpoint to every service: query-protocol
    /// requests go to `sts`, the rest to `ssoAdmin`.
    public static func start(
        port: Int = 0, ssoAdmin: FakeSSOAdminService, sts: FakeSTSService
    ) async throws -> FakeHTTPServer {
        try await start(port: port) { request in
            FakeSTSService.isQueryProtocol(request) ? await sts.handle(request) : await ssoAdmin.handle(request)
        }
    }
}
