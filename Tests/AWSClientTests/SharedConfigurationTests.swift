import AWSClient
import Foundation
import Testing

@Suite("shared config and credentials files")
struct SharedConfigurationTests {
    @Test("sections, both delimiters, comments, continuation lines and sub-sections, as the AWS CLI reads them")
    func parsesLikeTheCLI() throws {
        let text = """
            # leading comment
            [default]
            region = eu-west-1
            Output: json
            ; another comment

            [profile dev]
            role_arn = arn:aws:iam::123456789012:role/dev
            source_profile=default
            s3 =
              max_concurrent_requests = 20
              # a comment inside the block
              signature_version = s3v4
            description = first line
              second line
            \r
            [sso-session corp]
            sso_region = us-east-1
            """.replacingOccurrences(of: "\n", with: "\r\n")
        let sections = try AWSConfigFileParser.parse(text, path: "/tmp/config")
        #expect(sections.map(\.header) == ["default", "profile dev", "sso-session corp"])
        #expect(sections[0].values == ["region": "eu-west-1", "output": "json"])
        #expect(sections[1].values["source_profile"] == "default")
        #expect(sections[1].subsections["s3"] == ["max_concurrent_requests": "20", "signature_version": "s3v4"])
        #expect(sections[1].values["description"] == "first line\nsecond line")
        #expect(sections[1].line == 7)
    }

    @Test(
        "malformed files name the file and the line, never the content",
        arguments: [
            ("aws_secret_access_key = SECRETVALUE\n[default]", 1, "before any [section]"),
            ("[default]\nSECRETVALUE\n", 2, "expected key = value"),
            ("[default\nx = 1", 1, "closing ]"),
            ("[default]\na = 1\n[default]\n", 3, "repeated"),
            ("[default]\na = 1\nA = 2\n", 3, "repeated"),
            ("[]\n", 1, "empty section"),
        ])
    func malformed(text: String, line: Int, reason: String) throws {
        let error = try #require(throws: AWSConfigFileError.self) {
            try AWSConfigFileParser.parse(text, path: "/home/u/.aws/credentials")
        }
        #expect(error.line == line)
        #expect(error.description.contains("/home/u/.aws/credentials line \(line)"))
        #expect(error.description.contains(reason))
        #expect(!error.description.contains("SECRETVALUE"))
    }

    func configuration(
        config: String?,
        credentials: String?,
        environment: [String: String] = [:],
        profile: String? = nil
    ) throws -> AWSSharedConfiguration {
        try AWSSharedConfiguration(environment: ["HOME": "/home/u"].merging(environment) { $1 }, profile: profile) {
            path in
            switch path {
            case "/home/u/.aws/config", "/etc/custom-config": config
            case "/home/u/.aws/credentials", "/etc/custom-credentials": credentials
            default: nil
            }
        }
    }

    @Test("profile names from [profile x] in config and [x] in credentials; credentials win")
    func merging() throws {
        let shared = try configuration(
            config: "[profile dev]\nregion = us-west-2\naws_access_key_id = FROMCONFIG\n[dev]\nignored = yes\n",
            credentials: "[dev]\naws_access_key_id = FROMCREDENTIALS\naws_secret_access_key = s\n",
            environment: ["AWS_PROFILE": "dev"])
        let profile = try #require(try shared.activeProfile())
        #expect(profile.name == "dev")
        #expect(profile["aws_access_key_id"] == "FROMCREDENTIALS")
        #expect(profile["region"] == "us-west-2")
        #expect(profile["ignored"] == nil)
        #expect(profile.origin == "/home/u/.aws/config line 1 and /home/u/.aws/credentials line 1")
    }

    @Test("--aws.profile, then AWS_PROFILE, then AWS_DEFAULT_PROFILE, then default")
    func profileSelection() throws {
        let files = ("[default]\na = 1\n[profile p1]\na = 2\n[profile p2]\na = 3\n[profile p3]\na = 4\n", "")
        let environment = ["AWS_PROFILE": "p2", "AWS_DEFAULT_PROFILE": "p3"]
        #expect(
            try configuration(config: files.0, credentials: nil, environment: environment, profile: "p1").profileName
                == "p1")
        #expect(try configuration(config: files.0, credentials: nil, environment: environment).profileName == "p2")
        #expect(
            try configuration(config: files.0, credentials: nil, environment: ["AWS_DEFAULT_PROFILE": "p3"])
                .profileName == "p3")
        #expect(try configuration(config: files.0, credentials: nil).activeProfile()?["a"] == "1")
    }

    @Test("AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE move the files; ~ is the home directory")
    func filePaths() throws {
        let shared = try configuration(
            config: "[profile x]\nregion = ap-south-1\n", credentials: "[x]\naws_access_key_id = K\n",
            environment: [
                "AWS_CONFIG_FILE": "/etc/custom-config", "AWS_SHARED_CREDENTIALS_FILE": "/etc/custom-credentials",
            ], profile: "x")
        #expect(shared.configPath == "/etc/custom-config")
        #expect(try shared.activeProfile()?["region"] == "ap-south-1")
        #expect(try configuration(config: nil, credentials: nil).configPath == "/home/u/.aws/config")
    }

    @Test("an unknown profile asked for by name is an error; no files and no name is no profile")
    func unknownProfile() throws {
        let shared = try configuration(config: "[default]\n", credentials: nil, profile: "missing")
        let error = try #require(throws: AWSProfileError.self) { try shared.activeProfile() }
        #expect(error.description.contains("profile missing"))
        #expect(error.description.contains("/home/u/.aws/config"))
        #expect(try configuration(config: nil, credentials: nil).activeProfile() == nil)
    }

    @Test("real files: a missing file is empty, an unreadable one is an error naming it")
    func realFiles() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("config").path
        try "[profile real]\nregion = eu-north-1\n".write(toFile: config, atomically: true, encoding: .utf8)
        let shared = try AWSSharedConfiguration(
            environment: ["AWS_CONFIG_FILE": config, "AWS_SHARED_CREDENTIALS_FILE": directory.path + "/none"],
            profile: "real")
        #expect(try shared.activeProfile()?["region"] == "eu-north-1")
        let error = try #require(throws: AWSProfileError.self) {
            try AWSSharedConfiguration(environment: ["AWS_CONFIG_FILE": directory.path])
        }
        #expect(error.description.contains(directory.path))
    }
}

