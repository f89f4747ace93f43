/// A first-in, first-out queue over one array that pops from the front in O(1) and can remove from the middle.
///
/// Admission and batching keep their waiters here. Popping advances a head index instead of shifting the
/// array; the consumed prefix is dropped once it is at least half the storage, so a queue that fills and
/// drains over and over reuses its allocation.
struct FIFOQueue<Element> {
    private var storage: [Element] = []
    private var head = 0

    var count: Int { storage.count - head }
    var isEmpty: Bool { head == storage.count }
    var first: Element? { isEmpty ? nil : storage[head] }

    /// The element `offset` places behind the front.
    subscript(offset: Int) -> Element {
        get { storage[head + offset] }
        set { storage[head + offset] = newValue }
    }

    mutating func append(_ element: Element) {
        storage.append(element)
    }

    mutating func popFirst() -> Element? {
        guard head < storage.count else { return nil }
        let element = storage[head]
        head += 1
        compact()
        return element
    }

    /// Removes and returns the first element matching `predicate`, keeping the others in order.
    mutating func removeFirst(where predicate: (Element) -> Bool) -> Element? {
        guard let index = storage[head...].firstIndex(where: predicate) else { return nil }
        let element = storage.remove(at: index)
        compact()
        return element
    }

    private mutating func compact() {
        if head == storage.count {
            storage.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 32, head * 2 >= storage.count {
            storage.removeFirst(head)
            head = 0
        }
    }
}
