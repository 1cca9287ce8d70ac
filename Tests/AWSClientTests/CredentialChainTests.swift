import AWSClient
import AsyncHTTPClient
import Foundation
import Synchronization
import TestSupport
import Testing

/// A temporary directory with config, credentials and script files, removed afterwards.
struct TemporaryFiles {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("chain-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    @discardableResult
    func write(_ name: String, _ text: String, executable: Bool = false) throws -> String {
        let url = directory.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        if executable { try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path) }
        return url.path
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }
}

@Suite("default credential chain")
struct CredentialChainTests {
    /// Resolves the chain over `environment` (with HOME in a temporary directory) and runs `body` with the result.
    func withChain(
        _ environment: [String: String],
        files: TemporaryFiles,
        profile: String? = nil,
        transport: (any AWSHTTPTransport)? = nil,
        body: (Result<ResolvedCredentialProvider, any Error>) async throws -> Void
    ) async throws {
        let http = AsyncHTTPClientTransport.makeHTTPClient(connectTimeout: .seconds(1))
        let context = AWSCredentialChainContext(
            environment: ["HOME": files.directory.path, "AWS_EC2_METADATA_DISABLED": "true"].merging(environment) {
                $1
            },
            profile: profile,
            region: "us-east-1",
            client: AWSClient(
                configuration: AWSClientConfiguration(userAgent: "test"),
                transport: transport ?? AsyncHTTPClientTransport(client: http)),
            sessionNamePrefix: "sso-admin-exporter"
        )
        try await withAsyncCleanup {
            try await body(Result { try AWSCredentialChain.resolve(context) })
        } cleanup: {
            try await http.shutdown()
        }
    }

    @Test("environment keys win over everything else")
    func environmentFirst() async throws {
        let files = try TemporaryFiles()
        defer { files.remove() }
        try await withChain(
            ["AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "s", "AWS_PROFILE": "missing"], files: files
        ) { result in
            let resolved = try result.get()
            #expect(resolved.provider.name == "environment")
            let observed1 = try await resolved.provider.credentials().accessKeyID
            #expect(observed1 == "AKIDENV")
        }
    }

    @Test("keys in the credentials file, then credential_process, then keys in the config file")
    func profileOrder() async throws {
        let files = try TemporaryFiles()
        defer { files.remove() }
        let script = try files.write(
            "creds.sh",
            """
            #!/bin/sh
            echo "args: $1 $2" >&2
            printf '{"Version": 1, "AccessKeyId": "AKIDPROCESS", "SecretAccessKey": "s", "SessionToken": "t",
              "Expiration": "2099-01-01T00:00:00Z"}'
            """, executable: true)
        let config = try files.write(
            "config",
            """
            [profile both]
            aws_access_key_id = AKIDCONFIG
            aws_secret_access_key = s
            credential_process = "\(script)" 'one arg' two
            [profile process]
            credential_process = \(script)
            aws_access_key_id = AKIDCONFIG
            aws_secret_access_key = s
            [profile config-only]
            aws_access_key_id = AKIDCONFIG
            aws_secret_access_key = s
            """)
        let credentials = try files.write(
            "credentials", "[both]\naws_access_key_id = AKIDFILE\naws_secret_access_key = s\n")
        let environment = ["AWS_CONFIG_FILE": config, "AWS_SHARED_CREDENTIALS_FILE": credentials]
        try await withChain(environment, files: files, profile: "both") { result in
            let observed2 = try await result.get().provider.credentials().accessKeyID
            #expect(observed2 == "AKIDFILE")
        }
        try await withChain(environment, files: files, profile: "process") { result in
            let resolved = try result.get()
            #expect(resolved.provider.name == "process")
            let observed3 = try await resolved.provider.credentials().accessKeyID
            #expect(observed3 == "AKIDPROCESS")
        }
        try await withChain(environment, files: files, profile: "config-only") { result in
            let resolved = try result.get()
            #expect(resolved.provider.name == "profile")
            let observed4 = try await resolved.provider.credentials().accessKeyID
            #expect(observed4 == "AKIDCONFIG")
        }
    }

    @Test("credential_process: a real script's JSON, with expiry; failures name the profile")
    func credentialProcess() async throws {
        let files = try TemporaryFiles()
        defer { files.remove() }
        let good = try files.write(
            "good.sh",
            "#!/bin/sh\nprintf '{\"Version\": 1, \"AccessKeyId\": \"AKIDP\", \"SecretAccessKey\": \"SECRETP\", "
                + "\"SessionToken\": \"T\", \"Expiration\": \"2099-01-01T00:00:00Z\"}'\n", executable: true)
        let failing = try files.write("fail.sh", "#!/bin/sh\necho nope >&2\nexit 3\n", executable: true)
        let garbage = try files.write("garbage.sh", "#!/bin/sh\necho '{\"Version\": 2}'\n", executable: true)
        let config = try files.write(
            "config",
            "[profile good]\ncredential_process = \(good)\n[profile failing]\ncredential_process = \(failing)\n"
                + "[profile garbage]\ncredential_process = \(garbage)\n"
                + "[profile missing]\ncredential_process = \(files.directory.path)/does-not-exist\n")
        let environment = ["AWS_CONFIG_FILE": config]
        try await withChain(environment, files: files, profile: "good") { result in
            let resolved = try result.get()
            #expect(resolved.provider.name == "process")
            let credentials = try await resolved.provider.credentials()
            #expect(credentials.accessKeyID == "AKIDP")
            #expect(credentials.sessionToken == "T")
            #expect(credentials.expiration == Date(timeIntervalSince1970: 4_070_908_800))
        }
        for (profile, expected) in [
            ("failing", "exited with status 3"), ("garbage", "Version"), ("missing", "cannot start"),
        ] {
            try await withChain(environment, files: files, profile: profile) { result in
                let resolved = try result.get()
                let error = try await #require(throws: AWSCredentialsError.self) {
                    _ = try await resolved.provider.credentials()
                }
                #expect(error.description.contains(expected), "\(error)")
                #expect(error.provider == "process")
            }
        }
    }

