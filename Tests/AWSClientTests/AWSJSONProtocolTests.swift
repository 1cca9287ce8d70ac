import AWSClient
import Foundation
import Testing

@Suite("awsJson1_1 error parsing")
struct AWSJSONProtocolTests {
    func response(_ status: Int, headers: [(String, String)] = [], body: String) -> AWSHTTPResponse {
        AWSHTTPResponse(status: status, headers: headers.map { ($0.0, $0.1) }, body: Array(body.utf8))
    }

    @Test("X-Amzn-ErrorType wins over the body and loses its suffix")
    func headerFirst() {
        let error = AWSJSONProtocol.parseError(
            response(
                400,
                headers: [("x-amzn-errortype", "ValidationException:http://internal.amazon.com/coral/")],
                body: #"{"__type":"com.amazon#Other","message":"bad MaxResults"}"#
            )
        )
        #expect(error.code == "ValidationException")
        #expect(error.message == "bad MaxResults")
    }

    @Test(
        "__type with a namespace, then code",
        arguments: [
            (
                #"{"__type":"com.amazonaws.swbexternalservice#ThrottlingException","message":"slow"}"#,
                "ThrottlingException"
            ),
            (#"{"code":"AccessDeniedException","Message":"no"}"#, "AccessDeniedException"),
            (#"{"__type":"aws.protocoltests.restjson#FooError:http://internal.amazon.com/"}"#, "FooError"),
        ])
    func bodyCodes(body: String, expected: String) {
        #expect(AWSJSONProtocol.parseError(response(400, body: body)).code == expected)
    }

    @Test("a body that is not JSON falls back to the HTTP status")
    func nonJSON() {
        let error = AWSJSONProtocol.parseError(response(503, body: "<html>Service Unavailable</html>"))
        #expect(error.code == "ServiceUnavailable")
        #expect(error.statusCode == 503)
        #expect(AWSJSONProtocol.parseError(response(418, body: "")).code == "HTTP418")
    }

    @Test("an XML ErrorResponse, as front ends and emulators send, gives its Code")
    func xmlBody() {
        let body =
            "<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>bad sig</Message></Error></ErrorResponse>"
        let error = AWSJSONProtocol.parseError(response(403, body: body))
        #expect(error.code == "SignatureDoesNotMatch")
        #expect(error.message == "bad sig")
    }

    @Test("the request id is kept for support cases")
    func requestID() {
        let error = AWSJSONProtocol.parseError(
            response(500, headers: [("x-amzn-RequestId", "abc-123")], body: #"{"__type":"InternalServerException"}"#))
        #expect(error.requestID == "abc-123")
        #expect(error.code == "InternalServerException")
    }
}

@Suite("SigV4 encoding")
struct URIEncodingTests {
    @Test("unreserved characters pass, everything else is %XX upper-case")
    func encode() {
        #expect(URIEncoding.encode("AZaz09-_.~") == "AZaz09-_.~")
        #expect(URIEncoding.encode("a b/c+d=é") == "a%20b%2Fc%2Bd%3D%C3%A9")
    }

    @Test("decoding undoes encoding and keeps malformed escapes")
    func decode() {
        #expect(URIEncoding.decode("a%20b%2fc") == "a b/c")
        #expect(URIEncoding.decode("100%") == "100%")
        #expect(URIEncoding.decode("%zz") == "%zz")
    }
}

@Suite("credentials")
struct CredentialsTests {
    @Test("description never shows the secret or the token")
    func redaction() {
        let credentials = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "s3cr3t", sessionToken: "t0k3n")
        for text in ["\(credentials)", String(reflecting: credentials)] {
            #expect(!text.contains("s3cr3t"))
            #expect(!text.contains("t0k3n"))
            #expect(text.contains("AKIDEXAMPLE"))
        }
    }

    @Test("environment provider reads keys and either token variable")
    func environment() async throws {
        let full = try await EnvironmentCredentialProvider(environment: [
            "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SECURITY_TOKEN": "legacy",
        ]).credentials()
        #expect(full == AWSCredentials(accessKeyID: "AKID", secretAccessKey: "secret", sessionToken: "legacy"))
        let preferred = try await EnvironmentCredentialProvider(environment: [
            "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "new",
            "AWS_SECURITY_TOKEN": "legacy",
        ]).credentials()
        #expect(preferred.sessionToken == "new")
    }

    @Test("missing keys name the variable")
    func missing() async {
        await #expect(throws: AWSCredentialsError.self) {
            try await EnvironmentCredentialProvider(environment: [:]).credentials()
        }
        do {
            _ = try await EnvironmentCredentialProvider(environment: ["AWS_ACCESS_KEY_ID": "AKID"]).credentials()
            Issue.record("expected an error")
        } catch let error as AWSCredentialsError {
            #expect(error.message.contains("AWS_SECRET_ACCESS_KEY"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}

@Suite("region and endpoint resolution")
struct EndpointResolutionTests {
    func endpoint(_ explicit: String?, _ environment: [String: String], region: String = "eu-west-1") throws -> String {
        try AWSEndpointResolver.resolveEndpoint(
            endpointPrefix: "sso", serviceEnvironmentName: "SSO_ADMIN", signingName: "sso",
            region: region, explicit: explicit, environment: environment
        ).url.absoluteString
    }

    @Test("flag, then AWS_REGION, then AWS_DEFAULT_REGION")
    func regionPrecedence() throws {
        let both = ["AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-west-2"]
        #expect(try AWSEndpointResolver.resolveRegion(explicit: "ap-south-1", environment: both) == "ap-south-1")
        #expect(try AWSEndpointResolver.resolveRegion(explicit: nil, environment: both) == "eu-west-1")
        #expect(
            try AWSEndpointResolver.resolveRegion(explicit: nil, environment: ["AWS_DEFAULT_REGION": "us-west-2"])
                == "us-west-2")
    }

    @Test("a missing or malformed region is an error that names its source")
    func badRegion() {
        #expect(throws: AWSConfigurationError.self) {
            try AWSEndpointResolver.resolveRegion(explicit: nil, environment: [:])
        }
        do {
            _ = try AWSEndpointResolver.resolveRegion(explicit: nil, environment: ["AWS_REGION": "EU WEST"])
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("AWS_REGION"))
        }
    }

    @Test("explicit URL, then the service variable, then the global one, then the regional endpoint")
    func endpointPrecedence() throws {
        let environment = [
            "AWS_ENDPOINT_URL_SSO_ADMIN": "http://127.0.0.1:5000", "AWS_ENDPOINT_URL": "http://127.0.0.1:6000",
        ]
        #expect(try endpoint("https://example.test", environment) == "https://example.test")
        #expect(try endpoint(nil, environment) == "http://127.0.0.1:5000")
        #expect(try endpoint(nil, ["AWS_ENDPOINT_URL": "http://127.0.0.1:6000"]) == "http://127.0.0.1:6000")
        #expect(try endpoint(nil, [:]) == "https://sso.eu-west-1.amazonaws.com")
        #expect(try endpoint(nil, [:], region: "cn-north-1") == "https://sso.cn-north-1.amazonaws.com.cn")
    }

    @Test(
        "an unusable endpoint URL names where it came from",
        arguments: ["ftp://x", "not a url", "http://", "https://h/?q=1"])
    func badEndpoint(text: String) {
        do {
            _ = try endpoint(nil, ["AWS_ENDPOINT_URL": text])
            Issue.record("accepted \(text)")
        } catch {
            #expect("\(error)".contains("AWS_ENDPOINT_URL"))
        }
    }

    @Test("Host header keeps a non-default port only")
    func hostHeader() {
        func host(_ url: String) -> String {
            AWSServiceEndpoint(url: URL(string: url)!, region: "us-east-1", signingName: "sso").hostHeader
        }
        #expect(host("https://sso.us-east-1.amazonaws.com") == "sso.us-east-1.amazonaws.com")
        #expect(host("https://sso.us-east-1.amazonaws.com:443") == "sso.us-east-1.amazonaws.com")
        #expect(host("http://127.0.0.1:5000") == "127.0.0.1:5000")
    }
}

@Suite("UTC timestamps")
struct UTCTimestampTests {
    @Test(
        "SigV4 and log shapes",
        arguments: [
            (0.0, "19700101T000000Z", "1970-01-01T00:00:00.000Z"),
            (1_440_938_160, "20150830T123600Z", "2015-08-30T12:36:00.000Z"),
            (1_795_581_141.2907, "20261125T043221Z", "2026-11-25T04:32:21.291Z"),
            (951_782_399.999, "20000228T235959Z", "2000-02-28T23:59:59.999Z"),
        ])
    func shapes(seconds: Double, basic: String, extended: String) {
        let date = Date(timeIntervalSince1970: seconds)
        #expect(UTCTimestamp.basic(date) == basic)
        #expect(UTCTimestamp.extendedWithMilliseconds(date) == extended)
    }
}
