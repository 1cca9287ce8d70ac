#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// An access key pair with an optional session token and expiry.
///
/// `description` never shows the secret or the token, so credentials can be interpolated into logs safely.
public struct AWSCredentials: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public let accessKeyID: String
    public let secretAccessKey: String
    public let sessionToken: String?
    public let expiration: Date?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, expiration: Date? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.expiration = expiration
    }

    public var description: String {
        "AWSCredentials(accessKeyID: \(accessKeyID), secretAccessKey: <redacted>, sessionToken: "
            + (sessionToken == nil ? "none" : "<redacted>") + ")"
    }

    public var debugDescription: String { description }
}

/// Where credentials come from. The default chain and refreshing providers plug in behind this seam.
public protocol AWSCredentialProvider: Sendable {
    /// A short, secret-free name for logs and metric labels, such as `environment`.
    var name: String { get }
    /// Returns credentials valid for signing now, or throws ``AWSCredentialsError``.
    func credentials() async throws -> AWSCredentials
}

/// Failure to obtain credentials; the message names the source and never carries secret material.
public struct AWSCredentialsError: Error, Sendable, CustomStringConvertible {
    public let provider: String
    public let message: String

    public init(provider: String, message: String) {
        self.provider = provider
        self.message = message
    }

    public var description: String { "credentials from \(provider): \(message)" }
}

/// Fixed credentials, for tests and for keys handed over explicitly.
public struct StaticCredentialProvider: AWSCredentialProvider {
    public let name: String
    private let value: AWSCredentials

    public init(_ credentials: AWSCredentials, name: String = "static") {
        self.value = credentials
        self.name = name
    }

    public func credentials() async throws -> AWSCredentials { value }
}

/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` (or the older `AWS_SECURITY_TOKEN`).
public struct EnvironmentCredentialProvider: AWSCredentialProvider {
    public let name = "environment"
    private let environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// Whether the environment holds an access key at all, so startup can say which source is in use.
    public var isConfigured: Bool {
        !(environment["AWS_ACCESS_KEY_ID"] ?? "").isEmpty
    }

    public func credentials() async throws -> AWSCredentials {
        let keyID = environment["AWS_ACCESS_KEY_ID"] ?? ""
        let secret = environment["AWS_SECRET_ACCESS_KEY"] ?? ""
        guard !keyID.isEmpty else {
            throw AWSCredentialsError(provider: name, message: "AWS_ACCESS_KEY_ID is not set")
        }
        guard !secret.isEmpty else {
            throw AWSCredentialsError(
                provider: name, message: "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")
        }
        let token = [environment["AWS_SESSION_TOKEN"], environment["AWS_SECURITY_TOKEN"]]
            .compactMap { $0 }
            .first { !$0.isEmpty }
        return AWSCredentials(accessKeyID: keyID, secretAccessKey: secret, sessionToken: token)
    }
}
