import Logging

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// What the chain needs besides the environment and the files.
public struct AWSCredentialChainContext: Sendable {
    public var environment: [String: String]
    /// The profile the caller names, if any; else `AWS_PROFILE`, `AWS_DEFAULT_PROFILE`, `default`.
    public var profile: String?
    /// The region STS calls go to.
    public var region: String
    /// FIPS and dual-stack, which apply to STS as to every other AWS call.
    public var endpointVariants: AWSEndpointVariants
    /// The client the chain's STS calls and its metadata-endpoint reads go through, as every other AWS call does.
    public var client: AWSClient
    /// Begins the role session names the chain makes up (`PREFIX-<unix time>`, botocore's shape): the caller's
    /// program name, which the AWS client does not know.
    public var sessionNamePrefix: String
    /// Told about credential fetches and about the chain's STS calls.
    public var observers: Observers
    public var readFile: @Sendable (String) throws -> String?

    /// Who is told what the chain does.
    public struct Observers: Sendable {
        public var credentials: (any AWSCredentialsObserver)?
        public var requests: (any AWSRequestObserver)?

        public init(credentials: (any AWSCredentialsObserver)? = nil, requests: (any AWSRequestObserver)? = nil) {
            self.credentials = credentials
            self.requests = requests
        }
    }

    public init(
        environment: [String: String],
        profile: String? = nil,
        region: String,
        endpointVariants: AWSEndpointVariants = AWSEndpointVariants(),
        client: AWSClient,
        sessionNamePrefix: String,
        observers: Observers = Observers(),
        readFile: @escaping @Sendable (String) throws -> String? = AWSSharedConfiguration.readFileIfPresent
    ) {
        self.environment = environment
        self.profile = profile
        self.region = region
        self.endpointVariants = endpointVariants
        self.client = client
        self.sessionNamePrefix = sessionNamePrefix
        self.observers = observers
        self.readFile = readFile
    }

    var clock: AWSClock { client.configuration.clock }
}

/// A provider the chain chose, with a secret-free account of why, for the startup log.
public struct ResolvedCredentialProvider: Sendable {
    public let provider: any AWSCredentialProvider
    public let source: String
    /// Set when the chain chose EC2 instance metadata only because nothing else was configured, for a caller that
    /// wants to say so when instance metadata gives no credentials either.
    public let lastResort: LastResort?

    /// Instance metadata as the chain's last resort: its own provider (beneath any role assumed with it) and the
    /// sources the chain found empty before it.
    public struct LastResort: Sendable {
        public let provider: any AWSCredentialProvider
        public let source: String
        public let emptySources: String
    }

    public init(provider: any AWSCredentialProvider, source: String, lastResort: LastResort? = nil) {
        self.provider = provider
        self.source = source
        self.lastResort = lastResort
    }
}

/// The default credential chain in botocore's order; the first source that is configured wins:
/// environment keys, assume-role from the profile, web identity, the credentials file, `credential_process`,
/// keys in the config file, container credentials, then EC2 instance metadata.
public enum AWSCredentialChain {
    public static func resolve(_ context: AWSCredentialChainContext) throws -> ResolvedCredentialProvider {
        let environment = context.environment
        if EnvironmentCredentialProvider(environment: environment).isConfigured {
            let provider = EnvironmentCredentialProvider(environment: environment)
            return ResolvedCredentialProvider(
                provider: refreshing("environment", context) { try await provider.credentials() },
                source: "environment (AWS_ACCESS_KEY_ID)")
        }
        let shared = try AWSSharedConfiguration(
            environment: environment, profile: context.profile, readFile: context.readFile)
        let profile = try shared.activeProfile()
        if let profile, profile["role_arn"] != nil {
            return try assumeRole(profile: profile, shared: shared, context: context, visited: [])
        }
        if let tokenFile = environment["AWS_WEB_IDENTITY_TOKEN_FILE"], !tokenFile.isEmpty,
            let roleARN = environment["AWS_ROLE_ARN"], !roleARN.isEmpty
        {
            return try webIdentity(
                tokenFile: tokenFile, roleARN: roleARN, sessionName: environment["AWS_ROLE_SESSION_NAME"],
                profile: profile, context: context, origin: "AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN")
        }
        if let profile {
            // botocore's order: keys in the credentials file, then credential_process, then keys in the config file.
            if let fromFile = shared.profile(profile.name, in: .credentials),
                let credentials = try ProfileKeysCredentialSource.credentials(in: fromFile, provider: "profile")
            {
                return ResolvedCredentialProvider(
                    provider: refreshing("profile", context) { credentials },
                    source: "profile \(profile.name) keys (\(fromFile.origin))")
            }
            if let process = try processProvider(profile, context) { return process }
            if let credentials = try ProfileKeysCredentialSource.credentials(in: profile, provider: "profile") {
                return ResolvedCredentialProvider(
                    provider: refreshing("profile", context) { credentials },
                    source: "profile \(profile.name) keys (\(profile.origin))")
            }
        }
        if let container = try containerProvider(context) { return container }
        let emptySources =
            "no AWS_ACCESS_KEY_ID, no usable profile \(shared.profileName) in \(shared.configPath) or "
            + "\(shared.credentialsPath), no web identity (AWS_WEB_IDENTITY_TOKEN_FILE), no container endpoint "
            + "(AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI)"
        if let imds = try instanceMetadataProvider(context) {
            let source = imds.source + " (nothing else configured)"
            return ResolvedCredentialProvider(
                provider: imds.provider, source: source,
                lastResort: .init(provider: imds.provider, source: source, emptySources: emptySources))
        }
        throw AWSCredentialsError(
            provider: "chain",
            message: "no credentials: \(emptySources), and AWS_EC2_METADATA_DISABLED is set")
    }

