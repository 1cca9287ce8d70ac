import AWSClient
import ArgumentParser
import Foundation
import Logging

/// The `sso-admin-exporter` command.
public struct ExporterCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sso-admin-exporter",
        abstract: "Prometheus exporter for AWS IAM Identity Center (sso-admin ListInstances).",
        version: BuildInfo.version
    )

    @OptionGroup public var options: ExporterOptions

    public init() {}

    public func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let configuration: ExporterConfiguration
        do {
            configuration = try ExporterConfiguration.resolve(options, environment: environment)
        } catch let error as ExporterConfigurationError {
            throw ValidationError(error.message)
        }
        let level = configuration.logLevel
        let format = configuration.logFormat
        LoggingSystem.bootstrap { label in ExporterLogHandler(label: label, level: level, format: format) }
        let logger = Logger(label: "sso-admin-exporter")
        let credentials = EnvironmentCredentialProvider(environment: environment)
        logger.info(
            "starting sso-admin-exporter",
            metadata: [
                "version": "\(BuildInfo.version)",
                "listen_address": "\(configuration.listenAddress)",
                "region": "\(configuration.endpoint.region)",
                "endpoint": "\(configuration.endpoint.url.absoluteString)",
                "credentials": "\(credentials.isConfigured ? credentials.name : "none (set AWS_ACCESS_KEY_ID)")",
            ]
        )
        try await ExporterApplication(configuration: configuration, credentialProvider: credentials, logger: logger)
            .run()
    }

    /// Parses, runs and exits; usage and configuration errors exit with status 2 as Prometheus exporters do.
    public static func runFromCommandLine(_ arguments: [String] = Array(CommandLine.arguments.dropFirst())) async {
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                exit(withError: error)
            }
            let message = fullMessage(for: error)
            FileHandle.standardError.write(Data("sso-admin-exporter: \(message)\n".utf8))
            if code == .validationFailure {
                Foundation.exit(2)
            }
            Foundation.exit(code == .failure ? 1 : code.rawValue)
        }
    }
}
