#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The settings of one profile, merged from the config file and the credentials file (the latter wins, as in
/// botocore).
public struct AWSProfile: Sendable, Equatable {
    public let name: String
    public let values: [String: String]
    /// Where each value came from, as `path line N`, for error messages.
    public let origin: String

    public subscript(key: String) -> String? {
        guard let value = values[key], !value.isEmpty else { return nil }
        return value
    }
}

/// A profile setting that is missing or unusable; names the profile and the files, never a value.
public struct AWSProfileError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// `~/.aws/config` and `~/.aws/credentials` as the AWS CLI finds and reads them.
///
/// Files are read when this value is made: build a new one to pick up edits (the credential providers do so on each
/// refresh, so a fixed file is picked up without a restart).
public struct AWSSharedConfiguration: Sendable {
    /// The profile the caller names, else `AWS_PROFILE`, else `AWS_DEFAULT_PROFILE`, else `default`.
    public let profileName: String
    /// Whether the profile was chosen explicitly, in which case a missing profile is an error, not an empty one.
    public let profileIsExplicit: Bool
    public let configPath: String
    public let credentialsPath: String
    private let configProfiles: [String: AWSConfigSection]
    private let credentialProfiles: [String: AWSConfigSection]

    /// Reads both files. A file that does not exist is empty; one that cannot be read or parsed is an error that
    /// names it.
    public init(
        environment: [String: String],
        profile: String? = nil,
        readFile: (String) throws -> String? = AWSSharedConfiguration.readFileIfPresent
    ) throws {
        let explicit = Self.explicitProfileName(profile, environment: environment)
        profileName = explicit ?? "default"
        profileIsExplicit = explicit != nil
        let home = environment["HOME"] ?? ""
        configPath = Self.expandHome(environment["AWS_CONFIG_FILE"] ?? "~/.aws/config", home: home)
        credentialsPath = Self.expandHome(
            environment["AWS_SHARED_CREDENTIALS_FILE"] ?? "~/.aws/credentials", home: home)

        var config: [String: AWSConfigSection] = [:]
        if let text = try readFile(configPath) {
            for section in try AWSConfigFileParser.parse(text, path: configPath) {
                // botocore reads `[default]` and `[profile x]` as profiles in the config file; other sections
                // (`sso-session`, `services`) are not profiles.
                if section.header == "default" {
                    config["default"] = config["default"] ?? section
                } else if section.header.hasPrefix("profile ") || section.header.hasPrefix("profile\t") {
                    let name = String(section.header.dropFirst(8).trimmingASCIIWhitespace())
                    // `[profile default]` beats `[default]`, as in botocore.
                    if !name.isEmpty { config[name] = section }
                }
            }
        }
        var credentials: [String: AWSConfigSection] = [:]
        if let text = try readFile(credentialsPath) {
            for section in try AWSConfigFileParser.parse(text, path: credentialsPath) {
                credentials[section.header] = section
            }
        }
        configProfiles = config
        credentialProfiles = credentials
    }

    /// Whether either file has a profile by this name.
    public func hasProfile(_ name: String) -> Bool {
        configProfiles[name] != nil || credentialProfiles[name] != nil
    }

    /// The merged settings of `name`; an unknown profile is an error when it was asked for by name.
    public func profile(_ name: String) throws -> AWSProfile {
        let config = configProfiles[name]
        let credentials = credentialProfiles[name]
        guard config != nil || credentials != nil else {
            throw AWSProfileError(
                "profile \(name) is not in \(configPath) or \(credentialsPath)")
        }
        var values = config?.values ?? [:]
        values.merge(credentials?.values ?? [:]) { _, fromCredentials in fromCredentials }
        let origins = [
            config.map { "\(configPath) line \($0.line)" }, credentials.map { "\(credentialsPath) line \($0.line)" },
        ].compactMap { $0 }
        return AWSProfile(name: name, values: values, origin: origins.joined(separator: " and "))
    }

    /// The profile as one file alone has it, `nil` when that file has no such profile.
    public func profile(_ name: String, in file: File) -> AWSProfile? {
        let (sections, path) =
            file == .config ? (configProfiles, configPath) : (credentialProfiles, credentialsPath)
        guard let section = sections[name] else { return nil }
        return AWSProfile(name: name, values: section.values, origin: "\(path) line \(section.line)")
    }

    /// The two shared files.
    public enum File: Sendable {
        case config, credentials
    }

    /// The active profile, or `nil` when it is `default` by default and neither file has it.
    public func activeProfile() throws -> AWSProfile? {
        if !profileIsExplicit && !hasProfile(profileName) { return nil }
        return try profile(profileName)
    }

    /// The profile in use: `explicit` (the flag), else `AWS_PROFILE`, else `AWS_DEFAULT_PROFILE`, else `default`.
    public static func profileName(explicit: String?, environment: [String: String]) -> String {
        explicitProfileName(explicit, environment: environment) ?? "default"
    }

    static func explicitProfileName(_ explicit: String?, environment: [String: String]) -> String? {
        [explicit, environment["AWS_PROFILE"], environment["AWS_DEFAULT_PROFILE"]].compactMap { $0 }.first {
            !$0.isEmpty
        }
    }

    /// The file's text, `nil` if there is no such file; other failures (permissions, a directory, bytes that are
    /// not UTF-8, named by line) throw.
    @Sendable public static func readFileIfPresent(_ path: String) throws -> String? {
        guard !path.isEmpty else { return nil }
        let bytes: Data
        do {
            bytes = try Data(contentsOf: URL(filePath: path))
        } catch let error as CocoaError where error.code == .fileReadNoSuchFile {
            return nil
        } catch {
            throw AWSProfileError("cannot read \(path): \(Self.reason(error))")
        }
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        let line =
            bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            .firstIndex { String(validating: $0, as: UTF8.self) == nil }.map { $0 + 1 } ?? 1
        throw AWSProfileError("cannot read \(path): line \(line) is not UTF-8 text")
    }

    static func expandHome(_ path: String, home: String) -> String {
        guard path == "~" || path.hasPrefix("~/") else { return path }
        return home + path.dropFirst()
    }

    private static func reason(_ error: any Error) -> String {
        if let cocoa = error as? CocoaError {
            switch cocoa.code {
            case .fileReadNoPermission: return "permission denied"
            case .fileReadInapplicableStringEncoding: return "not UTF-8 text"
            default: break
            }
        }
        return String(describing: error)
    }
}
