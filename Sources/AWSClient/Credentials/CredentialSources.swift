#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// How long one credential fetch may take before it counts as failed.
public let credentialFetchTimeout: Duration = .seconds(10)

/// Keys written in a profile: `aws_access_key_id`, `aws_secret_access_key`, `aws_session_token`.
public enum ProfileKeysCredentialSource {
    /// The keys of `profile`, or `nil` when it has no access key; a key without its secret is an error.
    public static func credentials(in profile: AWSProfile, provider: String) throws -> AWSCredentials? {
        guard let keyID = profile["aws_access_key_id"] else { return nil }
        guard let secret = profile["aws_secret_access_key"] else {
            throw AWSCredentialsError(
                provider: provider,
                message:
                    "profile \(profile.name) (\(profile.origin)) has aws_access_key_id but no aws_secret_access_key")
        }
        return AWSCredentials(
            accessKeyID: keyID, secretAccessKey: secret,
            sessionToken: profile["aws_session_token"] ?? profile["aws_security_token"])
    }
}

/// `AssumeRoleWithWebIdentity` with a token file that is read again on every refresh, since EKS rotates it.
public struct WebIdentityCredentialSource: Sendable {
    public let tokenFile: String
    public let roleARN: String
    public let roleSessionName: String
    public let sts: STSClient
    public let clock: AWSClock

    public init(tokenFile: String, roleARN: String, roleSessionName: String, sts: STSClient, clock: AWSClock) {
        self.tokenFile = tokenFile
        self.roleARN = roleARN
        self.roleSessionName = roleSessionName
        self.sts = sts
        self.clock = clock
    }

    public func fetch() async throws -> AWSCredentials {
        let token: String
        do {
            token = String(
                try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingASCIIWhitespace())
        } catch {
            throw AWSCredentialsError(provider: "web-identity", message: "cannot read token file \(tokenFile)")
        }
        guard !token.isEmpty else {
            throw AWSCredentialsError(provider: "web-identity", message: "token file \(tokenFile) is empty")
        }
        do {
            return try await sts.assumeRoleWithWebIdentity(
                roleARN: roleARN, roleSessionName: roleSessionName, webIdentityToken: token,
                deadline: clock.now().advanced(by: credentialFetchTimeout))
        } catch {
            throw AWSCredentialsError(
                provider: "web-identity", message: "AssumeRoleWithWebIdentity for \(roleARN) failed: \(error)")
        }
    }
}

/// `AssumeRole` signed with credentials from another provider (a source profile, a credential source, the chain).
public struct AssumeRoleCredentialSource: Sendable {
    public let request: AssumeRoleRequest
    public let sts: STSClient
    public let clock: AWSClock

    public init(request: AssumeRoleRequest, sts: STSClient, clock: AWSClock) {
        self.request = request
        self.sts = sts
        self.clock = clock
    }

    public func fetch() async throws -> AWSCredentials {
        do {
            return try await sts.assumeRole(request, deadline: clock.now().advanced(by: credentialFetchTimeout))
        } catch {
            throw AWSCredentialsError(
                provider: "assume-role", message: "AssumeRole for \(request.roleARN) failed: \(error)")
        }
    }
}

/// The credentials JSON that container endpoints, IMDS and `credential_process` answer with.
public struct CredentialsDocument: Decodable, Sendable {
    var version: Int?
    var accessKeyID: String?
    var secretAccessKey: String?
    var token: String?
    var sessionToken: String?
    var expiration: String?
    var code: String?
    var message: String?

    enum CodingKeys: String, CodingKey {
        case version = "Version"
        case accessKeyID = "AccessKeyId"
        case secretAccessKey = "SecretAccessKey"
        case token = "Token"
        case sessionToken = "SessionToken"
        case expiration = "Expiration"
        case code = "Code"
        case message = "Message"
    }

    /// The credentials in `bytes`, or an error that names `source` and what is missing, never a value.
    public static func credentials(from bytes: [UInt8], provider: String, source: String) throws -> AWSCredentials {
        let document: CredentialsDocument
        do {
            document = try JSONDecoder().decode(CredentialsDocument.self, from: Data(bytes))
        } catch {
            throw AWSCredentialsError(provider: provider, message: "\(source) did not answer with credentials JSON")
        }
        if let code = document.code, code != "Success" {
            throw AWSCredentialsError(provider: provider, message: "\(source) answered Code \(code)")
        }
        guard let keyID = document.accessKeyID, !keyID.isEmpty, let secret = document.secretAccessKey,
            !secret.isEmpty
        else {
            throw AWSCredentialsError(
                provider: provider, message: "\(source) answered without AccessKeyId and SecretAccessKey")
        }
        var expiration: Date?
        if let text = document.expiration {
            guard let parsed = UTCTimestamp.parseISO8601(text) else {
                throw AWSCredentialsError(provider: provider, message: "\(source) answered an unreadable Expiration")
            }
            expiration = parsed
        }
        return AWSCredentials(
            accessKeyID: keyID, secretAccessKey: secret, sessionToken: document.token ?? document.sessionToken,
            expiration: expiration)
    }
}