    @Test(
        "shell-style splitting of credential_process",
        arguments: [
            (#"/bin/tool --flag 'a b' "c \"d\"" e\ f"#, ["/bin/tool", "--flag", "a b", #"c "d""#, "e f"]),
            ("  spaced   out  ", ["spaced", "out"]),
        ])
    func splitting(line: String, words: [String]) throws {
        #expect(try ProcessCredentialSource.split(line).get() == words)
    }

    @Test("role chains: a loop, both sources, neither, an unknown credential_source are errors naming the profile")
    func roleChainErrors() async throws {
        let files = try TemporaryFiles()
        defer { files.remove() }
        let config = try files.write(
            "config",
            """
            [profile a]
            role_arn = arn:aws:iam::123456789012:role/a
            source_profile = b
            [profile b]
            role_arn = arn:aws:iam::123456789012:role/b
            source_profile = a
            [profile both]
            role_arn = arn:aws:iam::123456789012:role/x
            source_profile = a
            credential_source = Environment
            [profile neither]
            role_arn = arn:aws:iam::123456789012:role/x
            [profile odd-source]
            role_arn = arn:aws:iam::123456789012:role/x
            credential_source = Somewhere
            [profile no-imds]
            role_arn = arn:aws:iam::123456789012:role/x
            credential_source = Ec2InstanceMetadata
            """)
        for (profile, expected) in [
            ("a", "source_profile loop: a -> b -> a"), ("both", "exactly one of source_profile and credential_source"),
            ("neither", "exactly one of"), ("odd-source", "credential_source Somewhere is not one of"),
            ("no-imds", "AWS_EC2_METADATA_DISABLED"), ("nowhere", "profile nowhere is not in"),
        ] {
            try await withChain(["AWS_CONFIG_FILE": config], files: files, profile: profile) { result in
                let error = try #require(throws: (any Error).self) { try result.get() }
                #expect("\(error)".contains(expected), "\(profile): \(error)")
            }
        }
    }

    @Test("web identity: an unreadable or empty token file is an error naming the file, before any STS call")
    func webIdentityTokenFile() async throws {
        let files = try TemporaryFiles()
        defer { files.remove() }
        let empty = try files.write("empty-token", "\n")
        for (tokenFile, expected) in [
            (files.directory.path + "/missing-token", "cannot read token file"), (empty, "is empty"),
        ] {
            try await withChain(
                [
                    "AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile, "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/x",
                ],
                files: files, transport: StaticTransport()
            ) { result in
                let resolved = try result.get()
                #expect(resolved.provider.name == "web-identity")
                let error = try await #require(throws: AWSCredentialsError.self) {
                    _ = try await resolved.provider.credentials()
                }
                #expect(error.description.contains(expected) && error.description.contains(tokenFile), "\(error)")
            }
        }
    }

