import AWSClient
import Logging

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A flag, environment variable or file value that cannot be used; the message names it.
package struct ExporterConfigurationError: Error, Sendable, CustomStringConvertible {
    package let message: String
    package init(_ message: String) { self.message = message }
    package var description: String { message }
}

/// Everything the exporter needs, resolved from flags, the environment and `--config.file`, and checked once at
/// startup; nested by concern, as YACE's configuration is. Each setting lives in one place: without a
/// configuration file, the flags define a one-target `targets`, collected by the same code as a file's.
package struct ExporterConfiguration: Sendable {
    /// The HTTP server: where it listens, what it serves, and to whom.
    package struct Web: Sendable {
        package var listenAddress: ListenAddress
        package var telemetryPath: String
        /// `--web.max-connections`.
        package var maxConnections: Int = 64
        /// `--web.read-timeout`.
        package var readTimeout: Duration = .seconds(65)
        /// `--web.config.file`: TLS and basic authentication; `nil` serves plain HTTP to anyone.
        package var configFile: String?
        /// `--web.enable-lifecycle`: whether `POST /-/reload` reloads (otherwise it is refused with 403).
        package var enableLifecycle: Bool = false
    }

    /// How AWS is called: endpoints, identity, pages, retries and connections.
    package struct AWS: Sendable {
        package var endpoint: AWSServiceEndpoint
        /// Whether `endpoint` was given (flag, variable or profile) rather than derived from the region: a given
        /// one serves every region of the configuration file.
        package var endpointIsCustom: Bool = false
        /// Where the default target learns its account (STS `GetCallerIdentity`) when `--aws.role-arn` does not
        /// name it, and where roles are assumed.
        package var stsEndpoint: AWSServiceEndpoint
        /// FIPS and dual-stack endpoints, for sso-admin and STS alike.
        package var endpointVariants: AWSEndpointVariants
        /// `--aws.profile`; `nil` leaves the choice to `AWS_PROFILE` and `AWS_DEFAULT_PROFILE`.
        package var profile: String?
        /// `--aws.role-arn` with its external ID and session name; assumed on top of the default chain.
        package var assumeRole: AssumeRoleOptions?
        package var pageSize: Int
        /// `AWS_MAX_ATTEMPTS`.
        package var maxAttempts: Int
        package var connectTimeout: Duration
        package var requestTimeout: Duration
        /// `HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY` for AWS calls.
        package var proxy: ProxySettings = ProxySettings()
    }

    /// What the flags say of collections, whatever the targets' source.
    package struct Collection: Sendable {
        /// `--collect.timeout`: an on-scrape collection's deadline when the scrape announces none.
        package var timeout: Duration
        /// `--collect.min-interval`: on scrape, a collection younger than this is reused.
        package var minInterval: Duration
        /// `collection.instance_details` when the file gives it, else `--collect.instance-details`: whether a
        /// collection also describes the instances its account owns.
        package var instanceDetails: Bool = true
    }

    package struct Log: Sendable {
        package var level: Logger.Level
        package var format: LogFormat
    }

    package var web: Web
    package var aws: AWS
    package var collection: Collection
    package var log: Log
    /// What to collect and how: `--config.file`'s targets and discovery, or the one target the flags define.
    package var targets: TargetsConfiguration
    /// `--config.file`, where `targets` was read from (and is reloaded from); `nil` when the flags define them.
    package var configFile: String?
    /// What is usable but probably a mistake (a region the partition data does not list), logged at startup.
    package var warnings: [String] = []

    /// `--aws.role-arn`, `--aws.external-id` and `--aws.role-session-name`.
    package struct AssumeRoleOptions: Sendable, Equatable {
        package var roleARN: String
        package var externalID: String?
        package var roleSessionName: String?

        package init(roleARN: String, externalID: String? = nil, roleSessionName: String? = nil) {
            self.roleARN = roleARN
            self.externalID = externalID
            self.roleSessionName = roleSessionName
        }

        /// The account in the role's ARN (checked to be 12 digits at startup).
        package var accountID: String {
            let parts = roleARN.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
            return parts.count == 6 ? String(parts[4]) : ""
        }
    }

    package static let reservedPaths: Set<String> = ["/-/healthy", "/-/ready"]

    /// The AWS client's configuration: connections (`--aws.connect-timeout`, the proxy environment, a pool as
    /// large as the fan-out), `--aws.request-timeout`, `AWS_MAX_ATTEMPTS`, and the exporter's clock and logger.
    package func awsClient(clock: AWSClock = .continuous, logger: Logger) -> AWSClientConfiguration {
        AWSClientConfiguration(
            userAgent: BuildInfo.userAgent,
            transport: .init(maxConnectionsPerHost: max(8, targets.maxConcurrency), proxy: aws.proxy),
            timeout: .init(connect: aws.connectTimeout, request: aws.requestTimeout),
            retry: .init(maxAttempts: aws.maxAttempts), clock: clock, logger: logger)
    }

    /// `--web.telemetry-path` as the router will match it: the router ignores empty segments (`/sd/` and `//sd` are
    /// `/sd`) and reads `:name`, `{name}` and `*` as patterns, so a path is compared in that form and may only hold
    /// plain segments; a path that lands on another endpoint would make the router refuse to start.
    static func telemetryPath(_ given: String) throws -> String {
        let quoted = ConfigurationText.quoted(String(given.prefix(256)))
        let segments = given.split(separator: "/")
        // Bytes, not Characters: Character equality is canonical equivalence, under which U+212A KELVIN SIGN is K.
        let plain = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~".utf8)
        guard given.hasPrefix("/"), given.utf8.count <= 1024,
            segments.allSatisfy({ $0 != "." && $0 != ".." && $0.utf8.allSatisfy(plain.contains) })
        else {
            throw ExporterConfigurationError(
                "--web.telemetry-path: \(quoted) must be a path starting with /, of segments made of letters, digits and - . _ ~"
            )
        }
        let path = "/" + segments.joined(separator: "/")
        guard path != "/", !reservedPaths.contains(path), !["/probe", "/sd", "/-/reload"].contains(path) else {
            throw ExporterConfigurationError("--web.telemetry-path: \(quoted) is taken by another endpoint")
        }
        return path
    }

    /// Resolves and validates; every error names the flag or variable at fault.
    package static func resolve(
        _ options: ExporterOptions,
        environment: [String: String],
        readFile: (String) throws -> String? = AWSSharedConfiguration.readFileIfPresent
    ) throws -> ExporterConfiguration {
        let listenAddress = try ListenAddress(parsing: options.listenAddress)
        let path = try telemetryPath(options.telemetryPath)
        if let file = options.webConfigFile, file.isEmpty {
            throw ExporterConfigurationError("--web.config.file: the path is empty")
        }
        guard (1...1_000_000).contains(options.maxConnections) else {
            throw ExporterConfigurationError(
                "--web.max-connections: \(options.maxConnections) is outside 1..1000000")
        }
        guard SSOAdminClient.maxResultsRange.contains(options.pageSize) else {
            throw ExporterConfigurationError("--aws.page-size: \(options.pageSize) is outside 1..100")
        }
        let region: String
        let regionSource: String
        let endpoint: AWSServiceEndpoint
        let stsEndpoint: AWSServiceEndpoint
        let endpointIsCustom: Bool
        var targets: TargetsConfiguration?
        if let file = options.configFile {
            guard !file.isEmpty else { throw ExporterConfigurationError("--config.file: the path is empty") }
            do {
                targets = try TargetsConfiguration.load(path: file)
            } catch {
                throw ExporterConfigurationError("--config.file: \(error)")
            }
        }
        let variants = try resolveVariants(options, environment: environment)
        do {
            // The active profile is read only when a setting is not given by flag or variable, so that a broken
            // config file cannot stop an exporter configured without it.
            var sharedProfile: AWSProfile??
            func activeProfile() throws -> AWSProfile? {
                if let sharedProfile { return sharedProfile }
                do {
                    let shared = try AWSSharedConfiguration(
                        environment: environment, profile: options.profile, readFile: readFile)
                    let profile = try shared.activeProfile()
                    sharedProfile = .some(profile)
                    return profile
                } catch let error as AWSConfigFileError {
                    throw AWSConfigurationError("the config file is unusable: \(error)")
                } catch let error as AWSProfileError {
                    throw AWSConfigurationError("\(error)")
                }
            }
            (region, regionSource) = try AWSEndpointResolver.resolveRegionAndSource(
                explicit: options.region, explicitSource: "--aws.region", environment: environment
            ) {
                if let profile = try activeProfile(), let region = profile["region"] {
                    return (region, "profile \(profile.name) (\(profile.origin))")
                }
                // With a configuration file, its first region is where STS calls go when nothing else says.
                return targets.flatMap { $0.targets.first?.regions.first ?? $0.discovery?.regions?.first }
                    .map { ($0, "--config.file") }
            }
            let explicitEndpoint = [
                options.endpointURL, environment["AWS_ENDPOINT_URL_\(SSOAdminClient.endpointEnvironmentName)"],
                environment["AWS_ENDPOINT_URL"],
            ].contains { !($0 ?? "").isEmpty }
            // A missing or broken profile is not fatal here: the credential chain reports it, with file and line, on
            // every scrape until it is fixed, and the exporter keeps serving meanwhile.
            let profileEndpoint = explicitEndpoint ? nil : (try? activeProfile()) ?? nil
            endpointIsCustom = explicitEndpoint || profileEndpoint?["endpoint_url"] != nil
            endpoint = try AWSEndpointResolver.resolveEndpoint(
                endpointPrefix: SSOAdminClient.endpointPrefix,
                serviceEnvironmentName: SSOAdminClient.endpointEnvironmentName,
                signingName: SSOAdminClient.signingName,
                region: region,
                explicit: options.endpointURL,
                explicitSource: "--aws.endpoint-url",
                environment: environment,
                profileEndpoint: profileEndpoint.flatMap { profile in
                    profile["endpoint_url"].map { ($0, "endpoint_url of profile \(profile.name) (\(profile.origin))") }
                },
                variants: variants,
                rules: SSOAdminClient.endpointRules
            )
            let explicitSTSEndpoint = ["AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"].contains {
                !(environment[$0] ?? "").isEmpty
            }
            stsEndpoint = try STSClient.endpoint(
                region: region, environment: environment,
                profileEndpointURL: explicitSTSEndpoint ? nil : ((try? activeProfile()) ?? nil)?["endpoint_url"],
                variants: variants)
        } catch let error as AWSConfigurationError {
            throw ExporterConfigurationError(error.message)
        }
        var maxAttempts = 3
        if let text = environment["AWS_MAX_ATTEMPTS"], !text.isEmpty {
            guard let value = Int(text), (1...20).contains(value) else {
                throw ExporterConfigurationError("AWS_MAX_ATTEMPTS: \"\(text)\" is not a whole number from 1 to 20")
            }
            maxAttempts = value
        }
        if let mode = environment["AWS_RETRY_MODE"], !mode.isEmpty, mode != "standard" {
            throw ExporterConfigurationError("AWS_RETRY_MODE: only \"standard\" is supported, not \"\(mode)\"")
        }
        for (flag, value) in [
            ("--aws.connect-timeout", options.connectTimeout), ("--aws.request-timeout", options.requestTimeout),
            ("--collect.timeout", options.collectTimeout), ("--web.read-timeout", options.readTimeout),
        ] where value.duration <= .zero {
            throw ExporterConfigurationError("\(flag): must be greater than 0, not \(value)")
        }
        let assumeRole = try resolveAssumeRole(options)
        let proxy: ProxySettings
        do {
            proxy = try ProxySettings.fromEnvironment(environment)
            // Read again when the chain resolves; checked here too so a typo stops the exporter at startup with
            // exit 2 rather than failing every scrape.
            try AWSCredentialChain.validateEnvironment(environment, region: region, variants: variants)
        } catch let error as AWSConfigurationError {
            throw ExporterConfigurationError(error.message)
        }
        if let profile = options.profile, profile.isEmpty || profile.contains(where: { $0.isNewline || $0 == "]" }) {
            throw ExporterConfigurationError("--aws.profile: \"\(profile)\" is not a profile name")
        }
        if let accountID = options.accountID {
            guard options.configFile == nil else {
                throw ExporterConfigurationError(
                    "--aws.account-id: names the account of the flags' own target; with --config.file, give "
                        + "account_id: on each target without a role_arn instead")
            }
            guard AccountID.isValid(accountID) else {
                throw ExporterConfigurationError(
                    "--aws.account-id: \(ConfigurationText.quoted(accountID)) is not a 12-digit account ID")
            }
            if let assumeRole, assumeRole.accountID != accountID {
                throw ExporterConfigurationError(
                    "--aws.account-id: \(accountID) is not the account of --aws.role-arn (\(assumeRole.accountID))")
            }
        }
        let shard = try Self.resolveShard(options, file: targets?.discovery)
        let collection = Collection(
            timeout: options.collectTimeout.duration, minInterval: options.minInterval.duration,
            instanceDetails: targets?.instanceDetails ?? options.instanceDetails)
        var configuration = ExporterConfiguration(
            web: Web(
                listenAddress: listenAddress, telemetryPath: path, maxConnections: options.maxConnections,
                readTimeout: options.readTimeout.duration, configFile: options.webConfigFile,
                enableLifecycle: options.enableLifecycle),
            aws: AWS(
                endpoint: endpoint, endpointIsCustom: endpointIsCustom, stsEndpoint: stsEndpoint,
                endpointVariants: variants, profile: options.profile, assumeRole: assumeRole,
                pageSize: options.pageSize, maxAttempts: maxAttempts,
                connectTimeout: options.connectTimeout.duration, requestTimeout: options.requestTimeout.duration,
                proxy: proxy),
            collection: collection,
            log: Log(level: options.logLevel.level, format: options.logFormat),
            // The flags' target is the exporter's own identity: --aws.role-arn is assumed by the credential chain,
            // beneath every target, so that the target itself assumes nothing more.
            targets: targets
                ?? .flagsTarget(
                    region: region, accountID: assumeRole?.accountID ?? options.accountID,
                    timeout: collection.timeout),
            configFile: options.configFile
        )
        configuration.targets.shard = shard
        // A region taken from the configuration file is warned about there, with its line.
        let regionWarning =
            regionSource.hasSuffix("--config.file")
            ? nil : ConfigurationText.unlistedRegionWarning(region, key: regionSource)
        configuration.warnings =
            (regionWarning.map { [$0] } ?? []) + (targets?.warnings ?? []).map { "--config.file: \($0)" }
        if targets != nil {
            for region in Set(configuration.targets.targets.flatMap(\.regions)).sorted() {
                do {
                    _ = try configuration.endpoint(forRegion: region)
                } catch {
                    throw ExporterConfigurationError("--config.file: no sso-admin endpoint for \(error.message)")
                }
            }
        }
        return configuration
    }

    /// The sso-admin endpoint for a target in `region`: the given endpoint (signed for that region), else the
    /// region's own by the endpoint rules.
    package func endpoint(forRegion region: String) throws(ExporterConfigurationError) -> AWSServiceEndpoint {
        if region == aws.endpoint.region { return aws.endpoint }
        if aws.endpointIsCustom {
            return AWSServiceEndpoint(url: aws.endpoint.url, region: region, signingName: aws.endpoint.signingName)
        }
        do {
            let host = try SSOAdminClient.endpointRules.host(region: region, variants: aws.endpointVariants)
            return AWSServiceEndpoint(
                url: URL(string: "https://\(host)")!, region: region, signingName: SSOAdminClient.signingName)
        } catch {
            throw ExporterConfigurationError("\(region): \(error)")
        }
    }

    /// The flag when given, else the variable (`true` or `false`, as the SDKs accept), else off.
    static func resolveVariants(_ options: ExporterOptions, environment: [String: String]) throws
        -> AWSEndpointVariants
    {
        func setting(flag: Bool, flagName: String, variable: String) throws -> (Bool, String) {
            if flag { return (true, flagName) }
            guard let text = environment[variable], !text.isEmpty else { return (false, variable) }
            switch text.lowercased() {
            case "true": return (true, variable)
            case "false": return (false, variable)
            default: throw ExporterConfigurationError("\(variable): \"\(text)\" is neither true nor false")
            }
        }
        let fips = try setting(
            flag: options.useFIPSEndpoint, flagName: "--aws.use-fips-endpoint", variable: "AWS_USE_FIPS_ENDPOINT")
        let dualStack = try setting(
            flag: options.useDualStackEndpoint, flagName: "--aws.use-dualstack-endpoint",
            variable: "AWS_USE_DUALSTACK_ENDPOINT")
        return AWSEndpointVariants(
            useFIPS: fips.0, useDualStack: dualStack.0, fipsSource: fips.1, dualStackSource: dualStack.1)
    }

    /// The shard this replica collects: each flag wins over its key in the file, so that a pod index can come from
    /// the command line while every replica reads one file.
    static func resolveShard(_ options: ExporterOptions, file: TargetsConfiguration.Discovery?) throws
        -> ShardAssignment
    {
        let (count, countSource) =
            options.shardCount.map { ($0, "--discovery.shard.count") }
            ?? file?.shardCount.map { ($0, "discovery.organizations.shard.count in --config.file") } ?? (1, "")
        let (index, indexSource) =
            options.shardIndex.map { ($0, "--discovery.shard.index") }
            ?? file?.shardIndex.map { ($0, "discovery.organizations.shard.index in --config.file") }
            ?? (0, "--discovery.shard.index")
        guard (1...ShardAssignment.maxCount).contains(count) else {
            throw ExporterConfigurationError(
                "\(countSource): \(count) is outside 1..\(ShardAssignment.maxCount) (the number of replicas)")
        }
        guard let shard = ShardAssignment(index: index, count: count) else {
            throw ExporterConfigurationError(
                "\(indexSource): \(index) is outside 0..\(count - 1): with \(count) replica\(count == 1 ? "" : "s") "
                    + "(\(countSource.isEmpty ? "--discovery.shard.count not given" : countSource)), each takes one "
                    + "index from 0 to \(count - 1)")
        }
        return shard
    }

    static func resolveAssumeRole(_ options: ExporterOptions) throws -> AssumeRoleOptions? {
        guard let roleARN = options.roleARN else {
            for (flag, value) in [
                ("--aws.external-id", options.externalID), ("--aws.role-session-name", options.roleSessionName),
            ]
            where value != nil {
                throw ExporterConfigurationError("\(flag) needs --aws.role-arn")
            }
            return nil
        }
        return try checkedAssumeRole(
            roleARN: roleARN, externalID: options.externalID, roleSessionName: options.roleSessionName,
            names: ("--aws.role-arn", "--aws.external-id", "--aws.role-session-name"))
    }

    /// A role to assume, checked; errors name the setting through `names` (flags, or keys of the config file).
    static func checkedAssumeRole(
        roleARN: String, externalID: String?, roleSessionName: String?,
        names: (roleARN: String, externalID: String, roleSessionName: String)
    ) throws(ExporterConfigurationError) -> AssumeRoleOptions {
        let parts = roleARN.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0] == "arn", parts[2] == "iam", parts[4].count == 12,
            parts[4].allSatisfy(\.isNumber), parts[5].hasPrefix("role/"), parts[5].count > 5
        else {
            throw ExporterConfigurationError(
                "\(names.roleARN): \(ConfigurationText.quoted(roleARN)) is not an IAM role ARN (arn:aws:iam::123456789012:role/name)"
            )
        }
        if let externalID {
            guard (2...1224).contains(externalID.count),
                externalID.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+=,.@:/-_".contains($0)) })
            else {
                throw ExporterConfigurationError(
                    "\(names.externalID): must be 2 to 1224 characters of letters, digits and +=,.@:/-_")
            }
        }
        if let name = roleSessionName {
            guard (2...64).contains(name.count),
                name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+=,.@-_".contains($0)) })
            else {
                throw ExporterConfigurationError(
                    "\(names.roleSessionName): \(ConfigurationText.quoted(name)) must be 2 to 64 characters of letters, digits and +=,.@-_"
                )
            }
        }
        return AssumeRoleOptions(roleARN: roleARN, externalID: externalID, roleSessionName: roleSessionName)
    }
}