/// ECS task roles and EKS Pod Identity: `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` (on 169.254.170.2) or
/// `AWS_CONTAINER_CREDENTIALS_FULL_URI`, with an authorization token from a file (read on every fetch) or a value.
public struct ContainerCredentialSource: Sendable {
    public static let ecsHost = "169.254.170.2"
    /// Hosts a plain-HTTP full URI may name: loopback, the ECS agent and the EKS Pod Identity agent.
    public static let allowedHTTPHosts: Set<String> = [
        "127.0.0.1", "localhost", "::1", "[::1]", "169.254.170.2", "169.254.170.23", "fd00:ec2::23", "[fd00:ec2::23]",
    ]

    public let url: URL
    public let authorizationTokenFile: String?
    public let authorizationToken: String?
    public let transport: any AWSHTTPTransport

    /// The source the environment describes, `nil` when neither URI variable is set.
    public static func fromEnvironment(_ environment: [String: String], transport: any AWSHTTPTransport) throws
        -> ContainerCredentialSource?
    {
        let url: URL
        if let relative = environment["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"], !relative.isEmpty {
            url = try EndpointURL.parse(
                "http://\(ecsHost)\(relative.hasPrefix("/") ? "" : "/")\(relative)",
                source: "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        } else if let full = environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"], !full.isEmpty {
            let parsed = try EndpointURL.parse(full, source: "AWS_CONTAINER_CREDENTIALS_FULL_URI")
            let scheme = parsed.scheme?.lowercased() ?? ""
            let host = parsed.host ?? ""
            guard scheme == "https" || (scheme == "http" && allowedHTTPHosts.contains(host.lowercased())) else {
                throw AWSConfigurationError(
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI: plain http is only allowed to loopback or the ECS and EKS "
                        + "agent addresses, not \(host)")
            }
            url = parsed
        } else {
            return nil
        }
        return ContainerCredentialSource(
            url: url,
            authorizationTokenFile: environment["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"].flatMap {
                $0.isEmpty ? nil : $0
            },
            authorizationToken: environment["AWS_CONTAINER_AUTHORIZATION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 },
            transport: transport)
    }

    public func fetch() async throws -> AWSCredentials {
        var headers: [(name: String, value: String)] = [("Accept", "application/json")]
        var token = authorizationToken
        if let authorizationTokenFile {
            do {
                token = String(
                    try String(contentsOfFile: authorizationTokenFile, encoding: .utf8).trimmingASCIIWhitespace())
            } catch {
                throw AWSCredentialsError(
                    provider: "container", message: "cannot read token file \(authorizationTokenFile)")
            }
        }
        if let token {
            guard !token.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\r\n" }) else {
                throw AWSCredentialsError(
                    provider: "container", message: "the container authorization token contains CR or LF")
            }
            headers.append(("Authorization", token))
        }
        let response: AWSHTTPResponse
        do {
            response = try await transport.send(
                AWSHTTPRequest(method: "GET", url: url, headers: headers, body: []), timeout: .seconds(2))
        } catch {
            throw AWSCredentialsError(provider: "container", message: "\(Self.redacted(url)) failed: \(error)")
        }
        guard response.status == 200 else {
            throw AWSCredentialsError(
                provider: "container", message: "\(Self.redacted(url)) answered HTTP \(response.status)")
        }
        return try CredentialsDocument.credentials(
            from: response.body, provider: "container", source: Self.redacted(url))
    }

    /// The URL without its query, which some agents use for secrets, and without a user or password.
    static func redacted(_ url: URL) -> String {
        "\(url.scheme ?? "http")://\(url.host ?? "")\(url.port.map { ":\($0)" } ?? "")\(url.path)"
    }
}

/// EC2 instance roles through IMDSv2 (a session token first), falling back to IMDSv1 unless that is disabled.
public struct InstanceMetadataCredentialSource: Sendable {
    public let endpoint: URL
    public let allowV1Fallback: Bool
    public let transport: any AWSHTTPTransport
    /// Short, so that a laptop without IMDS fails fast instead of stalling every collection.
    public let timeout: Duration

