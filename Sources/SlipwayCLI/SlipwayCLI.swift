public enum SlipwayCommand { public static func main() async {} }