    /// `role` assumed with credentials from `source` (a role the caller names, on top of the chain).
    public static func assumingRole(
        _ request: AssumeRoleRequest,
        from source: ResolvedCredentialProvider,
        context: AWSCredentialChainContext
    ) throws -> ResolvedCredentialProvider {
        let sts = try stsClient(credentials: source.provider, profile: nil, context: context)
        let assume = AssumeRoleCredentialSource(request: request, sts: sts, clock: context.clock)
        return ResolvedCredentialProvider(
            provider: refreshing("assume-role", context) { try await assume.fetch() },
            source: "role \(request.roleARN) assumed with \(source.source)",
            lastResort: source.lastResort)
    }

    /// The default session name: botocore's shape, with the caller's prefix.
    public static func defaultSessionName(_ context: AWSCredentialChainContext) -> String {
        "\(context.sessionNamePrefix)-\(Int(context.clock.wallTime().timeIntervalSince1970))"
    }

    static func assumeRole(
        profile: AWSProfile,
        shared: AWSSharedConfiguration,
        context: AWSCredentialChainContext,
        visited: [String]
    ) throws -> ResolvedCredentialProvider {
        guard let roleARN = profile["role_arn"] else {
            throw AWSProfileError("profile \(profile.name) (\(profile.origin)) has no role_arn")
        }
        let sourceProfile = profile["source_profile"]
        let credentialSource = profile["credential_source"]
        if let tokenFile = profile["web_identity_token_file"], sourceProfile == nil, credentialSource == nil {
            return try webIdentity(
                tokenFile: tokenFile, roleARN: roleARN, sessionName: profile["role_session_name"], profile: profile,
                context: context, origin: "profile \(profile.name) (\(profile.origin))")
        }
        guard (sourceProfile == nil) != (credentialSource == nil) else {
            throw AWSProfileError(
                "profile \(profile.name) (\(profile.origin)) has role_arn and must have exactly one of "
                    + "source_profile and credential_source")
        }
        var durationSeconds: Int?
        if let text = profile["duration_seconds"] {
            guard let value = Int(text), (900...43_200).contains(value) else {
                throw AWSProfileError(
                    "profile \(profile.name) (\(profile.origin)): duration_seconds must be 900 to 43200")
            }
            durationSeconds = value
        }
        let source: ResolvedCredentialProvider
        if let sourceProfile {
            let chain = visited + [profile.name]
            if sourceProfile == profile.name,
                let keys = try ProfileKeysCredentialSource.credentials(in: profile, provider: "profile")
            {
                // A profile may name itself as source when it also holds keys, as botocore allows.
                source = ResolvedCredentialProvider(
                    provider: StaticCredentialProvider(keys, name: "profile"), source: "profile \(profile.name) keys")
            } else {
                guard !chain.contains(sourceProfile) else {
                    throw AWSProfileError(
                        "source_profile loop: " + (chain + [sourceProfile]).joined(separator: " -> "))
                }
                let next = try shared.profile(sourceProfile)
                if next["role_arn"] != nil {
                    source = try assumeRole(profile: next, shared: shared, context: context, visited: chain)
                } else if let keys = try ProfileKeysCredentialSource.credentials(in: next, provider: "profile") {
                    source = ResolvedCredentialProvider(
                        provider: StaticCredentialProvider(keys, name: "profile"),
                        source: "profile \(next.name) keys")
                } else if let process = try processProvider(next, context) {
                    source = process
                } else {
                    throw AWSProfileError(
                        "source_profile \(sourceProfile) of profile \(profile.name) has no credentials")
                }
            }
        } else {
            source = try credentialSourceProvider(credentialSource!, profile: profile, context: context)
        }
        let request = AssumeRoleRequest(
            roleARN: roleARN,
            roleSessionName: profile["role_session_name"] ?? defaultSessionName(context),
            externalID: profile["external_id"],
            durationSeconds: durationSeconds)
        let sts = try stsClient(credentials: source.provider, profile: profile, context: context)
        let assume = AssumeRoleCredentialSource(request: request, sts: sts, clock: context.clock)
        return ResolvedCredentialProvider(
            provider: refreshing("assume-role", context) { try await assume.fetch() },
            source: "role \(roleARN) of profile \(profile.name), assumed with \(source.source)")
    }

