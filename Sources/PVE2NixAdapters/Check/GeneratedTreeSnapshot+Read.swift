import Foundation
import PVE2NixRuntime

extension GeneratedTreeSnapshot {
    /// The generated tree at `directory` as `check` needs it: its networkd units, its `.nix` files
    /// and the files that are missing or changed since pve2nix wrote them.
    public static func read(directory: String) -> GeneratedTreeSnapshot {
        let root = URL(fileURLWithPath: directory)
        let fm = FileManager.default
        guard fm.fileExists(atPath: root.path) else {
            return GeneratedTreeSnapshot(directory: directory, units: [:], nixFiles: [], changedFiles: [], exists: false)
        }
        let unitsDir = root.appendingPathComponent("networkd")
        var units: [String: String] = [:]
        for name in (try? fm.contentsOfDirectory(atPath: unitsDir.path)) ?? [] where !name.hasPrefix(".") {
            if let text = try? String(contentsOf: unitsDir.appendingPathComponent(name), encoding: .utf8) { units[name] = text }
        }
        var nix: [String] = []
        if let walker = fm.enumerator(atPath: root.path) {
            while nix.count < 10_000, let path = walker.nextObject() as? String {
                if path.hasSuffix(".nix"), !path.split(separator: "/").contains(where: { $0.hasPrefix(".") }) { nix.append(root.appendingPathComponent(path).path) }
            }
        }
        var snapshot = GeneratedTreeSnapshot(directory: directory, units: units, nixFiles: nix.sorted(), changedFiles: GeneratedTreeWriter.manifestMismatches(in: root))
        snapshot.hasManifest = fm.fileExists(atPath: root.appendingPathComponent(GeneratedTreeWriter.manifestName).path)
        snapshot.disko = try? String(contentsOf: root.appendingPathComponent("disko.nix"), encoding: .utf8)
        return snapshot
    }
}