    @Test("a malformed config file: the chain fails with file and line, then recovers once the file is fixed")
    func malformedThenFixed() async throws {
        let files = try TemporaryFiles()
        defer { files.remove() }
        let config = try files.write("config", "[profile p]\naws_access_key_id = AKIDFIXED\nnot a setting\n")
        let context = AWSCredentialChainContext(
            environment: ["AWS_CONFIG_FILE": config, "AWS_PROFILE": "p", "HOME": files.directory.path],
            region: "us-east-1",
            client: .unconnected, sessionNamePrefix: "test")
        let failures = Mutex<[String]>([])
        let chain = ResolvingCredentialProvider(
            resolve: { try AWSCredentialChain.resolve(context) },
            onFailure: { error, _ in failures.withLock { $0.append(error.description) } })
        let error = try await #require(throws: AWSCredentialsError.self) { _ = try await chain.credentials() }
        #expect(error.provider == "chain")
        #expect(error.description.contains("\(config) line 3"))
        #expect(failures.withLock { $0.count } == 1)
        try files.write("config", "[profile p]\naws_access_key_id = AKIDFIXED\naws_secret_access_key = s\n")
        let observed5 = try await chain.credentials().accessKeyID
        #expect(observed5 == "AKIDFIXED")
    }

    @Test("instance metadata chosen as the last resort says so, and still does beneath a role assumed with it")
    func lastResort() throws {
        let files = try TemporaryFiles()
        defer { files.remove() }
        let context = AWSCredentialChainContext(
            environment: ["HOME": files.directory.path, "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:9"],
            region: "us-east-1",
            client: .unconnected, sessionNamePrefix: "test")
        let resolved = try AWSCredentialChain.resolve(context)
        let lastResort = try #require(resolved.lastResort)
        #expect(lastResort.provider.name == "imds")
        #expect(lastResort.emptySources.contains("no AWS_ACCESS_KEY_ID"))
        #expect(lastResort.emptySources.contains("\(files.directory.path)/.aws/credentials"))
        // A role assumed with it is what collections use; instance metadata stays what a startup check asks.
        let role = try AWSCredentialChain.assumingRole(
            AssumeRoleRequest(roleARN: "arn:aws:iam::123456789012:role/R", roleSessionName: "s"),
            from: resolved, context: context)
        #expect(role.provider.name == "assume-role")
        #expect(role.lastResort?.provider.name == "imds")

        let configured = try AWSCredentialChain.resolve(
            AWSCredentialChainContext(
                environment: ["HOME": files.directory.path, "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s"],
                region: "us-east-1", client: .unconnected, sessionNamePrefix: "test"))
        #expect(configured.lastResort == nil)
    }
}

extension AWSClient {
    /// A client whose every call fails: for tests that must not reach the network.
    static var unconnected: AWSClient {
        AWSClient(configuration: AWSClientConfiguration(userAgent: "test"), transport: StaticTransport())
    }
}

/// A transport that must not be used.
struct StaticTransport: AWSHTTPTransport {
    func send(_ request: AWSHTTPRequest, timeout: Duration) async throws -> AWSHTTPResponse {
        throw AWSTransportError.connection("no network in this test")
    }
}

