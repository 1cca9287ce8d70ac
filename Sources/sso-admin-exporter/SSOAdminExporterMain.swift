import SSOAdminExporter

@main
enum SSOAdminExporterMain {
    static func main() async {
        ExporterCommand.prepareProcess()
        await ExporterCommand.runFromCommandLine()
    }
}