@Suite("XML, timestamps and the query protocol")
struct QueryProtocolTests {
    @Test("an STS response: declaration, namespaces, entities, CDATA and comments")
    func xml() throws {
        let body = """
            <?xml version="1.0" encoding="UTF-8"?>
            <!-- leading comment -->
            <AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
              <AssumeRoleResult>
                <Credentials>
                  <AccessKeyId>ASIA&amp;KEY</AccessKeyId>
                  <SecretAccessKey><![CDATA[se<cr>et]]></SecretAccessKey>
                  <SessionToken>tok&#x41;&#66;en</SessionToken>
                  <Expiration>2026-11-25T10:00:00.500Z</Expiration>
                </Credentials>
                <Empty/>
              </AssumeRoleResult>
            </AssumeRoleResponse>
            """
        let root = try XMLDocumentParser.parse(Array(body.utf8))
        let credentials = try #require(root.descendant(["AssumeRoleResult", "Credentials"]))
        #expect(credentials.text(of: "AccessKeyId") == "ASIA&KEY")
        #expect(credentials.text(of: "SecretAccessKey") == "se<cr>et")
        #expect(credentials.text(of: "SessionToken") == "tokABen")
        #expect(root.descendant(["AssumeRoleResult", "Empty"]) != nil)
    }

    @Test(
        "malformed XML is an error, never a partial tree",
        arguments: [
            "", "<a>", "<a></b>", "<a><b></a>", "<a>&unknown;</a>", "<a x=1></a>", "<a></a><b></b>",
            "<!DOCTYPE a [<!ENTITY x 'y'>]><a/>",
            String(repeating: "<a>", count: 100) + String(repeating: "</a>", count: 100),
        ])
    func malformedXML(text: String) {
        #expect(throws: XMLSyntaxError.self) { try XMLDocumentParser.parse(Array(text.utf8)) }
    }

