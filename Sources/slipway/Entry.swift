import SlipwayCLI

@main
enum Entry {
    static func main() async {
        await SlipwayCommand.main()
    }
}