extension DeadlineTests {
    @Suite("container and instance metadata credentials over loopback")
    struct MetadataCredentialTests {
        static let document = #"""
            {"Code": "Success", "AccessKeyId": "ASIAMETA", "SecretAccessKey": "SECRETMETA", "Token": "TOKENMETA",
             "Expiration": "2099-01-01T00:00:00Z"}
            """#

        final class Log: Sendable {
            private let storage = Mutex<[FakeHTTPRequest]>([])
            func append(_ request: FakeHTTPRequest) { storage.withLock { $0.append(request) } }
            var requests: [FakeHTTPRequest] { storage.withLock { $0 } }
        }

        /// Runs `body` against a server answering with `handler`, and an HTTP transport to it.
        func withServer(
            _ handler: @escaping @Sendable (FakeHTTPRequest) -> FakeHTTPAction,
            body: (FakeHTTPServer, any AWSHTTPTransport, Log) async throws -> Void
        ) async throws {
            let log = Log()
            let server = try await FakeHTTPServer.start { request in
                log.append(request)
                return handler(request)
            }
            let http = AsyncHTTPClientTransport.makeHTTPClient(connectTimeout: .seconds(1))
            try await withAsyncCleanup {
                try await body(server, AsyncHTTPClientTransport(client: http), log)
            } cleanup: {
                await server.stop()
                try await http.shutdown()
            }
        }

        static func ok(_ text: String) -> FakeHTTPAction { .respond(status: 200, headers: [], body: Array(text.utf8)) }
        static func status(_ code: Int) -> FakeHTTPAction { .respond(status: code, headers: [], body: []) }

        @Test("container full URI on loopback with a token file that is read on every fetch")
        func container() async throws {
            let files = try TemporaryFiles()
            defer { files.remove() }
            let tokenFile = try files.write("token", "first-token\n")
            let handler: @Sendable (FakeHTTPRequest) -> FakeHTTPAction = { _ in Self.ok(Self.document) }
            try await withServer(handler) { server, transport, log in
                let source = try #require(
                    try ContainerCredentialSource.fromEnvironment(
                        [
                            "AWS_CONTAINER_CREDENTIALS_FULL_URI": "\(server.endpoint)/v1/credentials?secret=x",
                            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": tokenFile,
                            "AWS_CONTAINER_AUTHORIZATION_TOKEN": "ignored-when-a-file-is-set",
                        ], transport: transport))
                let credentials = try await source.fetch()
                #expect(credentials.accessKeyID == "ASIAMETA")
                #expect(credentials.sessionToken == "TOKENMETA")
                try files.write("token", "second-token")
                _ = try await source.fetch()
                #expect(log.requests.map { $0.header("Authorization") } == ["first-token", "second-token"])
                #expect(log.requests.first?.uri == "/v1/credentials?secret=x")
                try files.write("token", "bad\r\ntoken")
                let error = try await #require(throws: AWSCredentialsError.self) { _ = try await source.fetch() }
                #expect(error.description.contains("CR or LF"))
                #expect(log.requests.count == 2)
            }
        }

        @Test(
            "container URIs: plain http only to loopback and the ECS and EKS agents",
            arguments: [
                ("http://169.254.170.23/v1/credentials", true), ("http://127.0.0.1:8080/creds", true),
                ("https://creds.example.com/x", true), ("http://creds.example.com/x", false), ("not a url", false),
            ])
        func containerHosts(uri: String, allowed: Bool) {
            let result = Result {
                try ContainerCredentialSource.fromEnvironment(
                    ["AWS_CONTAINER_CREDENTIALS_FULL_URI": uri], transport: StaticTransport())
            }
            #expect(((try? result.get()) != nil) == allowed)
        }

        @Test("relative URI goes to 169.254.170.2")
        func relativeURI() throws {
            let source = try #require(
                try ContainerCredentialSource.fromEnvironment(
                    ["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/abc"], transport: StaticTransport()))
            #expect(source.url.absoluteString == "http://169.254.170.2/v2/credentials/abc")
        }

        @Test("garbage and errors from a container endpoint are clear errors without the body")
        func containerGarbage() async throws {
            for (answer, expected) in [
                (Self.ok("<html>SECRETISH</html>"), "did not answer with credentials JSON"),
                (Self.ok(#"{"AccessKeyId": "A"}"#), "without AccessKeyId and SecretAccessKey"),
                (
                    Self.ok(#"{"AccessKeyId": "A", "SecretAccessKey": "B", "Expiration": "soon"}"#),
                    "unreadable Expiration"
                ),
                (Self.status(500), "HTTP 500"),
            ] {
                let handler: @Sendable (FakeHTTPRequest) -> FakeHTTPAction = { _ in answer }
                try await withServer(handler) { server, transport, _ in
                    let source = try #require(
                        try ContainerCredentialSource.fromEnvironment(
                            ["AWS_CONTAINER_CREDENTIALS_FULL_URI": "\(server.endpoint)/creds"], transport: transport))
                    let error = try await #require(throws: AWSCredentialsError.self) { _ = try await source.fetch() }
                    #expect(error.description.contains(expected), "\(error)")
                    #expect(!error.description.contains("SECRETISH"))
                }
            }
        }

        /// An IMDS that wants a v2 token unless `v2` is false (then the PUT is refused with 403, as when IMDSv2 is off).
        static func imds(v2: Bool) -> @Sendable (FakeHTTPRequest) -> FakeHTTPAction {
            { request in
                if request.method == "PUT" && request.uri == "/latest/api/token" {
                    guard v2, request.header("X-aws-ec2-metadata-token-ttl-seconds") == "21600" else {
                        return status(403)
                    }
                    return ok("imds-session-token")
                }
                if v2 && request.header("X-aws-ec2-metadata-token") != "imds-session-token" { return status(401) }
                switch request.uri {
                case "/latest/meta-data/iam/security-credentials/": return ok("exporter-role\n")
                case "/latest/meta-data/iam/security-credentials/exporter-role": return ok(document)
                default: return status(404)
                }
            }
        }

        @Test("IMDSv2: token, role name, credentials")
        func imdsV2() async throws {
            try await withServer(Self.imds(v2: true)) { server, transport, log in
                let source = try #require(
                    try InstanceMetadataCredentialSource.fromEnvironment(
                        ["AWS_EC2_METADATA_SERVICE_ENDPOINT": server.endpoint + "/"], transport: transport))
                let observed101 = try await source.fetch().accessKeyID
                #expect(observed101 == "ASIAMETA")
                #expect(log.requests.map(\.method) == ["PUT", "GET", "GET"])
            }
        }

        @Test("IMDSv1 fallback when the token is refused, unless AWS_EC2_METADATA_V1_DISABLED")
        func imdsV1() async throws {
            try await withServer(Self.imds(v2: false)) { server, transport, log in
                let allowed = try #require(
                    try InstanceMetadataCredentialSource.fromEnvironment(
                        ["AWS_EC2_METADATA_SERVICE_ENDPOINT": server.endpoint], transport: transport))
                let observed102 = try await allowed.fetch().accessKeyID
                #expect(observed102 == "ASIAMETA")
                #expect(log.requests.allSatisfy { $0.header("X-aws-ec2-metadata-token") == nil })
                let strict = try #require(
                    try InstanceMetadataCredentialSource.fromEnvironment(
                        ["AWS_EC2_METADATA_SERVICE_ENDPOINT": server.endpoint, "AWS_EC2_METADATA_V1_DISABLED": "true"],
                        transport: transport))
                let error = try await #require(throws: AWSCredentialsError.self) { _ = try await strict.fetch() }
                #expect(error.description.contains("AWS_EC2_METADATA_V1_DISABLED"))
            }
        }

        @Test("AWS_EC2_METADATA_DISABLED=true turns IMDS off; an unreachable IMDS fails fast")
        func imdsDisabledAndUnreachable() async throws {
            #expect(
                try InstanceMetadataCredentialSource.fromEnvironment(
                    ["AWS_EC2_METADATA_DISABLED": "true"], transport: StaticTransport()) == nil)
            let port = try ExternalTools.freeLoopbackPort()
            let handler: @Sendable (FakeHTTPRequest) -> FakeHTTPAction = { _ in Self.status(404) }
            try await withServer(handler) { _, transport, _ in
                let source = try #require(
                    try InstanceMetadataCredentialSource.fromEnvironment(
                        ["AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:\(port)"], transport: transport))
                let error = try await #require(throws: AWSCredentialsError.self) { _ = try await source.fetch() }
                #expect(error.description.contains("unreachable"))
            }
        }

        @Test("a role name that is not a role name is refused")
        func imdsGarbageRole() async throws {
            let handler: @Sendable (FakeHTTPRequest) -> FakeHTTPAction = { request in
                request.method == "PUT" ? Self.ok("t") : Self.ok("<html>\n")
            }
            try await withServer(handler) { server, transport, _ in
                let source = try #require(
                    try InstanceMetadataCredentialSource.fromEnvironment(
                        ["AWS_EC2_METADATA_SERVICE_ENDPOINT": server.endpoint], transport: transport))
                let error = try await #require(throws: AWSCredentialsError.self) { _ = try await source.fetch() }
                #expect(error.description.contains("no usable instance role name"))
            }
        }
    }
}