    static func credentialSourceProvider(
        _ name: String,
        profile: AWSProfile,
        context: AWSCredentialChainContext
    ) throws -> ResolvedCredentialProvider {
        switch name {
        case "Environment":
            let environment = EnvironmentCredentialProvider(environment: context.environment)
            return ResolvedCredentialProvider(provider: environment, source: "credential_source Environment")
        case "Ec2InstanceMetadata":
            guard let imds = try instanceMetadataProvider(context) else {
                throw AWSProfileError(
                    "profile \(profile.name) uses credential_source Ec2InstanceMetadata but "
                        + "AWS_EC2_METADATA_DISABLED is true")
            }
            return ResolvedCredentialProvider(provider: imds.provider, source: "credential_source \(imds.source)")
        case "EcsContainer":
            guard let container = try containerProvider(context) else {
                throw AWSProfileError(
                    "profile \(profile.name) uses credential_source EcsContainer but neither "
                        + "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI nor AWS_CONTAINER_CREDENTIALS_FULL_URI is set")
            }
            return ResolvedCredentialProvider(
                provider: container.provider, source: "credential_source \(container.source)")
        default:
            throw AWSProfileError(
                "profile \(profile.name) (\(profile.origin)): credential_source \(name) is not one of Environment, "
                    + "Ec2InstanceMetadata, EcsContainer")
        }
    }

    /// The profile's `credential_process`, `nil` when it has none; a command line that cannot be split is an error
    /// now rather than on every refresh.
    static func processProvider(_ profile: AWSProfile, _ context: AWSCredentialChainContext) throws
        -> ResolvedCredentialProvider?
    {
        guard let command = profile["credential_process"] else { return nil }
        _ = try ProcessCredentialSource.split(command).get()
        let source = ProcessCredentialSource(commandLine: command, profileName: profile.name)
        return ResolvedCredentialProvider(
            provider: refreshing("process", context) { try await source.fetch() },
            source: "credential_process of profile \(profile.name)")
    }

    /// Container credentials when the environment names an endpoint.
    static func containerProvider(_ context: AWSCredentialChainContext) throws -> ResolvedCredentialProvider? {
        guard
            let container = try ContainerCredentialSource.fromEnvironment(
                context.environment, transport: context.client.localTransport)
        else { return nil }
        return ResolvedCredentialProvider(
            provider: refreshing("container", context) { try await container.fetch() },
            source: "container endpoint \(ContainerCredentialSource.redacted(container.url))")
    }

    /// EC2 instance metadata unless the environment turns it off.
    static func instanceMetadataProvider(_ context: AWSCredentialChainContext) throws -> ResolvedCredentialProvider? {
        guard
            let imds = try InstanceMetadataCredentialSource.fromEnvironment(
                context.environment, transport: context.client.localTransport)
        else { return nil }
        return ResolvedCredentialProvider(
            provider: refreshing("imds", context) { try await imds.fetch() },
            source: "EC2 instance metadata at \(ContainerCredentialSource.redacted(imds.endpoint))")
    }

