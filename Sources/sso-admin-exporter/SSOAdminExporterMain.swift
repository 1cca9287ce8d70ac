import SSOAdminExporter

@main
enum SSOAdminExporterMain {
    static func main() async {
        await ExporterCommand.runFromCommandLine()
    }
}