    @Test(
        "ISO 8601 timestamps as AWS sends them",
        arguments: [
            ("2026-11-25T10:00:00Z", 1_795_600_800.0), ("2026-11-25T10:00:00.250Z", 1_795_600_800.25),
            ("2026-11-25T11:30:00+01:30", 1_795_600_800.0), ("2026-11-25T08:00:00-0200", 1_795_600_800.0),
            ("1970-01-01T00:00:00Z", 0), ("2000-02-29T00:00:00Z", 951_782_400),
        ])
    func iso8601(text: String, epoch: Double) throws {
        let date = try #require(UTCTimestamp.parseISO8601(text))
        #expect(date.timeIntervalSince1970 == epoch)
        let reference = try #require(ISO8601DateFormatter().date(from: text.replacingOccurrences(of: ".250", with: "")))
        #expect(abs(date.timeIntervalSince(reference)) < 1)
    }

    @Test("malformed timestamps are nil", arguments: ["", "2026-11-25", "2026-13-01T00:00:00Z", "2026-11-25T10:00:00"])
    func badISO8601(text: String) {
        #expect(UTCTimestamp.parseISO8601(text) == nil)
    }

    @Test("HTTP Date headers")
    func httpDate() throws {
        let date = try #require(HTTPDate.parse("Wed, 25 Nov 2026 10:00:00 GMT"))
        #expect(date.timeIntervalSince1970 == 1_795_600_800)
        #expect(HTTPDate.parse("Wed, 25 Nov 2026 10:00:00 PST") == nil)
        #expect(HTTPDate.parse("yesterday") == nil)
    }

    @Test("form bodies encode as SigV4 encodes query strings")
    func formBody() {
        let body = AWSQueryProtocol.formBody(
            action: "AssumeRole", version: "2011-06-15",
            parameters: [("RoleArn", "arn:aws:iam::1:role/a b"), ("RoleSessionName", "x+y=z&w~")])
        #expect(
            String(decoding: body, as: UTF8.self)
                == "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fa%20b"
                + "&RoleSessionName=x%2By%3Dz%26w~")
    }

    @Test("an ErrorResponse gives its code, message and request id; other bodies the HTTP status")
    func errors() {
        let xml = """
            <ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
              <Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not allowed</Message></Error>
              <RequestId>req-1</RequestId>
            </ErrorResponse>
            """
        let error = AWSQueryProtocol.parseError(AWSHTTPResponse(status: 403, headers: [], body: Array(xml.utf8)))
        #expect(error.code == "AccessDenied")
        #expect(error.message == "not allowed")
        #expect(error.requestID == "req-1")
        let nested = "<Response><Errors><Error><Code>SignatureDoesNotMatch</Code></Error></Errors></Response>"
        #expect(
            AWSQueryProtocol.parseError(AWSHTTPResponse(status: 403, headers: [], body: Array(nested.utf8))).code
                == "SignatureDoesNotMatch")
        let other = AWSQueryProtocol.parseError(AWSHTTPResponse(status: 503, headers: [], body: Array("oops".utf8)))
        #expect(other.code == "ServiceUnavailable")
    }

    @Test("STS endpoints: regional by default, legacy global on request, overrides first")
    func stsEndpoints() throws {
        #expect(
            try STSClient.endpoint(region: "eu-west-1", environment: [:]).url.absoluteString
                == "https://sts.eu-west-1.amazonaws.com")
        let legacy = try STSClient.endpoint(region: "eu-west-1", environment: ["AWS_STS_REGIONAL_ENDPOINTS": "legacy"])
        #expect(legacy.url.absoluteString == "https://sts.amazonaws.com")
        #expect(legacy.region == "us-east-1")
        #expect(
            try STSClient.endpoint(region: "af-south-1", environment: ["AWS_STS_REGIONAL_ENDPOINTS": "legacy"])
                .url.absoluteString == "https://sts.af-south-1.amazonaws.com")
        #expect(
            try STSClient.endpoint(region: "cn-north-1", environment: [:]).url.absoluteString
                == "https://sts.cn-north-1.amazonaws.com.cn")
        let overridden = try STSClient.endpoint(
            region: "us-east-1",
            environment: ["AWS_ENDPOINT_URL_STS": "http://127.0.0.1:5000", "AWS_ENDPOINT_URL": "http://other"],
            profileEndpointURL: "http://profile")
        #expect(overridden.url.absoluteString == "http://127.0.0.1:5000")
        #expect(throws: AWSConfigurationError.self) {
            try STSClient.endpoint(region: "us-east-1", environment: ["AWS_STS_REGIONAL_ENDPOINTS": "sometimes"])
        }
    }
}
