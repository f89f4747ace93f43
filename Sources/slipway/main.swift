import SlipwayCLI
await SlipwayCommand.main()