    static func webIdentity(
        tokenFile: String,
        roleARN: String,
        sessionName: String?,
        profile: AWSProfile?,
        context: AWSCredentialChainContext,
        origin: String
    ) throws -> ResolvedCredentialProvider {
        let sts = try stsClient(credentials: nil, profile: profile, context: context)
        let source = WebIdentityCredentialSource(
            tokenFile: tokenFile, roleARN: roleARN, roleSessionName: sessionName ?? defaultSessionName(context),
            sts: sts, clock: context.clock)
        return ResolvedCredentialProvider(
            provider: refreshing("web-identity", context) { try await source.fetch() },
            source: "web identity for \(roleARN) from \(origin), token file \(tokenFile)")
    }

    static func stsClient(
        credentials: (any AWSCredentialProvider)?,
        profile: AWSProfile?,
        context: AWSCredentialChainContext
    ) throws -> STSClient {
        let endpoint = try STSClient.endpoint(
            region: context.region, environment: context.environment, profileEndpointURL: profile?["endpoint_url"],
            variants: context.endpointVariants)
        return STSClient(
            sender: context.client.sender(
                for: endpoint, credentials: credentials, observer: context.observers.requests))
    }

    static func refreshing(
        _ name: String,
        _ context: AWSCredentialChainContext,
        fetch: @escaping @Sendable () async throws -> AWSCredentials
    ) -> RefreshingCredentialProvider {
        RefreshingCredentialProvider(
            name: name, clock: context.clock, observer: context.observers.credentials, fetch: fetch)
    }
}

/// Resolves the chain on first use and again after a failure, so that a configuration fixed while the program
/// runs is picked up without a restart, and a broken one costs a collection, never the process.
public actor ResolvingCredentialProvider: AWSCredentialProvider {
    /// The name the chain's own failures are reported under.
    public static let providerName = "chain"
    public nonisolated let name = ResolvingCredentialProvider.providerName
    private let resolve: @Sendable () throws -> ResolvedCredentialProvider
    private let onResolved: @Sendable (ResolvedCredentialProvider) -> Void
    private let onFailure: @Sendable (_ error: AWSCredentialsError, _ counted: Bool) -> Void
    private var resolved: ResolvedCredentialProvider?

    public init(
        resolve: @escaping @Sendable () throws -> ResolvedCredentialProvider,
        onResolved: @escaping @Sendable (ResolvedCredentialProvider) -> Void = { _ in },
        onFailure: @escaping @Sendable (_ error: AWSCredentialsError, _ counted: Bool) -> Void = { _, _ in }
    ) {
        self.resolve = resolve
        self.onResolved = onResolved
        self.onFailure = onFailure
    }

    /// The chosen provider, resolving it if that has not happened yet.
    ///
    /// - Parameter counted: `false` for the startup probe, which only logs, so that one broken file is counted once
    ///   per call that needed it, not once more at startup.
    public func current(counted: Bool = true) throws -> ResolvedCredentialProvider {
        if let resolved { return resolved }
        do {
            let fresh = try resolve()
            resolved = fresh
            onResolved(fresh)
            return fresh
        } catch {
            // Whatever the cause (a config file, a profile, an environment variable), it is the chain's failure.
            let failure = AWSCredentialsError(provider: Self.providerName, message: String(describing: error))
            onFailure(failure, counted)
            throw failure
        }
    }

    public func credentials() async throws -> AWSCredentials {
        try await current().provider.credentials()
    }
}

extension AWSCredentialChain {
    /// Checks every variable the chain reads as a URL or a mode (container and instance metadata endpoints, STS
    /// endpoint and `AWS_STS_REGIONAL_ENDPOINTS`), so that a bad value fails at startup, naming the variable, rather
    /// than on each refresh.
    public static func validateEnvironment(
        _ environment: [String: String], region: String, variants: AWSEndpointVariants
    ) throws {
        struct NotSent: AWSHTTPTransport {
            func send(_ request: AWSHTTPRequest, timeout: Duration) async throws -> AWSHTTPResponse {
                throw AWSTransportError.invalidRequest("validation only")
            }
        }
        _ = try ContainerCredentialSource.fromEnvironment(environment, transport: NotSent())
        _ = try InstanceMetadataCredentialSource.fromEnvironment(environment, transport: NotSent())
        _ = try STSClient.endpoint(region: region, environment: environment, variants: variants)
    }
}