    public static let defaultEndpoint = "http://169.254.169.254"
    public static let tokenTTLSeconds = 21_600

    /// The source the environment allows, `nil` when `AWS_EC2_METADATA_DISABLED=true`.
    public static func fromEnvironment(_ environment: [String: String], transport: any AWSHTTPTransport) throws
        -> InstanceMetadataCredentialSource?
    {
        if environment["AWS_EC2_METADATA_DISABLED"]?.lowercased() == "true" { return nil }
        let text =
            environment["AWS_EC2_METADATA_SERVICE_ENDPOINT"].flatMap { $0.isEmpty ? nil : $0 }
            ?? defaultEndpoint
        let url = try EndpointURL.parse(
            text.hasSuffix("/") ? String(text.dropLast()) : text, source: "AWS_EC2_METADATA_SERVICE_ENDPOINT")
        return InstanceMetadataCredentialSource(
            endpoint: url,
            allowV1Fallback: environment["AWS_EC2_METADATA_V1_DISABLED"]?.lowercased() != "true",
            transport: transport,
            timeout: .seconds(1))
    }

    public init(endpoint: URL, allowV1Fallback: Bool, transport: any AWSHTTPTransport, timeout: Duration) {
        self.endpoint = endpoint
        self.allowV1Fallback = allowV1Fallback
        self.transport = transport
        self.timeout = timeout
    }

    public func fetch() async throws -> AWSCredentials {
        let token = try await sessionToken()
        let tokenHeader: [(name: String, value: String)] = token.map { [("X-aws-ec2-metadata-token", $0)] } ?? []
        let base = "/latest/meta-data/iam/security-credentials/"
        let roleResponse = try await get(base, headers: tokenHeader)
        let role =
            String(decoding: roleResponse, as: UTF8.self).split(whereSeparator: \.isNewline).first
            .map { String($0.trimmingASCIIWhitespace()) } ?? ""
        guard !role.isEmpty, role.allSatisfy({ $0.isLetter || $0.isNumber || "+=,.@_-".contains($0) }) else {
            throw AWSCredentialsError(provider: "imds", message: "IMDS answered no usable instance role name")
        }
        let document = try await get(base + role, headers: tokenHeader)
        return try CredentialsDocument.credentials(from: document, provider: "imds", source: "IMDS role \(role)")
    }

    /// The IMDSv2 session token, or `nil` to go on with IMDSv1 when the PUT is refused and v1 is allowed.
    private func sessionToken() async throws -> String? {
        let request = AWSHTTPRequest(
            method: "PUT", url: endpoint.appendingPathComponent("latest/api/token"),
            headers: [("X-aws-ec2-metadata-token-ttl-seconds", String(Self.tokenTTLSeconds))], body: [])
        let response: AWSHTTPResponse
        do {
            response = try await transport.send(request, timeout: timeout)
        } catch {
            throw AWSCredentialsError(
                provider: "imds",
                message: "IMDS at \(ContainerCredentialSource.redacted(endpoint)) unreachable: \(error)")
        }
        if response.status == 200 {
            let token = String(decoding: response.body, as: UTF8.self)
            guard !token.isEmpty, token.count < 4096, !token.contains(where: \.isNewline) else {
                throw AWSCredentialsError(provider: "imds", message: "IMDS answered an unusable session token")
            }
            return token
        }
        // 403 means IMDSv2 is disabled on purpose; 404 and 405 come from IMDSv1-only metadata services.
        if allowV1Fallback, [403, 404, 405].contains(response.status) { return nil }
        throw AWSCredentialsError(
            provider: "imds",
            message: "IMDS refused a session token (HTTP \(response.status))"
                + (allowV1Fallback ? "" : " and AWS_EC2_METADATA_V1_DISABLED forbids IMDSv1"))
    }

    private func get(_ path: String, headers: [(name: String, value: String)]) async throws -> [UInt8] {
        let url = URL(string: endpoint.absoluteString + path)!
        let response: AWSHTTPResponse
        do {
            response = try await transport.send(
                AWSHTTPRequest(method: "GET", url: url, headers: headers, body: []), timeout: timeout)
        } catch {
            throw AWSCredentialsError(provider: "imds", message: "IMDS \(path) failed: \(error)")
        }
        guard response.status == 200 else {
            throw AWSCredentialsError(provider: "imds", message: "IMDS \(path) answered HTTP \(response.status)")
        }
        return response.body
    }
}
